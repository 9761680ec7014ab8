"""The training loop's bookkeeping: which of log, evaluation and checkpoint fall on a step, and the image rate."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Due:
    log: bool
    eval: bool
    ckpt: bool

    @property
    def any(self) -> bool:
        return self.log or self.eval or self.ckpt


def due(train: Any, step: int, steps: int) -> Due:
    """What ``train`` (the config's ``train`` section) schedules at ``step`` of ``steps``: a log every
    ``log_every`` steps and at the last; an evaluation every ``eval_every`` (0: none) and a checkpoint every
    ``ckpt_every``, both before the last step (whose evaluation and checkpoint the run's end makes)."""
    last = step == steps
    return Due(
        log=step % train.log_every == 0 or last,
        eval=bool(train.eval_every) and step % train.eval_every == 0 and not last,
        ckpt=step % train.ckpt_every == 0 and not last,
    )


class Rate:
    """Images per second between one call and the next."""

    def __init__(self, step: int, images_per_step: int):
        self.t, self.step, self.per = time.time(), step, images_per_step

    def __call__(self, step: int) -> float:
        now = time.time()
        rate = (step - self.step) * self.per / max(now - self.t, 1e-9)
        self.t, self.step = now, step
        return rate
