"""Shards the harness did not build: webdataset URLs (brace patterns, lists, ``pipe:``, http) or a folder
of ``.tar`` files without ``manifest.json``.

They are scanned once (samples per shard, classes, image shape, sha256 of every shard), the result is
cached in the project's cache, never beside the shards, and it serves as the run's manifest, so equal
steps per rank and exact resume work as on built shards. Member names follow webdataset's conventions:
the key is the name up to its first dot, ``.png``/``.jpg``/``.jpeg`` hold the image, ``.cls`` the class
index (or ``.json`` with a ``label``/``cls``/``class`` field).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from harness.config.cards import Card, DataError
from harness.core.atomic import atomic_write_text
from harness.core.cache import cache_dir
from harness.core.progress import bar
from harness.data.manifest import Manifest, ShardInfo, SplitInfo, is_remote
from harness.data.remote import DEFAULT, Limits
from harness.data.samples import check_members, decode_image, label_of, read_shard
from harness.data.tarstream import iter_samples


def _key(urls: dict[str, list[str]], name: str) -> str:
    """Cache key: the URLs, and for local files their size and modification time (a changed file is rescanned)."""
    parts = []
    for split, items in sorted(urls.items()):
        for url in items:
            stat = os.stat(url) if not is_remote(url) and os.path.exists(url) else None
            parts.append([split, url, stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return hashlib.sha256(json.dumps([name, parts]).encode()).hexdigest()[:16]


def scan_split(
    urls: list[str], split: str, progress: bool, limits: Limits = DEFAULT
) -> tuple[list[ShardInfo], list[int], tuple[int, ...]]:
    """(shards with counts and sha256, labels of every sample, image shape C,H,W) of one split's shards."""
    shards, labels, shape = [], [], None
    for url in bar(urls, desc=f"scan {split} shards (once)", unit="shard", disable=not progress):
        data = read_shard(url, limits=limits)
        n = 0
        for smp in iter_samples(data, url):
            check_members(smp, url)
            if shape is None:
                img = decode_image(smp, url, None)
                shape = tuple(img.shape)
            labels.append(label_of(smp, url))
            n += 1
        if n == 0:
            raise DataError(f"shard {url}: no samples")
        shards.append(ShardInfo(url, n, hashlib.sha256(data).hexdigest()))
    assert shape is not None
    return shards, labels, shape


def scan(
    urls: dict[str, list[str]], name: str, card: Card | None, progress: bool = True, limits: Limits = DEFAULT
) -> Manifest:
    """The manifest of foreign shards: read from the cache, or scanned (once) and cached."""
    seen: dict[str, str] = {}
    for split, items in urls.items():
        if not items:
            raise DataError(f"no shards in the {split} URLs")
        for url in items:  # refused before any shard is read: a shard listed 10,000 times is not scanned 10,000 times
            if url in seen:
                raise DataError(f"{split} shard {url} is listed again (first in {seen[url]}); list every shard once")
            seen[url] = split
    path = cache_dir("scans") / f"{Path(name).stem}-{_key(urls, name)}.json"
    if path.is_file():
        return Manifest.from_json(path.read_text(), str(path), plain_names=False)  # names: the run's own URLs
    splits, shape, top = {}, None, 0
    for split, items in urls.items():
        shards, labels, split_shape = scan_split(items, split, progress, limits)
        if shape is not None and split_shape != shape:
            raise DataError(f"{split} shards hold {split_shape} images, the others {shape}")
        shape = split_shape
        top = max(top, max(labels) + 1)
        splits[split] = (shards, labels)
    classes = card.classes if card is not None else top
    if card is not None and (top > card.classes or tuple(card.shape) != shape):
        raise DataError(
            f"the shards hold {top} classes of {shape} images, card {card.path} says {card.classes} of"
            f" {tuple(card.shape)}: set data.dataset to a new name for shards of another dataset"
        )
    if min(min(lbl) for _, lbl in splits.values()) < 0:
        raise DataError("negative class index in the shards")
    man = Manifest(
        dataset=card.name if card is not None else Path(name).stem,
        classes=classes,
        shape=list(shape),
        source=f"scan of {sum(len(v) for v in urls.values())} shards",
        card_sha256=card.sha256 if card is not None else "",
        splits={
            s: SplitInfo(len(lbl), np.bincount(lbl, minlength=classes).tolist(), shards)
            for s, (shards, lbl) in splits.items()
        },
        members=["image", "label"],
    )
    repeated = man.repeated()  # the same bytes under two addresses
    if repeated:
        raise DataError(f"scanned shards: {repeated}")
    atomic_write_text(path, man.to_json())
    if progress:
        counts = ", ".join(f"{s}: {v.count} samples in {len(v.shards)} shards" for s, v in man.splits.items())
        print(f"scanned shards not built here ({counts}; {classes} classes of {shape}); cached in {path}")
    return man
