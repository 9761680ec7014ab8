"""Write-then-rename, in one place: a file is either its old self or its whole new self, never half written.

The bytes go to a temporary file in the same folder, are fsynced, renamed over the target, and the folder is
fsynced; a failed write (a full disk) removes the temporary file and raises an ``OSError`` naming the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """``data`` as the whole new content of ``path`` (readable as a plain new file would be)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; shared shard folders and caches need readers
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # the rename itself survives a crash once the folder is synced
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:  # a failed write names no file by itself (a full disk): name the one being written
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None


def atomic_write_text(path: Path, text: str) -> None:
    """``text`` (UTF-8) as the whole new content of ``path``."""
    atomic_write_bytes(path, text.encode())


def torch_bytes(obj: object) -> memoryview:
    """``torch.save(obj)`` serialised in memory, for :func:`atomic_write_bytes` (a failed write then keeps the
    system's reason, ``No space left on device``, not torch's stream error)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer()


def atomic_copy(src: Path, dst: Path) -> None:
    """A copy of ``src`` as the whole new content of ``dst``."""
    atomic_write_bytes(dst, Path(src).read_bytes())
