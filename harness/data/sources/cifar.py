"""CIFAR-10's and CIFAR-100's official "python version": pickled batches in a folder or in the .tar.gz archive.

CIFAR-10 ships ``data_batch_1..5`` and ``test_batch`` with ``labels``; CIFAR-100 ships ``train`` and ``test``
with ``fine_labels`` (100 classes) and ``coarse_labels`` (20 superclasses). The batches are pickles, so they
are read with a restricted unpickler that can build only plain containers, bytes, strings, numbers and numpy
arrays; any other global in the file is refused.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Layout:
    """One CIFAR release: its batch files, the folder and archive they come in, and the labels to read."""

    title: str
    folder: str
    archive: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    labels: bytes = b"labels"

    @property
    def names(self) -> tuple[str, ...]:
        return self.train + self.test


CIFAR10 = Layout("CIFAR-10", "cifar-10-batches-py", "cifar-10-python.tar.gz", tuple(TRAIN), tuple(TEST))
CIFAR100_LABELS = {"fine": b"fine_labels", "coarse": b"coarse_labels"}


def cifar100(labels: str = "fine") -> Layout:
    """CIFAR-100 with its ``fine`` (100 classes) or ``coarse`` (20 superclasses) labels."""
    if labels not in CIFAR100_LABELS:
        raise DataError(f"CIFAR-100 labels must be one of {sorted(CIFAR100_LABELS)}, got {labels!r}")
    return Layout(
        "CIFAR-100", "cifar-100-python", "cifar-100-python.tar.gz", ("train",), ("test",), CIFAR100_LABELS[labels]
    )


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_batch(data: bytes, where: str, layout: Layout = CIFAR10) -> tuple[np.ndarray, np.ndarray]:
    """One batch -> (N, 32, 32, 3) uint8 images and int64 labels (``layout.labels``)."""
    key, shown = layout.labels, layout.labels.decode()
    try:
        batch = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{where}: not a {layout.title} batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or key not in batch:
        raise DataError(f"{where}: a {layout.title} batch needs 'data' and '{shown}'")
    flat = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[key], dtype=np.int64)
    if flat.ndim != 2 or flat.shape[1] != 3072 or len(flat) != len(labels):
        raise DataError(f"{where}: data {flat.shape} / {shown} {labels.shape}, expected (N, 3072) / (N,)")
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _join(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _splits(read: dict[str, tuple[np.ndarray, np.ndarray]], layout: Layout) -> Arrays:
    return {"train": _join([read[n] for n in layout.train]), "test": _join([read[n] for n in layout.test])}


def read_batches_folder(folder: Path, layout: Layout = CIFAR10) -> Arrays:
    missing = [n for n in layout.names if not (folder / n).is_file()]
    if missing:
        raise SourceMissing(f"{folder}: missing {', '.join(missing)}")
    return _splits({n: load_batch((folder / n).read_bytes(), str(folder / n), layout) for n in layout.names}, layout)


def read_archive(path: Path, layout: Layout = CIFAR10) -> Arrays:
    """The archive as distributed (members ``<layout.folder>/<batch>``)."""
    try:
        with tarfile.open(path, "r:*") as tf:
            found = {Path(m.name).name: m for m in tf.getmembers() if m.isfile()}
            missing = [n for n in layout.names if n not in found]
            if missing:
                raise DataError(f"{path}: archive lacks {', '.join(missing)}")
            read = {
                n: load_batch(tf.extractfile(found[n]).read(), f"{path}:{found[n].name}", layout) for n in layout.names
            }
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: unreadable archive ({exc})") from None
    return _splits(read, layout)


def read_layout(path: Path, layout: Layout) -> Arrays:
    """The batch folder, a folder containing it or the archive, or the archive itself."""
    if path.is_file():
        return read_archive(path, layout)
    for folder in (path, path / layout.folder):
        if (folder / layout.test[0]).is_file():
            return read_batches_folder(folder, layout)
    if (path / layout.archive).is_file():
        return read_archive(path / layout.archive, layout)
    raise SourceMissing(f"{path}: no {layout.folder} folder or {layout.archive}")


def read_cifar10(spec: dict[str, Any], card: Card) -> Arrays:
    """A ``cifar-10-batches-py`` folder, a folder containing it or the archive, or the archive itself."""
    return read_layout(expand(spec["path"]), CIFAR10)


def read_cifar100(spec: dict[str, Any], card: Card) -> Arrays:
    """A ``cifar-100-python`` folder, a folder containing it or the archive, or the archive itself; ``labels``:
    fine (default, 100 classes) or coarse (20 superclasses)."""
    return read_layout(expand(spec["path"]), cifar100(str(spec.get("labels", "fine"))))
