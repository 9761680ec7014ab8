"""Two real gloo ranks on CPU through ``accelerate launch --multi_gpu``."""

import json

import pytest

from harness.wandb_files import offline_runs
from tests.launch import CPU_DDP, launch, run_folder

pytestmark = pytest.mark.slow


def test_two_ranks_disjoint_data_equal_steps_identical_weights(digits_shards, tmp_path):
    steps, batch = 20, 16
    args = [
        f"log.root={tmp_path}",
        f"data.root={digits_shards.parent}",
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        "train.g_batch_size=16",
        "codegan.e_batch_size=32",
        "train.trace=true",
        "train.log_every=10",
        "train.ckpt_every=10",
        "eval.kmeans_seeds=1",
        "eval.pixel_baseline=false",
    ]
    proc = launch(args, accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = run_folder(tmp_path)
    ranks = [json.loads((folder / "trace" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["steps"] for r in ranks] == [steps, steps]
    seen = [r["indices"] for r in ranks]
    assert [len(s) for s in seen] == [steps * batch] * 2
    assert all(len(set(s)) == len(s) for s in seen)
    assert not set(seen[0]) & set(seen[1]), "ranks read overlapping samples"
    assert ranks[0]["param_digest"] == ranks[1]["param_digest"], "weights diverged across ranks"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["world_size"] == 2
    # only the main process wrote: one W&B run, each metric step logged once
    assert len(offline_runs(folder)) == 1
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/d_loss" in r] == [10, 20]
    assert [r["step"] for r in rows if "eval/acc" in r] == [20]
