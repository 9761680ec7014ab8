"""A rank that stops answering, or memory that runs out, ends a run as cleanly as a bad config: one line on the
ranks that can still speak, naming the rank, the step, the cause and the way on, within the stated timeout."""

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from harness.training.failures import explain
from tests.launch import BIN, CPU_DDP, REPO, cpu_env


def _rank_process(launcher: psutil.Process, rank: str) -> psutil.Process | None:
    for p in launcher.children(recursive=True):
        try:
            if "harness/run.py" in " ".join(p.cmdline()) and p.environ().get("RANK") == rank:
                return p
        except psutil.Error:
            continue
    return None


def _logged(root: Path, step: int) -> bool:
    """Whether a run folder under ``root`` has logged its training metrics at ``step``."""
    for path in root.glob("*/metrics.jsonl"):
        if any(f'"step": {step},' in line and "train/" in line for line in path.read_text().splitlines()):
            return True
    return False


@pytest.mark.parametrize("during", ["training", "the final evaluation"])
def test_a_frozen_rank_ends_the_run_within_the_timeout_with_one_line(digits_shards, tmp_path, during):
    """Rank 1 is stopped once step 20 is logged: mid-training, or (20 steps in all) while rank 0 evaluates and rank 1
    waits for it."""
    steps = "100000" if during == "training" else "20"
    args = [f"data.root={digits_shards.parent}", f"log.root={tmp_path}", "log.wandb=disabled", "log.progress=false",
            f"train.steps={steps}", "train.log_every=5", "train.ckpt_every=20", "eval.quality=[]",
            "runtime.dist_timeout_s=5"]  # fmt: skip
    cmd = [str(BIN / "accelerate"), "launch", *CPU_DDP, "harness/run.py", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cpu_env(OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    launcher, frozen = psutil.Process(proc.pid), None
    try:
        deadline = time.time() + 240
        frozen = main = None
        while time.time() < deadline and (frozen is None or main is None):
            frozen, main = _rank_process(launcher, "1"), _rank_process(launcher, "0")
            time.sleep(0.2)
        assert frozen is not None and main is not None, "the ranks never started"
        # step 20's training line is written just before rank 0 evaluates it (and rank 1 waits for that)
        while time.time() < deadline and not _logged(tmp_path, 20):
            time.sleep(0.05)
        frozen.send_signal(signal.SIGSTOP)
        stopped_at = time.time()
        while time.time() < stopped_at + 60 and not any(x.startswith("[rank 0] error:") for x in lines):
            time.sleep(0.1)
        took = time.time() - stopped_at
        main.wait(timeout=30)  # rank 0 itself ends; the launcher's own shutdown of the stopped rank is not waited for
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if frozen is not None:
            with contextlib.suppress(psutil.Error):
                frozen.send_signal(signal.SIGCONT)
                frozen.kill()
        proc.wait(timeout=30)
    err = "".join(lines)
    ours = [line for line in err.splitlines() if line.startswith("[rank 0] error:")]
    assert len(ours) == 1, err[-3000:]
    # at the last step, rank 0 meets the stopped rank in the sync before its evaluation or in the evaluation's own
    # (which of them depends on how far rank 1 got before the stop)
    at = ("at step",) if during == "training" else ("at step 20 ", "at the evaluation of step 20")
    assert any(f"did not answer within runtime.dist_timeout_s=5 {x}" in ours[0] for x in at), ours[0]
    assert "the run can be resumed from step" in ours[0] and "--resume" in ours[0]
    assert took < 5 + 15, took  # the timeout, then one line


@pytest.mark.parametrize(
    "exc, line",
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total)"),
         "rank 1 ran out of memory at step 3 allocating 2.00 GiB: lower train.batch_size;"),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:119] DefaultCPUAllocator: can't allocate memory: you tried to"
                      " allocate 2147483648 bytes. Error code 12"),
         "rank 1 ran out of memory at step 3 allocating 2147483648 bytes: lower train.batch_size;"),
        (RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [::1]:3925"),
         "rank 1: another rank closed its connection at step 3: it failed or was stopped"),
        (RuntimeError("[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:133] Timed out waiting 30000ms for"
                      " send operation to complete"),
         "rank 1: another rank did not answer within runtime.dist_timeout_s=30 at step 3 (collective: send);"),
    ],
)  # fmt: skip
def test_what_a_rank_meets_from_outside_reads_as_one_line(exc, line, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step-00000002.pt").write_bytes(b"")
    got = str(explain(exc, 1, "step 3", Path(tmp_path), 30))
    assert got.startswith(line) and got.endswith(f"the run can be resumed from step 2 (--resume {tmp_path})"), got
    assert explain(ValueError("a bug"), 1, "step 3", Path(tmp_path), 30) is None  # anything else stays itself
