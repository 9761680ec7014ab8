"""Progress bars that are lively in a terminal and terse in logs (CI, clusters, pipes)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def bar(iterable: Any = None, **kwargs: Any) -> tqdm:
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.5 if interactive else 30.0)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
