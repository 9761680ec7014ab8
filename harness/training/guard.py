"""What stops a training loop safely: non-finite losses, stop signals and a dead parent, agreed by all ranks.

Every step, :meth:`StepGuard.watch` folds the step's losses into a device-side record of the first
non-finite one (a handful of tensor ops, no host synchronisation). Every ``every`` steps, and before
every checkpoint, evaluation and log line, :meth:`StepGuard.check` reads that record together with the
host's stop flag in one all-reduce, so every rank takes the same decision at the same step:

* a non-finite loss on any rank raises :class:`NonFiniteError` naming the step and the loss;
* a stop request on any rank (SIGTERM, SIGINT, the launcher or parent gone) returns True: the caller
  writes a checkpoint and stops;
* at the loop's log, evaluation and checkpoint steps, a :class:`harness.training.health.Health` problem (an
  optimizer state that overflowed, weights that stopped changing) raises :class:`NonFiniteError` naming it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from typing import Any

import torch

from harness.core.errors import NonFiniteError

NONE = 2**62  # "no non-finite loss yet"
_KEYS = 1024  # packed value = step * _KEYS + index of the loss name


def die_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this process when its parent exits (Linux; elsewhere a no-op).

    A launcher killed without forwarding the signal (``accelerate launch`` with one process) then
    leaves no orphan: the trainer receives SIGTERM, writes a checkpoint and stops.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class StopRequest:
    """SIGTERM / the first Ctrl-C ask the loop to checkpoint and stop; a second Ctrl-C aborts at once.
    A parent that went away (the process was re-parented) counts as a stop request too."""

    def __init__(self) -> None:
        self.requested = False
        self.parent = os.getppid()
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._old.get(signal.SIGINT, signal.default_int_handler))
        print(f"\nsignal {signum}: saving a checkpoint and stopping (Ctrl-C again aborts)", file=sys.stderr, flush=True)

    def __bool__(self) -> bool:
        if not self.requested and os.getppid() != self.parent:
            print("\nthe launcher is gone: saving a checkpoint and stopping", file=sys.stderr, flush=True)
            self.requested = True
        return self.requested

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


class StepGuard:
    def __init__(self, acc: Any, every: int, stop: StopRequest):
        self.acc, self.every, self.stop = acc, max(1, every), stop
        self.names: list[str] = []
        self._index: dict[tuple[str, ...], torch.Tensor] = {}
        self.first = torch.tensor(NONE, dtype=torch.int64, device=acc.device)

    def watch(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        """Record the first non-finite value among ``losses`` (device tensors) of ``step``; no sync."""
        if not losses:
            return
        keys = tuple(losses)
        idx = self._index.get(keys)
        if idx is None:
            for k in keys:
                if k not in self.names:
                    self.names.append(k)
            idx = torch.tensor([self.names.index(k) for k in keys], dtype=torch.int64, device=self.acc.device)
            self._index[keys] = idx
        values = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        packed = torch.where(torch.isfinite(values), torch.full_like(idx, NONE), idx + step * _KEYS)
        self.first = torch.minimum(self.first, packed.min())

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def check(self, step: int, health: Any = None) -> bool:
        """Agree with every rank: raise on a non-finite loss anywhere, or on a health problem (``health``: a
        :class:`harness.training.health.Health`, checked when given), else True when any rank must stop."""
        code, message = health.check(step) if health is not None else (0, "")
        device = self.acc.device
        flags = torch.stack([torch.tensor(-int(bool(self.stop)), device=device), self.first,
                             torch.tensor(-code, dtype=torch.int64, device=device)])  # fmt: skip
        if self.acc.num_processes > 1:
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MIN)
        stop, first, unhealthy = flags.tolist()
        if first < NONE:
            at, key = divmod(int(first), _KEYS)
            name = self.names[key] if key < len(self.names) else f"loss #{key}"
            raise NonFiniteError(
                f"train/{name} became NaN or infinite at step {at}; stopped at step {step} without"
                " writing a checkpoint (lower the learning rates, or check the data)"
            )
        if unhealthy < 0:
            raise NonFiniteError(message or f"another rank found the training unhealthy at step {step}")
        return stop < 0
