"""Stopping: SIGTERM to the launcher or to one rank stops every rank within a step, with a checkpoint;
a trainer whose parent dies stops too. Nothing is left running."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.runs import checkpoint
from tests.launch import BIN, CPU_DDP, REPO, cpu_env, env, run_folder, tiny_run

pytestmark = pytest.mark.slow


def _popen(cmd: list[str], **kw) -> subprocess.Popen:
    environ = (cpu_env if "--multi_gpu" in cmd else env)(OMP_NUM_THREADS="1")  # two gloo ranks: on CPUs
    return subprocess.Popen(
        cmd, cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw
    )


def _trainers(root: psutil.Process) -> list[psutil.Process]:
    return [p for p in root.children(recursive=True) if "harness/run.py" in " ".join(p.cmdline())]


def _wait_for(cond, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while not cond():
        assert proc.poll() is None or cond(), proc.stdout.read()[-3000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def _stopped_step(folder: Path) -> int:
    return int(checkpoint.latest(folder / "checkpoints").stem.split("-")[1])


def _args(data_root, log_root, *more):
    # no periodic checkpoint or log line before the stop: the stop itself must write the checkpoint
    return tiny_run(data_root, log_root, "train.steps=100000", "train.log_every=100000", "train.ckpt_every=100000",
                    "eval.quality=[]", "eval.pixel_baseline=false", *more)  # fmt: skip


def test_sigterm_to_accelerate_launch_stops_the_trainer_with_a_checkpoint(digits_shards, tmp_path):
    proc = _popen([str(BIN / "accelerate"), "launch", "--num_processes", "1", "harness/run.py",
                   *_args(digits_shards.parent, tmp_path)])  # fmt: skip
    launcher = psutil.Process(proc.pid)
    _wait_for(lambda: list(tmp_path.glob("*/lock.json")) and _trainers(launcher), proc)
    time.sleep(2)  # a few steps
    (trainer,) = _trainers(launcher)
    t = time.time()
    proc.send_signal(signal.SIGTERM)  # the launcher dies without forwarding it
    proc.wait(timeout=30)
    psutil.wait_procs([trainer], timeout=30)
    assert not trainer.is_running() or trainer.status() == psutil.STATUS_ZOMBIE, "orphaned trainer"
    assert time.time() - t < 30
    folder = run_folder(tmp_path)
    assert _stopped_step(folder) > 0 and not (folder / "lock.json").exists()


def test_a_trainer_whose_parent_dies_stops_with_a_checkpoint(digits_shards, tmp_path):
    cmd = " ".join([sys.executable, "-m", "harness.run", *_args(digits_shards.parent, tmp_path)])
    shell = _popen(["bash", "-c", f"{cmd} & wait"])
    _wait_for(lambda: list(tmp_path.glob("*/lock.json")), shell)
    time.sleep(1)
    (trainer,) = _trainers_of_shell(psutil.Process(shell.pid))
    shell.send_signal(signal.SIGKILL)
    shell.wait()
    psutil.wait_procs([trainer], timeout=30)
    assert not trainer.is_running() or trainer.status() == psutil.STATUS_ZOMBIE
    assert _stopped_step(run_folder(tmp_path)) > 0


def _trainers_of_shell(shell: psutil.Process) -> list[psutil.Process]:
    return [p for p in shell.children(recursive=True) if "harness.run" in " ".join(p.cmdline())]


@pytest.mark.parametrize("target", ["launcher", "rank1"])
def test_sigterm_stops_every_rank_of_a_two_rank_run_within_a_step(digits_shards, tmp_path, target):
    proc = _popen(
        [str(BIN / "accelerate"), "launch", *CPU_DDP, "harness/run.py", *_args(digits_shards.parent, tmp_path)],
        start_new_session=True,
    )
    launcher = psutil.Process(proc.pid)
    try:
        _wait_for(lambda: list(tmp_path.glob("*/lock.json")) and len(_trainers(launcher)) == 2, proc)
        time.sleep(3)
        ranks = _trainers(launcher)
        rank1 = next(p for p in ranks if p.environ().get("RANK") == "1")
        t = time.time()
        (proc if target == "launcher" else rank1).send_signal(signal.SIGTERM)
        gone, alive = psutil.wait_procs(ranks, timeout=40)
        assert not alive, f"ranks still running: {alive}"
        assert time.time() - t < 40
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    folder = run_folder(tmp_path)
    step = _stopped_step(folder)
    assert step > 0 and f"stopped at step {step}" in out, out[-3000:]
    state = checkpoint.load(checkpoint.latest(folder / "checkpoints"))
    assert len(state["rng"]) == 2 and state["world_size"] == 2
