"""Re-scoring a trained run without retraining: any checkpoint, other eval settings, one or two processes."""

import json
from pathlib import Path

import pytest
import torch

from harness.commands.rescore import main as eval_main
from harness.config import build_config
from harness.training.trainer import train
from tests.launch import CPU_DDP, launch, run_folder, tiny_run
from tests.wandb_files import offline_runs, read_records

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(digits_shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    overrides = [*tiny_run(digits_shards.parent, root), "log.wandb=offline", "eval.fid_samples=300",
                 "train.ckpt_every=2", "train.keep_checkpoints=3", "log.checkpoint_artifacts=true"]  # fmt: skip
    result = train(build_config("digits", overrides))
    folder = run_folder(root)
    # the earlier checkpoints get generator states as a GPU's (re-scoring needs none); the latest stays the file the
    # training run logged as its checkpoint artifact
    for ckpt in sorted((folder / "checkpoints").glob("step-*.pt"))[:-1]:
        state = torch.load(ckpt, weights_only=True)
        state["rng"] = [torch.zeros(16, dtype=torch.uint8)]
        torch.save(state, ckpt)
    return folder, result


def _records(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("eval-*.json"))]


def test_a_finished_run_is_rescored_with_new_eval_settings_into_its_own_record(trained, capsys):
    folder, result = trained
    summary_before = (folder / "summary.json").read_text()
    assert eval_main([str(folder), "eval.fid_samples=500", "eval.kmeans_seeds=2", "log.progress=false"]) == 0
    (record,) = _records(folder)
    summary = json.loads(summary_before)
    assert (folder / "summary.json").read_text() == summary_before  # the training result is left alone
    assert record["kind"] == "eval" and record["step"] == 4 and record["run_hash"] == summary["run_hash"]
    assert record["identity"]["eval"]["eval.fid_samples"] == 500 and record["result_key"] != summary["result_key"]
    assert {k: v for k, v in record["identity"].items() if k != "eval"} == {
        k: v for k, v in summary["identity"].items() if k != "eval"
    }
    assert record["metrics"]["eval/acc"] == pytest.approx(result["eval/acc"], abs=0.2)
    out = capsys.readouterr().out
    assert "eval/fid_domain" in record["metrics"] and "class features + k-means" in out
    assert (folder / f"eval-{record['eval_hash']}-step4.json").is_file()  # the file is named by the hash inside it
    train_run, eval_run = offline_runs(folder)  # the training run and the eval run
    assert f"W&B (offline): wandb sync {eval_run}\n" in out

    def wandb_facts(run_folder):
        records = read_records(run_folder)
        (run,) = [r["run"] for r in records if r.get("type") == "run"]
        return run, [r["artifact"] for r in records if r.get("type") == "artifact"]

    (trained_run, logged), (scoring_run, used) = wandb_facts(train_run), wandb_facts(eval_run)
    assert scoring_run["job_type"] == "eval" and scoring_run["run_group"] == trained_run["run_group"]
    ckpt = [a for a in logged if a["type"] == "checkpoint"]
    (use,) = [a for a in used if a["type"] == "checkpoint"]
    assert use["name"] == ckpt[0]["name"] == f"checkpoint-{folder.name}" and use["use_after_commit"]
    assert use["digest"] == ckpt[0]["digest"]  # the very checkpoint artifact the training run logged


def test_an_earlier_checkpoint_and_refusals(trained, capsys):
    folder, _ = trained
    ckpt = folder / "checkpoints" / "step-00000002.pt"
    assert eval_main([str(ckpt), "eval.quality=[]", "log.wandb=disabled", "log.progress=false"]) == 0
    assert any(r["step"] == 2 for r in _records(folder))
    assert eval_main([str(folder), "codegan.beta_c=3"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"codegan-eval {folder}: codegan.beta_c would change what was trained" in line and "--resume" not in line
    assert eval_main([str(folder), "train.steps=9"]) == 2
    assert "train.steps is not an evaluation setting" in capsys.readouterr().err
    assert eval_main([str(folder / "nope")]) == 2


def test_an_evaluation_that_cannot_compute_what_it_asks_for_fails_and_writes_nothing(trained, tmp_path, capsys):
    folder, _ = trained
    before = sorted(p.name for p in folder.iterdir())
    args = [str(folder), "eval.quality=[inception]", f"eval.inception_weights={tmp_path / 'gone.pt'}"]
    assert eval_main([*args, "log.wandb=disabled", "log.progress=false"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: eval/*_inception (eval.quality) cannot be computed: eval.inception_weights=")
    assert sorted(p.name for p in folder.iterdir()) == before  # no eval record without its FID
    two = launch(["-m", "harness.commands.rescore", *args, "log.wandb=disabled"], accelerate=CPU_DDP, module=True,
                 timeout=240, OMP_NUM_THREADS="1")  # every rank stops; none waits for the others  # fmt: skip
    assert two.returncode != 0 and "eval/*_inception (eval.quality) cannot be computed" in two.stderr
    assert sorted(p.name for p in folder.iterdir()) == before


def test_two_processes_measure_the_same_fid_as_one(trained):
    folder, _ = trained
    common = [str(folder), "eval.fid_samples=700", "eval.batch_size=200", "log.progress=false"]
    one = launch(["-m", "harness.commands.rescore", *common, "log.wandb=offline"], accelerate=[], module=True)
    two = launch(["-m", "harness.commands.rescore", *common, "log.wandb=disabled"], accelerate=CPU_DDP, module=True,
                 OMP_NUM_THREADS="1")  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    synced = Path(one.stdout.split("W&B (offline): wandb sync ")[1].split()[0])
    assert "wrote" in (synced / "files" / "output.log").read_text()  # the console is captured into the W&B run
    records = [r for r in _records(folder) if r["identity"]["eval"]["eval.fid_samples"] == 700]
    assert len(records) == 1  # the same result identity: the second process count wrote the same record
    fids = [float(line.split("FID_DOMAIN ")[1].split()[0]) for line in (one.stdout, two.stdout)]
    assert fids[0] == pytest.approx(fids[1], rel=1e-6)


def test_training_further_keeps_the_earlier_result_as_its_own_record(digits_shards, tmp_path):
    from harness.runs.results import load_records

    overrides = [*tiny_run(digits_shards.parent, tmp_path), "eval.quality=[]", "eval.pixel_baseline=false"]
    train(build_config("digits", overrides))
    train(build_config("digits", [*overrides, "train.steps=6"]))
    records = load_records([tmp_path])
    assert sorted(r.identity["step"] for r in records) == [4, 6]
    assert len({r.key for r in records}) == 2 and len({r.run_hash for r in records}) == 1


def test_the_wandb_group_of_a_run_holds_the_seeds_of_its_config_and_nothing_else(trained, tmp_path):
    from harness.runs.track import seed_group

    folder, _ = trained

    def group_of(run_folder):
        records = read_records(offline_runs(run_folder)[0])
        return next(r["run"]["run_group"] for r in records if r.get("type") == "run")

    saved = folder / "config.yaml"
    train(build_config(saved, ["seed=1", "name=another", f"log.root={tmp_path}", "eval.quality=[]"]))
    assert group_of(run_folder(tmp_path)) == group_of(folder) == seed_group(folder, build_config(saved))
    assert group_of(folder).startswith("codegan-digits-")
    assert seed_group(folder, build_config(saved, ["codegan.beta_c=3"])) != group_of(folder)
