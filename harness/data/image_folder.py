"""A plain folder of images as shards: ``data.root=DIR`` where DIR holds PNG or JPEG files, grey or RGB, of one size,
either directly (no labels) or in one subfolder per class (the subfolders' names, sorted, are classes 0, 1, ...).

The images are written once into webdataset shards in the project's cache (never beside them), keyed by every file's
name, size and modification time, and then read like any shards the harness did not build (:mod:`harness.data.foreign`).
One image of every ten of each class, drawn with a fixed seed, is held out as the ``test`` split. Images of two sizes
or of both grey and RGB are refused, naming one file of each: nothing is resized behind the user's back.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.config.cards import DataError
from harness.config.locations import folder_shards, foreign_urls, image_files, image_folder
from harness.core.atomic import atomic_write_text
from harness.core.cache import cache_dir, cache_lock
from harness.core.progress import bar

HELD_OUT = 10  # one image in HELD_OUT of each class is in the test split
SHARD_SIZE = 1000
DONE = "images.json"  # written last: the shards of the folder are complete
KEEP = {"L": "L", "RGB": "RGB", "1": "L", "LA": "L", "P": "RGB", "RGBA": "RGB", "CMYK": "RGB"}  # mode -> stored as


def _read(path: Path) -> tuple[str, tuple[int, int], str, bytes]:
    """(suffix, (width, height), mode as stored, the member's bytes: the file itself, or re-encoded as PNG)."""
    try:
        with Image.open(path) as img:
            img.load()
            mode, size = img.mode, img.size
            if mode not in KEEP:
                raise DataError(f"{path}: image mode {mode} (only grey or RGB images, 8 bits per channel, are read)")
            if KEEP[mode] == mode and img.format in ("PNG", "JPEG"):
                return ("png" if img.format == "PNG" else "jpg"), size, mode, path.read_bytes()
            buf = io.BytesIO()
            img.convert(KEEP[mode]).save(buf, format="PNG")
            return "png", size, KEEP[mode], buf.getvalue()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:  # a bomb: too many pixels to decode
        raise DataError(f"{path}: not a readable PNG or JPEG image ({exc})") from None


def _split(files: dict[str, list[Path]]) -> dict[str, list[tuple[Path, int]]]:
    """(file, class index) of each split: of every class, one in HELD_OUT (at least one of two or more) held out."""
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for k, name in enumerate(files):
        paths = files[name]
        held = max(1, len(paths) // HELD_OUT) if len(paths) > 1 else 0
        order = np.random.default_rng(k).permutation(len(paths))
        out["test"] += [(paths[i], k) for i in sorted(order[:held])]
        out["train"] += [(paths[i], k) for i in sorted(order[held:])]
    return {split: items for split, items in out.items() if items}


def _key(folder: Path, files: dict[str, list[Path]]) -> str:
    stats = [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for v in files.values() for p in v]
    return hashlib.sha256(json.dumps([str(folder.resolve()), stats]).encode()).hexdigest()[:16]


def images_as_shards(folder: Path, progress: bool = True) -> dict[str, list[str]]:
    """The shards of a folder of images (written once into the cache), by split."""
    import webdataset as wds

    files = image_files(folder)
    if files is None:
        raise DataError(f"{folder}: no PNG or JPEG images in it or in its subfolders")
    out = cache_dir("images", f"{folder.resolve().name}-{_key(folder, files)}")
    with cache_lock(out / DONE):
        if not (out / DONE).is_file():
            labelled, first = files.keys() != {""}, None
            for split, items in _split(files).items():
                with wds.ShardWriter(str(out / f"{split}-%06d.tar"), maxcount=SHARD_SIZE, verbose=0, mtime=0) as w:
                    for i, (path, k) in enumerate(bar(items, desc=f"images -> {split} shards (once)",
                                                      disable=not progress)):  # fmt: skip
                        kind, size, mode, data = _read(path)
                        first = first or (path, size, mode)
                        if (size, mode) != first[1:]:
                            raise DataError(
                                f"{first[0]} is a {first[1][0]}x{first[1][1]} {first[2]} image, {path} a {size[0]}x"
                                f"{size[1]} {mode} one: the images of a folder must be of one size and mode"
                                " (resize or convert them first)"
                            )
                        sample = {"__key__": f"{split}-{i:07d}", kind: data}
                        if labelled:
                            sample["cls"] = str(k).encode()
                        w.write(sample)
            classes = [name for name in files if name]
            atomic_write_text(out / DONE, json.dumps({"folder": str(folder.resolve()), "classes": classes}))
            if progress:
                print(f"images of {folder} written as shards into {out} (once)", flush=True)
    found = folder_shards(out)
    assert found is not None
    return found


def shard_urls(cfg: Any, name: str, progress: bool = True) -> dict[str, list[str]] | None:
    """The splits' shard URLs of a run on shards the harness did not build (:func:`foreign_urls`) or on a folder of
    images at ``data.root`` (its shards, written once); None for harness-built ones (``cfg``: the run's config)."""
    urls = foreign_urls(cfg, name)
    folder = image_folder(cfg, name) if urls is None else None
    return images_as_shards(folder, progress) if folder is not None else urls
