"""CIFAR-10's official "python version": pickled batches in a folder or in the .tar.gz archive.

The batches are pickles, so they are read with a restricted unpickler that can build only plain
containers, bytes, strings, numbers and numpy arrays; any other global in the file is refused.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.cards import Card, DataError
from harness.data.sources.base import Arrays, SourceMissing, expand

TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
TEST = ["test_batch"]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2 (a re-pickled batch); a pure function
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> (N, 32, 32, 3) uint8 images and int64 labels."""
    try:
        batch = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{where}: not a CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: a CIFAR-10 batch needs 'data' and 'labels'")
    flat = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if flat.ndim != 2 or flat.shape[1] != 3072 or len(flat) != len(labels):
        raise DataError(f"{where}: data {flat.shape} / labels {labels.shape}, expected (N, 3072) / (N,)")
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_batches_folder(folder: Path) -> Arrays:
    missing = [n for n in TRAIN + TEST if not (folder / n).is_file()]
    if missing:
        raise SourceMissing(f"{folder}: missing {', '.join(missing)}")
    read = {n: load_batch((folder / n).read_bytes(), str(folder / n)) for n in TRAIN + TEST}
    return {"train": _join([read[n] for n in TRAIN]), "test": _join([read[n] for n in TEST])}


def read_archive(path: Path) -> Arrays:
    """``cifar-10-python.tar.gz`` as distributed (members ``cifar-10-batches-py/<batch>``)."""
    try:
        with tarfile.open(path, "r:*") as tf:
            found = {Path(m.name).name: m for m in tf.getmembers() if m.isfile()}
            missing = [n for n in TRAIN + TEST if n not in found]
            if missing:
                raise DataError(f"{path}: archive lacks {', '.join(missing)}")
            read = {n: load_batch(tf.extractfile(found[n]).read(), f"{path}:{found[n].name}") for n in TRAIN + TEST}
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable archive ({exc})") from None
    return {"train": _join([read[n] for n in TRAIN]), "test": _join([read[n] for n in TEST])}


def read_cifar10(spec: dict[str, Any], card: Card) -> Arrays:
    """A ``cifar-10-batches-py`` folder, a folder containing it or the archive, or the archive itself."""
    path = expand(spec["path"])
    if path.is_file():
        return read_archive(path)
    for folder in (path, path / "cifar-10-batches-py"):
        if (folder / "test_batch").is_file():
            return read_batches_folder(folder)
    if (path / "cifar-10-python.tar.gz").is_file():
        return read_archive(path / "cifar-10-python.tar.gz")
    raise SourceMissing(f"{path}: no cifar-10-batches-py folder or cifar-10-python.tar.gz")
