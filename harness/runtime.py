"""Process-level pieces of a run: the Accelerator, stop signals, and a digest of the weights."""

from __future__ import annotations

import hashlib
import signal
import threading
from typing import Any

import torch
from accelerate import Accelerator

from harness.config import Config


def make_accelerator(cfg: Config) -> Accelerator:
    """CPU (gloo when several processes) unless a GPU is visible; precision from config or launcher."""
    mp = None if cfg.train.mixed_precision == "auto" else cfg.train.mixed_precision
    return Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mp)


class StopRequest:
    """SIGTERM / first Ctrl-C ask the loop to checkpoint and stop; a second Ctrl-C aborts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._old.get(signal.SIGINT, signal.default_int_handler))
        print(f"\nsignal {signum}: saving a checkpoint and stopping (Ctrl-C again aborts)", flush=True)

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def param_digest(nets: dict[str, torch.nn.Module]) -> str:
    h = hashlib.sha256()
    for name in sorted(nets):
        for pname, p in sorted(nets[name].named_parameters()):
            h.update(f"{name}.{pname}".encode())
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
