"""The project's own cache folder (downloads, feature extractors, reference statistics), never site-packages."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from harness.core.places import cache_home


def cache_dir(*parts: str) -> Path:
    """The cache folder (:func:`harness.core.places.cache_home`) / parts, created on demand."""
    path = cache_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_lock(path: Path) -> Any:
    """A lock (``<path>.lock``) held while a cache file is made, so separate processes make it once; none when the
    cache folder cannot be written (a complete cache shared read-only: then only reads happen, and a file that is
    missing fails to be written with one line naming it)."""
    from filelock import FileLock

    return FileLock(str(path) + ".lock") if os.access(path.parent, os.W_OK) else contextlib.nullcontext()
