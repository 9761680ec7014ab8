"""COIL-20, processed: 1,440 greyscale 128x128 PNGs named ``obj<K>__<view>.png`` (K = 1..20), zipped or unpacked."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.config.cards import Card, DataError
from harness.data.sources.base import Arrays, SourceMissing, expand

NAME = re.compile(r"(?:^|/)obj(\d+)__(\d+)\.png$")


def _decode(data: bytes, where: str, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("L"))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{where}: undecodable image ({exc})") from None
    if arr.shape != shape[1:]:
        raise DataError(f"{where}: image {arr.shape}, the card says {shape[1:]}")
    return arr


def _collect(items: list[tuple[str, bytes]], card: Card, where: str) -> Arrays:
    images, labels, keys = [], [], []
    for name, data in items:
        m = NAME.search(name)
        obj, view = int(m.group(1)), int(m.group(2))
        if not 1 <= obj <= card.classes:
            raise DataError(f"{where}:{name}: object {obj} outside 1..{card.classes}")
        keys.append((obj, view))
        images.append(_decode(data, f"{where}:{name}", card.shape))
        labels.append(obj - 1)
    if not images:
        raise SourceMissing(f"{where}: no obj<K>__<view>.png files")
    order = np.lexsort(np.array(keys).T[::-1])  # by object, then view: independent of archive order
    return {"all": (np.stack(images)[order][..., None], np.array(labels, dtype=np.int64)[order])}


def read_coil20(spec: dict[str, Any], card: Card) -> Arrays:
    """``coil-20-proc.zip`` or a folder of its PNGs (searched recursively)."""
    path = expand(spec["path"])
    if path.is_dir() and (path / "coil-20-proc.zip").is_file():
        path = path / "coil-20-proc.zip"
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                items = [(n, zf.read(n)) for n in zf.namelist() if NAME.search(n)]
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"{path}: unreadable zip archive ({exc})") from None
        return _collect(items, card, str(path))
    if path.is_dir():
        files = sorted(p for p in Path(path).rglob("*.png") if NAME.search(p.name))
        return _collect([(p.name, p.read_bytes()) for p in files], card, str(path))
    raise SourceMissing(f"{path}: no coil-20-proc.zip or folder of obj<K>__<view>.png")
