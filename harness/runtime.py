"""Process-level pieces of a run: the Accelerator, failures agreed across ranks, and a digest of the weights."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from accelerate import Accelerator

from harness.config import Config, ConfigError
from harness.data.cards import DataError
from harness.errors import RunError

T = TypeVar("T")
EXPECTED = (ConfigError, DataError, RunError, OSError)


def check_precision(precision: str) -> None:
    """fp16 needs CUDA (elsewhere Accelerate would silently run fp32); bf16 runs anywhere."""
    if precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("mixed precision fp16 needs a CUDA GPU; on this machine use bf16 or no")


def make_accelerator(cfg: Config, precision: str | None = None) -> Accelerator:
    """CPU (gloo when several processes) unless a GPU is visible; precision from config or launcher.

    Accelerate keeps one precision per process; a process that made an Accelerator with another one before (a
    benchmark of both, the tests) gets a fresh precision state rather than an error or the old precision.
    """
    from accelerate.state import AcceleratorState

    from harness.identity import launch_settings

    mp = precision or launch_settings(cfg)[1]
    if AcceleratorState._shared_state.get("_mixed_precision", mp) != mp:
        AcceleratorState._reset_state()
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mp)


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
