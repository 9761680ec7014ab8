"""The failures a rank meets from outside the harness, as one line: another rank that stops answering (a collective
times out, or its connection closes because it died), and memory that runs out. Each line names the rank, where the
run was, the cause and what to do; the traceback stays behind ``--debug``."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from harness.core.errors import RunError
from harness.runs import checkpoint

# what gloo, NCCL and the TCP store say when a peer is gone or silent
_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "ECONNRESET", "EPIPE")
_TIMED_OUT = ("Timed out", "timed out", "Timeout", "Watchdog caught collective operation timeout")
_ABOUT_PEERS = ("gloo", "NCCL", "nccl", "store", "ProcessGroup", "collective", "send", "recv")
_SIZE = re.compile(r"(?:allocate|allocating|Tried to allocate)\s+([0-9.]+\s*[KMGT]i?B|\d+\s*bytes)", re.I)
_OP = re.compile(r"(?:for|waiting for)\s+(send|recv|allreduce|all_reduce|allgather|broadcast|barrier|reduce)", re.I)


def _resume_hint(run_dir: Path) -> str:
    latest = checkpoint.latest(run_dir / "checkpoints")
    if latest is None:
        return "no checkpoint was written yet: the same command starts it again"
    step = int(latest.stem.split("-")[1])
    return f"the run can be resumed from step {step} (--resume {run_dir})"


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or (
        isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
    )


def is_peer_failure(exc: BaseException) -> bool:
    """A collective or the store failed because another rank is gone or silent."""
    if isinstance(exc, getattr(torch.distributed, "DistError", ())):
        return True
    text = str(exc)
    about_peers = any(w in text for w in _ABOUT_PEERS)
    return isinstance(exc, RuntimeError) and about_peers and any(p in text for p in (*_PEER_GONE, *_TIMED_OUT))


def explain(exc: BaseException, rank: int, where: str, run_dir: Path, timeout_s: float) -> RunError | None:
    """The one line for ``exc`` met by ``rank`` at ``where`` (``step 181``, ``the evaluation of step 200``), or None
    when it is none of these failures (it is then reported as it is)."""
    text = " ".join(str(exc).split())
    if is_out_of_memory(exc):
        size = _SIZE.search(text)
        amount = f" allocating {size.group(1)}" if size else ""
        lower = "eval.batch_size or eval.fid_samples" if "evaluation" in where else "train.batch_size"
        return RunError(f"rank {rank} ran out of memory at {where}{amount}: lower {lower}; {_resume_hint(run_dir)}")
    if is_peer_failure(exc):
        op = _OP.search(text)
        collective = f" (collective: {op.group(1).lower()})" if op else ""
        if any(p in text for p in _PEER_GONE):
            cause = f"another rank closed its connection at {where}{collective}: it failed or was stopped (its own line"
            cause += " says why, if it could)"
        else:
            cause = f"another rank did not answer within runtime.dist_timeout_s={timeout_s:g} at {where}{collective}"
        return RunError(f"rank {rank}: {cause}; {_resume_hint(run_dir)}")
    return None
