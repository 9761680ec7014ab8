"""README command 1, shortened: the default preset through ``accelerate launch`` on the real digits shards."""

import json

import pytest

from tests.launch import launch, run_folder
from tests.wandb_files import read_history

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(digits_shards, tmp_path_factory):
    logs = tmp_path_factory.mktemp("runs")
    args = [
        f"log.root={logs}",
        f"data.root={digits_shards.parent}",
        "train.steps=60",
        "train.log_every=20",
        "train.eval_every=30",
        "train.ckpt_every=30",
        "eval.kmeans_seeds=2",
        "log.checkpoint_artifacts=true",
    ]
    proc = launch(args, accelerate=[])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_folder(logs), proc, args


def test_report_and_run_folder(finished_run):
    folder, proc, _ = finished_run
    assert folder.name.startswith("codegan-digits-")
    assert "class features + k-means: ACC" in proc.stdout and "raw pixels" in proc.stdout
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "summary.json",
        "checkpoints/step-00000060.pt",
        "samples/grid-00000060.png",
        "samples/grid-00000030.png",
    ):
        assert (folder / name).is_file(), name
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["step"] == 60 and summary["eval_images"] == 360
    for key in ("eval/acc", "eval/acc_std", "eval/purity", "eval/nmi", "eval/ari", "baseline/pixels_acc"):
        assert 0.0 <= summary["metrics"][key] <= 1.0, key
    m = summary["metrics"]  # each code against its class: recall, FID and the worst of them (harness.metrics.per_code)
    code_fids = [m[f"eval/code_fid_{k}_domain"] for k in range(10)]
    assert m["eval/code_fid_max_domain"] == max(code_fids) and min(code_fids) >= 0
    assert 0 <= m["eval/collapsed_codes_domain"] <= 10 and "the worst code's FID" in proc.stdout
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval/acc" in r] == [30, 60]
    from PIL import Image

    grid = Image.open(folder / "samples/grid-00000060.png").convert("L")
    margin = grid.crop((0, 0, 40, grid.height))  # rows are labelled "code k -> <class>" on the left
    assert min(margin.getdata()) < 100 and max(margin.getdata()) == 255
    assert [r["step"] for r in rows if "train/d_loss" in r] == [20, 40, 60]


def test_offline_wandb_history_has_eval_acc(finished_run):
    folder, _, _ = finished_run
    history = read_history(folder)
    acc = {row["_step"]: row["eval/acc"] for row in history if "eval/acc" in row}
    summary = json.loads((folder / "summary.json").read_text())
    assert set(acc) == {30, 60}
    assert acc[60] == pytest.approx(summary["metrics"]["eval/acc"])
    assert any("train/g_lc" in row for row in history)
    from tests.wandb_files import offline_runs, read_records

    records = read_records(offline_runs(folder)[0])
    (run,) = [r["run"] for r in records if r.get("type") == "run"]
    assert run["job_type"] == "train" and set(run["tags"]) >= {"codegan", "digits"}
    assert run["display_name"] == "codegan digits seed 0"
    config = dict(run["config"]["update"])  # the config the run started with, then the identity set at its end
    config.update({k: v for r in records if r.get("type") == "config" for k, v in r["config"]["update"].items()})
    assert config["result_key"] == summary["result_key"] and "commit" in config["git"]["harness"]
    artifacts = {(r["artifact"]["type"], r["artifact"]["name"]) for r in records if r.get("type") == "artifact"}
    assert ("checkpoint", f"checkpoint-{folder.name}") in artifacts
    metrics = {r["metric"].get("glob_name") or r["metric"].get("name") for r in records if r.get("type") == "metric"}
    assert {"eval/acc", "eval/fid_*"} <= metrics  # define_metric: best ACC, lowest FID summaries


def test_rerun_of_a_complete_run_does_not_train_again(finished_run):
    folder, _, args = finished_run
    proc = launch(args)
    assert proc.returncode == 0
    assert "already complete" in proc.stdout
    assert len(list((folder / "checkpoints").glob("*.pt"))) == 2
