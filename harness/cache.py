"""The project's own cache folder (downloads, feature extractors, reference statistics), never site-packages."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT = "~/.cache/codegan-bench"


def cache_dir(*parts: str) -> Path:
    """``$CODEGAN_CACHE`` (default ``~/.cache/codegan-bench``) / parts, created on demand."""
    root = Path(os.path.expanduser(os.environ.get("CODEGAN_CACHE", "") or DEFAULT))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
