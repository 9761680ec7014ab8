"""The project's own cache folder (downloads, feature extractors, reference statistics), never site-packages."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

DEFAULT = "~/.cache/codegan-bench"


def cache_dir(*parts: str) -> Path:
    """``$CODEGAN_CACHE`` (default ``~/.cache/codegan-bench``) / parts, created on demand."""
    root = Path(os.path.expanduser(os.environ.get("CODEGAN_CACHE", "") or DEFAULT))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_lock(path: Path) -> Any:
    """A lock (``<path>.lock``) held while a cache file is made, so separate processes make it once; none when the
    cache folder cannot be written (a complete cache shared read-only: then only reads happen, and a file that is
    missing fails to be written with one line naming it)."""
    from filelock import FileLock

    return FileLock(str(path) + ".lock") if os.access(path.parent, os.W_OK) else contextlib.nullcontext()
