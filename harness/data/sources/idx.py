"""MNIST-format IDX files (MNIST, Fashion-MNIST), gzipped or not; torchvision's downloader as a fallback."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.cards import Card, DataError
from harness.data.sources.base import Arrays, SourceMissing, expand
from harness.data.sources.cifar import read_batches_folder

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_file(folder: Path, stem: str) -> Path:
    """``stem`` or its variants (``.gz``; ``train-images.idx3-ubyte`` spelling) inside ``folder``."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise SourceMissing(f"{folder}: no {stem}[.gz]")


def read_idx(path: Path) -> np.ndarray:
    """An IDX array of unsigned bytes: 2 zero bytes, type 0x08, rank, big-endian uint32 dims, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    start = 4 + 4 * rank
    if len(data) - start != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} ({int(np.prod(dims))} bytes), file holds {len(data) - start}")
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(dims)


def read_idx_folder(folder: Path) -> Arrays:
    out: Arrays = {}
    for split, (img_stem, lab_stem) in FILES.items():
        images, labels = read_idx(find_file(folder, img_stem)), read_idx(find_file(folder, lab_stem))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not pair up")
        out[split] = (images[..., None].copy(), labels.astype(np.int64))
    return out


TORCHVISION_NAMES = ("MNIST", "FashionMNIST", "KMNIST", "EMNIST")


def idx_folder(root: Path, card: Card) -> Path:
    """The folder holding the four IDX files: ``root`` itself, or a torchvision dataset root below it
    (``root/<Name>/raw``, ``root/raw``), Name from the card's torchvision source first."""
    names = [s["dataset"] for s in card.sources if s.get("kind") == "torchvision" and "dataset" in s]
    candidates = [root, root / "raw", *(root / n / "raw" for n in dict.fromkeys([*names, *TORCHVISION_NAMES]))]
    for folder in candidates:
        try:
            find_file(folder, FILES["train"][0])
            return folder
        except SourceMissing:
            continue
    shown = ", ".join(str(c) for c in candidates[:3])
    raise SourceMissing(f"{root}: no {FILES['train'][0]}[.gz] in {shown}, ...")


def read_idx_source(spec: dict[str, Any], card: Card) -> Arrays:
    """The four IDX files in a folder (e.g. Debian's /usr/share/datasets/fashion-mnist) or a torchvision
    dataset root (``<root>/FashionMNIST/raw``)."""
    root = expand(spec["path"])
    if not root.is_dir():
        raise SourceMissing(f"{root}: no such folder")
    folder = idx_folder(root, card)
    if folder != root:
        print(f"{card.name}: found the IDX files in {folder}")
    return read_idx_folder(folder)


def read_torchvision(spec: dict[str, Any], card: Card) -> Arrays:
    """torchvision's downloader (needs the internet), into ``spec['root']``; then the files it fetched."""
    import torchvision.datasets as tvd

    root = expand(spec.get("root", "~/.cache/codegan-bench/downloads"))
    name = spec["dataset"]
    try:
        for train in (True, False):
            getattr(tvd, name)(str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - network errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SourceMissing(f"torchvision {name} download into {root} failed ({type(exc).__name__}: {first})") from None
    if name == "CIFAR10":
        return read_batches_folder(root / "cifar-10-batches-py")
    return read_idx_folder(root / name / "raw")
