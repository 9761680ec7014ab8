"""What every source reader shares: the array layout and the "not here" signal."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.cards import Card

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split ("train"/"test"/"all") -> (images NHWC uint8, labels)
Reader = Callable[[dict[str, Any], Card], Arrays]


class SourceMissing(FileNotFoundError):
    """The source's files are not where it looked (the message says where)."""


def expand(path: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(path)))
