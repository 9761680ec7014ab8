"""3D-Cars (Reed et al. 2015, "Deep Visual Analogy-Making"): the ``cars`` folder of ``nips2015-analogy-data.tar.gz``,
one ``car_<NNN>_mesh.mat`` per car model (183) whose ``im`` holds (128, 128, 3, 24, 4) uint8 views: 24 azimuths x 4
elevations. A card's classes are car models, by index into the sorted file list (the source's ``models``), with
every view of each (elevation-major); the views are resized to the card's size.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
from PIL import Image

from harness.config.cards import Card, DataError
from harness.data.sources.base import Arrays, SourceMissing, expand
from harness.data.sources.render import fit_view, pick

NAME = re.compile(r"(?:^|/)(car_[^/]*_mesh\.mat)$")
ARCHIVE = "nips2015-analogy-data.tar.gz"


def mesh_views(data: bytes, where: str) -> np.ndarray:
    """``im`` of one .mat file -> (elevations x azimuths, H, W, 3) uint8; view = elevation * azimuths + azimuth."""
    try:
        im = scipy.io.loadmat(io.BytesIO(data), variable_names=["im"]).get("im")
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a damaged or foreign file
        raise DataError(f"{where}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
    if im is None or im.dtype != np.uint8 or im.ndim != 5 or im.shape[2] != 3:
        got = "no 'im'" if im is None else f"'im' {im.dtype} {im.shape}"
        raise DataError(f"{where}: {got}, expected uint8 (H, W, 3, azimuths, elevations)")
    return im.transpose(4, 3, 0, 1, 2).reshape(-1, *im.shape[:3])


def _files(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(where, {file name: a path or a tar member}) of every car_*_mesh.mat the source's path leads to."""
    path = expand(spec["path"])
    if path.is_dir() and (path / ARCHIVE).is_file():
        path = path / ARCHIVE
    if path.is_file():
        try:
            with tarfile.open(path, "r:*") as tf:
                members = [m for m in tf.getmembers() if m.isfile() and NAME.search(m.name)]
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{path}: unreadable archive ({exc})") from None
        return str(path), {Path(m.name).name: m for m in members}
    for folder in (path, path / "cars", path / "data" / "cars"):
        if folder.is_dir():
            found = {p.name: p for p in folder.iterdir() if NAME.search(p.name)}
            if found:
                return str(folder), found
    raise SourceMissing(f"{path}: no {ARCHIVE} or folder of car_*_mesh.mat (cars/, data/cars/)")


def read_cars3d(spec: dict[str, Any], card: Card) -> Arrays:
    """``nips2015-analogy-data.tar.gz`` or its ``cars`` folder (or a folder holding either); ``models``: the car
    indices into the sorted file list, one class each, in class order; ``total``: how many files that list holds."""
    indices = [int(i) for i in spec.get("models", [])]
    if len(indices) != card.classes:
        raise DataError(
            f"{card.path}: source {spec.get('kind')} names {len(indices)} models for {card.classes} classes"
        )
    where, files = _files(spec)
    chosen = pick(sorted(files), indices, int(spec.get("total", 0)), "car_*_mesh.mat files", where)
    print(f"{card.name}: classes 0-{card.classes - 1} are {', '.join(chosen)}")
    raw: dict[str, bytes] = {}
    if isinstance(files[chosen[0]], tarfile.TarInfo):
        try:
            with tarfile.open(where, "r:*") as tf:
                for name in sorted(chosen, key=lambda n: files[n].offset):  # archive order: no seeking back
                    raw[name] = tf.extractfile(files[name]).read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{where}: unreadable archive ({exc})") from None
    else:
        raw = {name: files[name].read_bytes() for name in chosen}
    images, labels = [], []
    for label, name in enumerate(chosen):
        views = mesh_views(raw.pop(name), f"{where}:{name}")
        images += [fit_view(Image.fromarray(v), card, f"{where}:{name}") for v in views]
        labels += [label] * len(views)
    return {"all": (np.stack(images), np.array(labels, dtype=np.int64))}
