"""Faults of a long run: diverged losses, a second writer, a kill mid-log, a full disk, a finished run rerun."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch

from harness.config import build_config
from harness.core.errors import NonFiniteError, RunError
from harness.runs import checkpoint
from harness.training.trainer import train
from tests.launch import REPO, env, launch, run_folder, tiny_run

pytestmark = pytest.mark.slow


def test_non_finite_losses_stop_at_once_naming_step_and_loss(digits_shards, tmp_path):
    """lr 1e9: losses turn NaN within a few steps; the run stops there and never overwrites a checkpoint."""
    args = [
        *tiny_run(digits_shards.parent, tmp_path, "train.steps=200", "train.ckpt_every=2", "train.log_every=100"),
        "train.lr_g=1e9",
        "train.lr_d=1e9",
        "train.lr_e=1e9",
    ]
    proc = launch(args)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert "became NaN or infinite at step" in line and "train/" in line and "without writing a checkpoint" in line
    bad_step = int(line.split("at step ")[1].split(";")[0])
    assert bad_step < 200
    folder = run_folder(tmp_path)
    for _, path in checkpoint.list_checkpoints(folder / "checkpoints"):
        state = checkpoint.load(path)
        assert state["step"] < bad_step
        for net in state["method"]["nets"].values():
            assert all(torch.isfinite(t).all() for t in net.values() if t.is_floating_point()), path
    assert not (folder / "summary.json").exists()


def test_a_second_process_on_the_same_run_folder_fails_fast_naming_the_holder(digits_shards, tmp_path):
    args = tiny_run(digits_shards.parent, tmp_path, "train.steps=100000", "train.log_every=1000")
    cmd = [sys.executable, "-m", "harness.run", *args]
    first = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(tmp_path.glob("*/lock.json")):
            assert first.poll() is None, first.communicate()
            time.sleep(0.1)
        t = time.time()
        second = launch(args, timeout=60)
        assert second.returncode == 1 and time.time() - t < 30
        (line,) = second.stderr.strip().splitlines()
        assert f"is in use by pid {first.pid} on" in line, line
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 130  # stopped with a checkpoint, lock released with the process
    folder = run_folder(tmp_path)
    assert checkpoint.latest(folder / "checkpoints") is not None and not (folder / "lock.json").exists()


def test_a_partial_last_metrics_line_does_not_block_resume(digits_shards, tmp_path):
    overrides = tiny_run(digits_shards.parent, tmp_path, "eval.pixel_baseline=false", "eval.quality=[]")
    train(build_config("digits", overrides))
    folder = run_folder(tmp_path)
    with open(folder / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "train/d_lo')  # a kill in the middle of a write
    result = train(build_config("digits", [*overrides, "train.steps=6"]))
    assert "eval/acc" in result
    steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 4, 6, 6]  # step 4: loss and final evaluation of the first run; then steps 6


def test_a_final_evaluation_done_again_after_a_kill_is_logged_once(digits_shards, tmp_path):
    """A rank killed during the final evaluation, after the main process logged it and before the summary: the
    resumed run evaluates that step again, and metrics.jsonl holds that evaluation once."""
    overrides = tiny_run(digits_shards.parent, tmp_path, "eval.pixel_baseline=false", "eval.quality=[]")
    train(build_config("digits", overrides))
    folder = run_folder(tmp_path)
    (folder / "summary.json").unlink()  # what the kill leaves: the final checkpoint and evaluation line, no summary
    train(build_config("digits", overrides))
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval/acc" in r] == [4]
    assert [r["step"] for r in rows if "train/d_loss" in r] == [2, 4]


def test_a_damaged_latest_checkpoint_is_passed_over_for_the_one_before(digits_shards, tmp_path, capsys):
    overrides = tiny_run(digits_shards.parent, tmp_path, "eval.pixel_baseline=false", "eval.quality=[]",
                         "train.ckpt_every=2")  # fmt: skip
    train(build_config("digits", overrides))
    folder = run_folder(tmp_path)
    latest = folder / "checkpoints" / "step-00000004.pt"
    latest.write_bytes(latest.read_bytes()[:5000])  # cut short after it was written (a failing disk)
    capsys.readouterr()
    result = train(build_config("digits", [*overrides, "train.steps=6"]))
    out = capsys.readouterr().out
    assert f"warning: cannot load checkpoint {latest}" in out and "resuming from the checkpoint before it" in out
    assert "(step 2)" in out and "eval/acc" in result
    assert json.loads((folder / "summary.json").read_text())["resumed_from_step"] == 2
    assert "step-00000004.pt kept as step-00000004.pt.damaged" in out  # the evidence outlives the resumed run's
    assert len((folder / "checkpoints" / "step-00000004.pt.damaged").read_bytes()) == 5000


def test_a_checkpoint_that_runs_code_is_refused_without_torchs_unsafe_advice(tmp_path):
    import pickle

    from harness.core.errors import RunError
    from harness.runs.checkpoint import load

    class Runs:
        def __reduce__(self):
            return (print, ("this ran",))

    bad = tmp_path / "step-00000001.pt"
    bad.write_bytes(pickle.dumps({"step": 1, "payload": Runs()}))
    with pytest.raises(RunError) as caught:
        load(bad)
    assert "the safe loader refused it" in str(caught.value) and "never load it unsafely" in str(caught.value)
    assert "weights_only=False" not in str(caught.value) and "will likely succeed" not in str(caught.value)


def test_a_write_error_during_a_checkpoint_is_one_line_and_leaves_no_temp_file(digits_shards, tmp_path):
    """RLIMIT_FSIZE makes the checkpoint write fail (EFBIG) like a full disk would, mid-run."""

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    args = tiny_run(digits_shards.parent, tmp_path, "eval.pixel_baseline=false", "eval.quality=[]")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.run", *args, "train.ckpt_every=2"],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=small_files,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()[-1:]
    assert "cannot write" in line and "step-00000002.pt" in line and "File too large" in line, line
    folder = run_folder(tmp_path)
    assert not list((folder / "checkpoints").glob(".*.tmp")) and not (folder / "lock.json").exists()


def test_rerunning_a_complete_run_says_only_that_it_is_complete(digits_shards, tmp_path):
    overrides = tiny_run(digits_shards.parent, tmp_path, "eval.pixel_baseline=false", "eval.quality=[]")
    first = launch(overrides)
    again = launch(overrides)
    assert first.returncode == again.returncode == 0
    assert "already complete at step 4" in again.stdout and "resumed from" not in again.stdout
    shorter = launch([*overrides, "train.steps=2"])
    assert shorter.returncode == 2
    (line,) = shorter.stderr.strip().splitlines()
    assert "is at step 4, past train.steps=2" in line and "codegan-eval" in line and "add name=<new name>" in line


def test_nan_guard_raises_in_process_with_the_named_loss(digits_shards, tmp_path):
    overrides = tiny_run(digits_shards.parent, tmp_path, "train.steps=50", "train.lr_d=1e9", "train.lr_g=1e9")
    with pytest.raises(NonFiniteError, match=r"train/\w+ became NaN or infinite at step \d+"):
        train(build_config("digits", overrides))
    assert isinstance(NonFiniteError("x"), RunError)


def test_a_library_that_cannot_write_its_log_adds_no_traceback_to_the_one_line(capsys, monkeypatch):
    """W&B keeps a debug.log in the run folder; on a full disk Python's logging printed a traceback for every
    record it failed to write (265 lines). /dev/full fails every write with ENOSPC, like a full disk."""
    import errno
    import logging

    from harness.core.exits import run_cli

    monkeypatch.setattr(logging, "raiseExceptions", True)  # the interpreter's default, restored afterwards
    logger = logging.getLogger("a.library")
    handler = logging.FileHandler("/dev/full")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "propagate", False)

    def main(argv: list[str]) -> int:
        for i in range(30):
            logger.warning("record %d", i)
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/r/metrics.jsonl")

    try:
        assert run_cli(main, []) == 1
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: No space left on device: /runs/r/metrics.jsonl"), err[:5]


@pytest.mark.skipif(subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0,
                    reason="no mount namespaces here")  # fmt: skip
def test_a_disk_that_fills_during_a_run_is_one_line_naming_the_file(digits_shards, tmp_path):
    """A 30 MB tmpfs as the log root, filled while the run logs metrics and its offline W&B run."""
    disk = tmp_path / "disk"
    disk.mkdir()
    args = tiny_run(digits_shards.parent, disk, "log.wandb=offline", "train.steps=400", "train.log_every=1",
                    "train.ckpt_every=1000", "eval.quality=[]", "eval.pixel_baseline=false")  # fmt: skip
    run = " ".join([sys.executable, "-m", "harness.run", *args])
    script = (
        f"mount -t tmpfs -o size=30m tmpfs {disk} && ({run} & pid=$!;"
        f" while ! ls {disk}/*/metrics.jsonl >/dev/null 2>&1; do sleep 0.1; done;"
        f" dd if=/dev/zero of={disk}/filler bs=1M 2>/dev/null; wait $pid)"
    )
    runs_env = {k: v for k, v in env().items() if k != "WANDB_SILENT"}  # W&B as a user has it
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", script], cwd=REPO, env=runs_env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: No space left on device: ") and f"{disk}/codegan-digits-" in line, line


def test_an_inherited_wandb_service_is_never_shared(monkeypatch):
    """A service started by a parent (a sweep driver, the test process) would outlive a killed child holding its run;
    only one this process started itself is kept."""
    from harness.runs.track import forget_inherited_wandb_service

    for owner, kept in ((os.getppid(), False), (os.getpid(), True), (1, False)):
        token = f"3-{owner}-tcp-localhost-40000"
        monkeypatch.setenv("WANDB_SERVICE", token)
        forget_inherited_wandb_service()
        assert (os.environ.get("WANDB_SERVICE") == token) is kept, owner


def test_a_run_retried_after_a_sigkill_is_not_refused_by_the_dead_processs_wandb_service(digits_shards, tmp_path):
    """A SIGKILLed run's W&B service outlives it, holding its run open; a retry that inherits WANDB_SERVICE (as a
    killed sweep trial's retry did) was refused with "run ID ... is in use"."""
    overrides = tiny_run(digits_shards.parent, tmp_path, "log.wandb=offline", "eval.quality=[]",
                         "eval.pixel_baseline=false", "train.steps=20", "train.ckpt_every=2")  # fmt: skip
    killed_at_step_4 = f"""
import os, signal
from harness.config import build_config
from harness.runs import track
from harness.training.trainer import train
logged = track.Tracker.log
def log(self, step, metrics):
    logged(self, step, metrics)
    if step == 4:  # after the checkpoint of step 2
        print(os.environ["WANDB_SERVICE"], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
track.Tracker.log = log
train(build_config("digits", {overrides!r}))
"""
    first = subprocess.run([sys.executable, "-c", killed_at_step_4], cwd=REPO, env=env(), capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    service = first.stdout.strip().splitlines()[-1]
    retry = launch(overrides, WANDB_SERVICE=service)
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert "resumed from" in retry.stdout and len(list((run_folder(tmp_path) / "wandb").glob("offline-run-*"))) == 2
