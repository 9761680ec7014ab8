"""Seeds derived from the one master seed: per rank, per purpose, per repeat."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *tags: object) -> int:
    """A stable 31-bit seed from the master seed and any tags (``derive_seed(0, "kmeans", 3)``)."""
    text = ":".join(str(t) for t in (seed, *tags))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF
