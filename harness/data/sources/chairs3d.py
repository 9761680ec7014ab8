"""3D-Chairs (Aubry et al. 2014, "Seeing 3D chairs"): ``rendered_chairs.tar``, one folder per chair model (1,393)
holding ``renders/*.png`` (62 views of 600x600 each). A card's classes are chair models drawn with a fixed seed
(:func:`choose`), every view of each; the views are centre-cropped (the source's ``crop``) and resized to the
card's size.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from typing import Any

import numpy as np
from PIL import Image

from harness.config.cards import Card, DataError
from harness.data.sources.base import Arrays, SourceMissing, expand
from harness.data.sources.render import check_count, fit_view

MEMBER = re.compile(r"(?:^|/)([^/]+)/renders/([^/]+\.png)$")
ARCHIVE = "rendered_chairs.tar"


def choose(models: list[str], k: int, seed: int) -> list[str]:
    """The ``k`` models whose ``sha256("<seed>:<name>")`` hex digests are smallest, in sorted order: a seeded draw
    that depends on the folder names alone, the same with any numpy or Python version."""
    if k > len(models):
        raise DataError(f"{k} chair models asked for, {len(models)} found")
    ranked = sorted(models, key=lambda name: hashlib.sha256(f"{seed}:{name}".encode()).hexdigest())
    return sorted(ranked[:k])


def _views(spec: dict[str, Any]) -> tuple[str, dict[str, list[tuple[str, Any]]]]:
    """(where, {model: [(view name, a path or a tar member)]}) of every render the source's path leads to."""
    path = expand(spec["path"])
    if path.is_dir() and (path / ARCHIVE).is_file():
        path = path / ARCHIVE
    models: dict[str, list[tuple[str, Any]]] = {}
    if path.is_file():
        try:
            with tarfile.open(path, "r:*") as tf:
                for m in tf.getmembers():
                    found = MEMBER.search(m.name) if m.isfile() else None
                    if found:
                        models.setdefault(found.group(1), []).append((found.group(2), m))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{path}: unreadable archive ({exc})") from None
        return str(path), models
    for folder in (path, path / "rendered_chairs"):
        if folder.is_dir():
            for renders in folder.glob("*/renders"):
                models[renders.parent.name] = [(p.name, p) for p in renders.glob("*.png")]
            if models:
                return str(folder), models
    raise SourceMissing(f"{path}: no {ARCHIVE} or rendered_chairs folder of <model>/renders/*.png")


def _decode(data: bytes, card: Card, where: str, crop: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return fit_view(im, card, where, crop)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{where}: undecodable image ({exc})") from None


def read_chairs3d(spec: dict[str, Any], card: Card) -> Arrays:
    """``rendered_chairs.tar`` or its unpacked ``rendered_chairs`` folder (or a folder holding either); ``seed``:
    the draw of the card's chair models; ``total``: how many model folders the draw is from; ``crop``: the side of
    the centred square kept of each render before resizing (0: the whole image)."""
    where, models = _views(spec)
    seed, crop = int(spec.get("seed", 0)), int(spec.get("crop", 0))
    check_count(len(models), int(spec.get("total", 0)), "chair models", where)
    chosen = choose(list(models), card.classes, seed)
    print(f"{card.name}: classes 0-{card.classes - 1} are chair models {', '.join(chosen)}")
    todo = [(label, view, item) for label, name in enumerate(chosen) for view, item in models[name]]
    images: dict[tuple[int, str], np.ndarray] = {}
    if isinstance(todo[0][2], tarfile.TarInfo):
        try:
            with tarfile.open(where, "r:*") as tf:
                for label, view, m in sorted(todo, key=lambda t: t[2].offset):  # archive order: no seeking back
                    images[label, view] = _decode(tf.extractfile(m).read(), card, f"{where}:{m.name}", crop)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataError(f"{where}: unreadable archive ({exc})") from None
    else:
        for label, view, p in todo:
            images[label, view] = _decode(p.read_bytes(), card, str(p), crop)
    keys = sorted(images)  # by class, then view name: independent of archive or folder order
    return {"all": (np.stack([images[k] for k in keys]), np.array([k[0] for k in keys], dtype=np.int64))}
