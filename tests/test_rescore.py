"""Re-scoring a trained run without retraining: any checkpoint, other eval settings, one or two processes."""

import json

import pytest
import torch

from harness.config import build_config
from harness.evaluate.rescore import main as eval_main
from harness.train import train
from harness.wandb_files import offline_runs
from tests.launch import CPU_DDP, launch, run_folder, tiny_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(digits_shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    overrides = [*tiny_run(digits_shards.parent, root), "log.wandb=offline", "eval.fid_samples=300",
                 "train.ckpt_every=2", "train.keep_checkpoints=3"]  # fmt: skip
    result = train(build_config("digits", overrides))
    folder = run_folder(root)
    for ckpt in (folder / "checkpoints").glob("step-*.pt"):  # generator states as a GPU's: re-scoring needs none
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
    assert "eval/fid_domain" in record["metrics"] and "class features + k-means" in capsys.readouterr().out
    jobs = {r.name: r for r in offline_runs(folder)}
    assert len(jobs) == 2  # the training run and the eval run


def test_an_earlier_checkpoint_and_refusals(trained, capsys):
    folder, _ = trained
    ckpt = folder / "checkpoints" / "step-00000002.pt"
    assert eval_main([str(ckpt), "eval.quality=[]", "log.wandb=disabled", "log.progress=false"]) == 0
    assert any(r["step"] == 2 for r in _records(folder))
    assert eval_main([str(folder), "codegan.beta_c=3"]) == 2
    assert "codegan.beta_c cannot change on resume" in capsys.readouterr().err
    assert eval_main([str(folder / "nope")]) == 2


def test_two_processes_measure_the_same_fid_as_one(trained):
    folder, _ = trained
    common = [str(folder), "eval.fid_samples=700", "eval.batch_size=200", "log.wandb=disabled", "log.progress=false"]
    one = launch(["-m", "harness.evaluate", *common], accelerate=[], module=True)
    two = launch(["-m", "harness.evaluate", *common], accelerate=CPU_DDP, module=True, OMP_NUM_THREADS="1")
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    records = [r for r in _records(folder) if r["identity"]["eval"]["eval.fid_samples"] == 700]
    assert len(records) == 1  # the same result identity: the second process count wrote the same record
    fids = [float(line.split("FID_DOMAIN ")[1].split()[0]) for line in (one.stdout, two.stdout)]
    assert fids[0] == pytest.approx(fids[1], rel=1e-6)


def test_training_further_keeps_the_earlier_result_as_its_own_record(digits_shards, tmp_path):
    from harness.results import load_records

    overrides = [*tiny_run(digits_shards.parent, tmp_path), "eval.quality=[]", "eval.pixel_baseline=false"]
    train(build_config("digits", overrides))
    train(build_config("digits", [*overrides, "train.steps=6"]))
    records = load_records([tmp_path])
    assert sorted(r.identity["step"] for r in records) == [4, 6]
    assert len({r.key for r in records}) == 2 and len({r.run_hash for r in records}) == 1
