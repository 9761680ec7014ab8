"""Shards the harness did not build: webdataset URLs (brace patterns, lists, ``pipe:``, http) or a folder
of ``.tar`` files without ``manifest.json``.

They are scanned once (samples per shard, classes, image shape, sha256 of every shard), the result is
cached in the project's cache, never beside the shards, and it serves as the run's manifest, so equal
steps per rank and exact resume work as on built shards. Member names follow webdataset's conventions:
the key is the name up to its first dot, ``.png``/``.jpg``/``.jpeg`` hold the image, ``.cls`` the class
index (or ``.json`` with a ``label``/``cls``/``class`` field). Labels are optional, all or none: shards whose
samples have none are scanned as such (``members`` ``["image"]``, no classes).
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
from harness.data.samples import check_members, decode_image, has_label, label_of, read_shard
from harness.data.tarstream import iter_samples


def _key(urls: dict[str, list[str]], name: str) -> str:
    """Cache key: the URLs, and for local files their size and modification time (a changed file is rescanned)."""
    parts = []
    for split, items in sorted(urls.items()):
        for url in items:
            stat = os.stat(url) if not is_remote(url) and os.path.exists(url) else None
            parts.append([split, url, stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return hashlib.sha256(json.dumps([name, parts]).encode()).hexdigest()[:16]


def first_image_shape(url: str, limits: Limits = DEFAULT) -> tuple[int, int, int]:
    """The shape (C, H, W) of the first image of a shard: the shape a scan of its split reports."""
    for smp in iter_samples(read_shard(url, limits=limits), url):
        check_members(smp, url, labelled=False)
        return tuple(decode_image(smp, url, None).shape)
    raise DataError(f"shard {url}: no samples")


def scan_split(
    urls: list[str], split: str, progress: bool, limits: Limits = DEFAULT
) -> tuple[list[ShardInfo], list[int], tuple[int, ...]]:
    """(shards with counts and sha256, labels of every sample, image shape C,H,W) of one split's shards; no labels
    when its samples have no label member (all or none of them must have one)."""
    shards, labels, shape = [], [], None
    first: tuple[str, str, bool] | None = None  # the first sample: (shard, key, has a label)
    for url in bar(urls, desc=f"scan {split} shards (once)", unit="shard", disable=not progress):
        data = read_shard(url, limits=limits)
        n = 0
        for smp in iter_samples(data, url):
            check_members(smp, url, labelled=False)
            if first is None:
                first = (url, str(smp["__key__"]), has_label(smp))
                shape = tuple(decode_image(smp, url, None).shape)
            if has_label(smp) != first[2]:
                mine, theirs = ("no label", "one") if first[2] else ("a label", "none")
                raise DataError(
                    f"shard {url}, sample '{smp['__key__']}' has {mine} (cls or json member), sample '{first[1]}' of"
                    f" {first[0]} has {theirs}: label every sample or none"
                )
            if first[2]:
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
    splits, shape, top, labelled = {}, None, 0, True
    for split, items in urls.items():
        shards, labels, split_shape = scan_split(items, split, progress, limits)
        if shape is not None and split_shape != shape:
            raise DataError(f"{split} shards hold {split_shape} images, the others {shape}")
        if splits and bool(labels) != labelled:
            have, others = ("labels", "none") if labels else ("no labels", "labels")
            raise DataError(f"the {split} shards have {have} (cls or json members), the others {others}: label every"
                            " sample or none")  # fmt: skip
        shape, labelled = split_shape, bool(labels)
        top = max(top, max(labels, default=-1) + 1)
        splits[split] = (shards, labels)
    classes = (card.classes if card is not None else top) if labelled else 0
    if card is not None and (top > card.classes or tuple(card.shape) != shape):
        raise DataError(
            f"the shards hold {top} classes of {shape} images, card {card.path} says {card.classes} of"
            f" {tuple(card.shape)}: set data.dataset to a new name for shards of another dataset"
        )
    if min(min(lbl, default=0) for _, lbl in splits.values()) < 0:
        raise DataError("negative class index in the shards")
    man = Manifest(
        dataset=card.name if card is not None else Path(name).stem,
        classes=classes,
        shape=list(shape),
        source=f"scan of {sum(len(v) for v in urls.values())} shards",
        card_sha256=card.sha256 if card is not None else "",
        splits={
            s: SplitInfo(sum(i.count for i in shards), np.bincount(lbl, minlength=classes).tolist(), shards)
            for s, (shards, lbl) in splits.items()
        },
        members=["image", "label"] if labelled else ["image"],
    )
    repeated = man.repeated()  # the same bytes under two addresses
    if repeated:
        raise DataError(f"scanned shards: {repeated}")
    atomic_write_text(path, man.to_json())
    if progress:
        counts = ", ".join(f"{s}: {v.count} samples in {len(v.shards)} shards" for s, v in man.splits.items())
        what = f"{classes} classes" if labelled else "no labels (no cls or json member)"
        print(f"scanned shards not built here ({counts}; {what} of {shape}); cached in {path}")
    return man
