"""The process group of a launch of several processes: read from the launcher's environment, met within a
bounded time, and what the ranks hand each other through it (rank 0's answers, network buffers).

``accelerate launch``, torchrun and Ray Train set ``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
the same variables left in the environment of a one-process run would make it wait for ranks that never
come. :func:`join` therefore meets the other ranks within ``runtime.rendezvous_timeout_s`` (one line naming
the variables otherwise) and only then forms the group, whose collectives wait ``runtime.dist_timeout_s``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from harness.config import Config, ConfigError
from harness.core.errors import RunError
from harness.core.exits import debug_requested
from harness.core.launch_env import launch_int

T = TypeVar("T")
LAUNCH_ENV = ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT")


def env_int(name: str, default: int) -> int:
    """An integer launcher variable, or ``default`` when it is unset or empty; anything else is one line."""
    return launch_int(name, default)


def env_world_size() -> int:
    """``WORLD_SIZE`` of the launcher's environment (1 when unset)."""
    return launch_int("WORLD_SIZE", 1)


def active() -> bool:
    """Whether this process belongs to a process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _launch_env() -> str:
    return " ".join(f"{k}={os.environ[k]}" if k in os.environ else f"{k} unset" for k in LAUNCH_ENV)


@contextlib.contextmanager
def _c10d_log_held() -> Iterator[None]:
    """c10d logs every failed connection attempt with a C++ stack trace on stderr; that is held back while the
    ranks meet (and shown with ``--debug`` or ``CODEGAN_DEBUG=1``), so a failure stays one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if debug_requested(sys.argv):
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))


def join(cfg: Config) -> None:
    """Form the process group of a ``WORLD_SIZE`` > 1 launch (gloo on CPUs, NCCL on GPUs): meet the other
    ranks within ``runtime.rendezvous_timeout_s``, then wait up to ``runtime.dist_timeout_s`` in every
    collective. A no-op for one process or where a group exists (Ray Train forms its own)."""
    world = env_world_size()
    if world == 1 or not dist.is_available() or dist.is_initialized():
        return
    rank = env_int("RANK", -1)
    if not 0 <= rank < world:
        raise ConfigError(f"environment variable RANK: needs 0 <= RANK < WORLD_SIZE ({_launch_env()})")
    from torch.distributed.rendezvous import rendezvous

    rt = cfg.runtime
    try:
        with _c10d_log_held():
            store, rank, world = next(rendezvous("env://", timeout=timedelta(seconds=rt.rendezvous_timeout_s)))
    except (RuntimeError, ValueError) as exc:
        waited = "the other ranks did not all join" if rank == 0 else "rank 0 did not answer"
        detail = " ".join(str(exc).split())[:160].rstrip(".")
        limit = f"runtime.rendezvous_timeout_s={rt.rendezvous_timeout_s:g}"
        raise RunError(
            f"no process group within {limit} s: {waited} ({_launch_env()}; {detail}). Unset these variables to"
            " run one process, or start every rank"
        ) from None
    timeout = timedelta(seconds=rt.dist_timeout_s)
    store.set_timeout(timeout)
    extra: dict[str, Any] = {}
    if torch.cuda.is_available():
        device = torch.device("cuda", env_int("LOCAL_RANK", 0))
        torch.cuda.set_device(device)
        extra["device_id"] = device
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, store=store, rank=rank, world_size=world, timeout=timeout, **extra)


def from_rank0(fn: Callable[[], T], expected: tuple[type[BaseException], ...] = (Exception,)) -> T:
    """``fn()`` computed on rank 0 alone and handed to every rank (a file only rank 0 may see, a decision all
    must share). When it fails, rank 0 raises its error and the other ranks a RunError naming it."""
    if not active():
        return fn()
    box: list[Any] = [None]
    error: BaseException | None = None
    if dist.get_rank() == 0:
        try:
            box = [("ok", fn())]
        except expected as exc:
            error, box = exc, [("error", f"{type(exc).__name__}: {exc}")]
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if error is not None:
        raise error
    if kind == "error":
        raise RunError(f"rank 0 failed: {value}")
    return value


def broadcast_buffers(modules: Iterable[torch.nn.Module]) -> None:
    """Every buffer (BatchNorm statistics, ...) of ``modules`` set to rank 0's: the state a checkpoint holds."""
    if not active():
        return
    for module in modules:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)
