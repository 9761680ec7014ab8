"""The GPU check script in its dry mode on the CPU, so that it cannot rot: it builds shards from the IDX files it is
given, benchmarks both presets at fp32 and bf16, trains and evaluates, and writes one results file."""

import json
import os
import subprocess
import sys

import pytest

from tests.launch import REPO
from tests.test_sources import write_idx_folder

pytestmark = pytest.mark.slow


def test_gpu_check_dry_run(tmp_path):
    write_idx_folder(tmp_path / "idx", n_train=96, n_test=48, gz=True)
    card = tmp_path / "fashion-tiny.yaml"
    card.write_text(
        "name: fashion-tiny\nclasses: 10\nshape: [1, 28, 28]\nexpected: {train: 96, test: 48}\nshard_size: 32\n"
        "shuffle_seed: 0\nsources:\n  - {kind: idx, path: /nonexistent}\n"
    )
    env = {
        **os.environ,
        "GPU_CHECK_DRY": "1",
        "GPU_CHECK_IDX": str(tmp_path / "idx"),
        "GPU_CHECK_CARD": str(card),
        "GPU_CHECK_OUT": str(tmp_path / "out"),
        "PYTHON": sys.executable,
        "OUT": str(tmp_path),  # as on the device machine: results and logs are copied there
    }
    proc = subprocess.run(
        ["bash", "scripts/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads((tmp_path / "out" / "results-cuda.json").read_text())
    assert result["machine"]["device"] == "cpu" and result["machine"]["versions"]["torch"]
    measured = {(s["preset"], s["mixed_precision"]) for s in result["steps"]}
    assert measured == {(p, mp) for p in ("digits", "fashion-mnist") for mp in ("no", "bf16")}
    for s in result["steps"]:
        assert s["gflop_per_iter"]["step"] > 0 and {"eager", "defaults"} <= s["variants"].keys()
        assert s["variants"]["eager"]["speedup_vs_eager"]["median"] == 1.0
    run = result["train_run"]
    assert run["status"] == "complete" and run["step"] == 3 and run["mixed_precision"] == "bf16"
    assert run["losses_finite"] and "eval/acc" in run["metrics"]
    assert result["nccl"] is None and "NCCL run: skipped" in proc.stdout
    assert "training run (bf16, 3 steps" in proc.stdout
    assert (tmp_path / "results-cuda.json").is_file() and (tmp_path / "train.log").is_file()


def _trace(root, rank: int, digest: str) -> None:
    folder = root / "gpu-check-ddp-0123abcd" / "trace"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"rank{rank}.json").write_text(json.dumps({"steps": 30, "indices": [], "param_digest": digest}))


@pytest.mark.parametrize("digests, equal", [(("a1", "a1"), True), (("a1", "b2"), False)])
def test_the_report_compares_the_ranks_weights(tmp_path, digests, equal):
    from scripts import gpu_report

    for rank, digest in enumerate(digests):
        _trace(tmp_path / "ddp", rank, digest)
    assert gpu_report.ddp_run(tmp_path / "ddp") == {"ranks": 2, "digests": list(digests), "equal": equal}
    out = tmp_path / "r.json"
    args = ["--runs", str(tmp_path / "runs"), "--ddp", str(tmp_path / "ddp"), "--gpus", "2", "--out", str(out)]
    assert gpu_report.main(args) == 1  # no benchmark and no training run in any case
    assert json.loads(out.read_text())["nccl"]["equal"] is equal
