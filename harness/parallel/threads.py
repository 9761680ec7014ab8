"""Threads for the work the main process does alone while the other ranks wait in a collective.

``accelerate launch`` starts every rank with ``OMP_NUM_THREADS=1`` (so that several ranks on one machine do
not oversubscribe it), which would leave k-means, PCA, FID/KID statistics, ``sqrtm``, the domain classifier's
training and reference statistics on one thread of the main process while the others wait idle.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from harness.config import Config
from harness.parallel.distributed import env_int


def cpus_allowed() -> int:
    """The CPUs this process may run on (its affinity; the machine's count where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def main_thread_count(cfg: Config, processes: int) -> int:
    """``runtime.eval_threads``, or with 0 and several processes: every CPU this process may run on but one for
    each other rank on this machine (``LOCAL_WORLD_SIZE``; a rank waiting in an NCCL collective may spin on its
    core, and more threads than free cores make OpenMP's barriers wait for descheduled threads). With one
    process, 0: its own setting stays."""
    if cfg.runtime.eval_threads:
        return cfg.runtime.eval_threads
    if processes <= 1:
        return 0
    local = min(processes, max(1, env_int("LOCAL_WORLD_SIZE", processes)))
    return max(1, cpus_allowed() - (local - 1))


@contextlib.contextmanager
def using_threads(n: int) -> Iterator[None]:
    """``n`` threads for torch and for the OpenMP/BLAS pools scikit-learn and SciPy use (threadpoolctl),
    restored afterwards; ``n`` <= 0 changes nothing."""
    if n <= 0:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=n):
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def main_process_threads(cfg: Config, processes: int, main: bool) -> contextlib.AbstractContextManager:
    """:func:`using_threads` of :func:`main_thread_count` on the main process; nothing on the others."""
    return using_threads(main_thread_count(cfg, processes)) if main else contextlib.nullcontext()
