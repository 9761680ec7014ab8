"""The GPU check script in its dry mode on the CPU, so that it cannot rot: it benchmarks both presets at fp32 and bf16
and the whole-step graph (compiled by inductor), launches a deterministic run twice, builds shards from the IDX files
it is given, trains and evaluates, and writes one results file; every finished phase is in $OUT at once, and a
failing variant costs only itself."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.launch import REPO
from tests.test_sources import write_idx_folder

pytestmark = pytest.mark.slow


def _check_env(tmp_path, **extra):
    write_idx_folder(tmp_path / "idx", n_train=96, n_test=48, gz=True)
    card = tmp_path / "fashion-tiny.yaml"
    card.write_text(
        "name: fashion-tiny\nclasses: 10\nshape: [1, 28, 28]\nexpected: {train: 96, test: 48}\nshard_size: 32\n"
        "shuffle_seed: 0\nsources:\n  - {kind: idx, path: /nonexistent}\n"
    )
    (tmp_path / "out").mkdir()
    return {
        **os.environ,
        "GPU_CHECK_DRY": "1",
        "GPU_CHECK_IDX": str(tmp_path / "idx"),
        "GPU_CHECK_CARD": str(card),
        "GPU_CHECK_OUT": str(tmp_path / "results"),
        "GPU_CHECK_RESERVE_S": "40",  # the last report imports torch on a busy 2-core machine
        "PYTHON": sys.executable,
        "OUT": str(tmp_path / "out"),  # as on the device machine: what is here comes back
        **extra,
    }


def test_gpu_check_dry_run_with_a_failing_variant(tmp_path):
    """Every phase runs; the variant made to fail (as a compile error would) is recorded with its error in each
    benchmark it is in, the other variants and every later phase are measured; the check exits 1 for it."""
    env = _check_env(tmp_path, CODEGAN_BENCH_FAIL="fused", GPU_CHECK_TOTAL_S="600")
    proc = subprocess.run(
        ["bash", "scripts/gpu_check.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=660
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-4000:]
    result = json.loads((tmp_path / "results" / "results-cuda.json").read_text())
    assert result == json.loads((tmp_path / "out" / "results-cuda.json").read_text())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "bench-bf16.json", "bench-compile.json", "bench-no.json", "gpu_check.log", "results-cuda.json"
    ]  # fmt: skip
    assert result["machine"]["device"] == "cpu" and result["machine"]["versions"]["torch"]
    phases = result["phases"]
    assert {k: v for k, v in phases.items() if k != "nccl"} == dict.fromkeys(
        ["imports", "shards", "bench-no", "bench-bf16", "bench-compile", "train", "determinism"], "ok"
    ) and phases["nccl"] == "skipped: 0 GPU"
    measured = {(s["preset"], s["mixed_precision"]) for s in result["steps"]}
    assert measured == {(p, mp) for p in ("digits", "fashion-mnist") for mp in ("no", "bf16")}
    assert len(result["steps"]) == 5  # and the compile phase's digits bf16
    compiled = [s for s in result["steps"] if "defaults+step" in s["variants"]]
    assert len(compiled) == 1 and compiled[0]["variants"]["defaults+step"]["real_img_per_s"] > 0  # the step graph
    for s in result["steps"]:
        assert s["gflop_per_iter"]["step"] > 0 and set(s["variants"]) <= {"eager", "defaults", "defaults+step"}
        assert s["variants"]["eager"]["speedup_vs_eager"]["median"] == 1.0
        assert s["failed_variants"] == {"fused": "first iterations: InjectedFailure: variant fused failed on purpose"
                                        " (CODEGAN_BENCH_FAIL)"}  # fmt: skip
    run = result["train_run"]
    assert run["status"] == "complete" and run["step"] == 3 and run["mixed_precision"] == "bf16"
    assert run["losses_finite"] and "eval/acc" in run["metrics"]
    assert result["deterministic"]["equal"] and result["deterministic"]["runs"] == 2
    assert result["nccl"] is None and "NCCL run: skipped" in out
    assert "training run (bf16, 3 steps" in out and "fused: FAILED, first iterations: InjectedFailure" in out
    assert "problem: digits (no) fused: first iterations: InjectedFailure" in out


def test_every_finished_phase_is_in_out_when_the_check_is_killed(tmp_path):
    """The device tool stops a command at its limit and brings back what is in $OUT: killed once the second
    benchmark has begun, the check has already left whole files of everything before it."""
    env = _check_env(tmp_path, GPU_CHECK_TOTAL_S="600")
    proc = subprocess.Popen(["bash", "scripts/gpu_check.sh"], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    watchdog = threading.Timer(600, os.killpg, (proc.pid, signal.SIGKILL))
    watchdog.start()
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "] bench-bf16 (at most" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        watchdog.cancel()
        proc.wait()
    assert "] bench-bf16 (at most" in seen[-1], "".join(seen)[-4000:]
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["bench-no.json", "gpu_check.log", "results-cuda.json"]
    result = json.loads((out / "results-cuda.json").read_text())
    assert result["phases"] == dict.fromkeys(["imports", "bench-no"], "ok")  # the README's numbers come first
    assert [(s["preset"], s["mixed_precision"]) for s in result["steps"]] == [("fashion-mnist", "no"), ("digits", "no")]
    assert json.loads((out / "bench-no.json").read_text())["steps"] == result["steps"]
    assert "----- bench-no: ok" in (out / "gpu_check.log").read_text()


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
