"""Process-level pieces of a run: the Accelerator, failures agreed across ranks, and a digest of the weights."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import torch
from accelerate import Accelerator

from harness.config import Config, ConfigError
from harness.config.cards import DataError
from harness.core.errors import RunError
from harness.parallel import determinism, distributed

T = TypeVar("T")
EXPECTED = (ConfigError, DataError, RunError, OSError)


def check_precision(precision: str) -> None:
    """fp16 needs CUDA (elsewhere Accelerate would silently run fp32); bf16 runs anywhere."""
    if precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("mixed precision fp16 needs a CUDA GPU; on this machine use bf16 or no")


def fresh_accelerate_state() -> None:
    """Forget an earlier run's Accelerator state in this process (a sequence of runs in one process:
    compare, tests, a reused worker): Accelerate would refuse another precision, or carry bf16 over into
    a later run that names none. Only for single-process runs; a process group is never torn down."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def make_accelerator(cfg: Config, precision: str | None = None) -> Accelerator:
    """CPU (gloo when several processes) unless a GPU is visible; precision from config or launcher; the
    process group met within the config's timeouts (:func:`harness.distributed.join`); the
    deterministic mode of ``train.deterministic``."""
    from accelerate.utils import InitProcessGroupKwargs

    distributed.join(cfg)
    mp = precision or (None if cfg.train.mixed_precision == "auto" else cfg.train.mixed_precision)
    if distributed.env_world_size() == 1 and not torch.distributed.is_initialized():
        fresh_accelerate_state()
    determinism.configure(cfg.train.deterministic)
    timeout = InitProcessGroupKwargs(timeout=timedelta(seconds=cfg.runtime.dist_timeout_s))
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mp, kwargs_handlers=[timeout])


def together(acc: Any, fn: Callable[[], T]) -> T:
    """Run ``fn`` on every rank and agree on failure: when any rank fails, every rank raises (the failing
    one its own error, the others a RunError naming it), so no rank waits forever in a later collective."""
    error: BaseException | None = None
    out: Any = None
    try:
        out = fn()
    except EXPECTED as exc:
        error = exc
    if acc.num_processes > 1:
        from accelerate.utils import gather_object

        messages = gather_object([None if error is None else f"{type(error).__name__}: {error}"])
        failed = [(rank, m) for rank, m in enumerate(messages) if m]
        if failed and error is None:
            rank, message = failed[0]
            raise RunError(f"rank {rank} failed: {message}")
    if error is not None:
        raise error
    return out


def param_digest(nets: dict[str, torch.nn.Module]) -> str:
    h = hashlib.sha256()
    for name in sorted(nets):
        for pname, p in sorted(nets[name].named_parameters()):
            h.update(f"{name}.{pname}".encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def all_finite(nets: dict[str, torch.nn.Module]) -> str | None:
    """The first network whose weights hold a NaN or infinity, or None (one host sync)."""
    for name, net in nets.items():
        params = [p.detach() for p in net.parameters()]
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            return name
    return None
