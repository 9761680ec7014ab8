"""Build webdataset shards plus manifest.json from a dataset card; idempotent and safe to interrupt."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from filelock import FileLock

from harness.config.cards import Card, DataError, data_root, load_card
from harness.core.progress import bar
from harness.data.manifest import (
    MANIFEST,
    Manifest,
    ShardInfo,
    SplitInfo,
    atomic_write_text,
    read_manifest,
    sha256_file,
    verify_shards,
)
from harness.data.samples import encode_sample
from harness.data.sources.read import read_source


def shard_dir(card: Card, root: str = "") -> Path:
    return data_root(root) / card.name


def _check_arrays(card: Card, split: str, images: np.ndarray, labels: np.ndarray, source: str) -> None:
    c, h, w = card.shape
    if images.dtype != np.uint8 or images.shape[1:] != (h, w, c):
        raise DataError(
            f"{source} {split}: images are {images.dtype} {images.shape[1:]}, card {card.path} says uint8 {(h, w, c)}"
        )
    if len(images) != len(labels):
        raise DataError(f"{source} {split}: {len(images)} images but {len(labels)} labels")
    bad = labels[(labels < 0) | (labels >= card.classes)]
    if bad.size:
        raise DataError(f"{source} {split}: label {int(bad[0])} outside [0, {card.classes})")
    want = card.expected.get(split)
    if want is not None and want != len(labels):
        raise DataError(f"{source} {split}: {len(labels)} samples, card {card.path} expects {want}")


def _write_split(
    out: Path, split: str, images: np.ndarray, labels: np.ndarray, card: Card, shard_size: int, progress: bool
) -> SplitInfo:
    import webdataset as wds

    order = np.random.default_rng(card.shuffle_seed).permutation(len(labels))
    with wds.ShardWriter(str(out / f"{split}-%06d.tar"), maxcount=shard_size, verbose=0, mtime=0) as writer:
        for pos, src in enumerate(bar(order, desc=f"{card.name}/{split}", unit="img", disable=not progress)):
            key = f"{split}-{pos:07d}"
            writer.write(encode_sample(key, images[src], int(labels[src])))
    names = sorted(p.name for p in out.glob(f"{split}-*.tar"))
    counts = [min(shard_size, len(labels) - i * shard_size) for i in range(len(names))]
    if sum(counts) != len(labels):
        raise DataError(f"{out}: wrote {len(names)} shards for {len(labels)} samples of size {shard_size}")
    shards = [ShardInfo(n, c, sha256_file(out / n)) for n, c in zip(names, counts, strict=True)]
    per_class = np.bincount(labels, minlength=card.classes).tolist()
    return SplitInfo(count=len(labels), per_class=per_class, shards=shards)


def built_problem(card: Card, out: Path, check_hashes: bool = True, shard_size: int = 0) -> str | None:
    """Why ``out`` does not hold this exact card's shards (None when it does): no manifest, an invalid one,
    another card version or shard size, a missing shard or (with ``check_hashes``) a changed one."""
    if not (out / MANIFEST).is_file():
        return f"no {MANIFEST} in {out}"
    try:
        man = read_manifest(str(out))
        if man.card_sha256 != card.sha256:
            return f"{out / MANIFEST} was written from another version of {card.path}"
        if shard_size and man.shard_size != shard_size:
            return f"{out / MANIFEST} has shards of {man.shard_size} samples, not {shard_size}"
        if check_hashes:
            verify_shards(str(out), man)
        else:
            missing = [s.name for sp in man.splits.values() for s in sp.shards if not (out / s.name).is_file()]
            if missing:
                return f"shard {out / missing[0]} listed in {out / MANIFEST} is missing"
    except DataError as exc:
        return str(exc)
    return None


def build(
    dataset: str,
    root: str = "",
    shard_size: int = 0,
    progress: bool = True,
    force: bool = False,
    source: str | None = None,
    out: Path | None = None,
) -> Path:
    """Write ``<root>/<name>/{split}-NNNNNN.tar`` (or into ``out``) and ``manifest.json``; a no-op when
    already built from the same card.

    Shards are written to a temporary folder first; the old manifest is removed before any shard is
    replaced and the new one is written last, so a manifest never describes missing or partial shards.
    ``source`` (a path or URL) replaces the card's source locations.
    """
    card = load_card(dataset)
    out = Path(out) if out else shard_dir(card, root)
    out.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".build.lock")):
        problem = built_problem(card, out, shard_size=shard_size)
        if not force and problem is None:
            return out
        if progress and (out / MANIFEST).exists():
            print(f"rebuilding {out}: {'asked to (--force)' if force else problem}")
        source, arrays = read_source(card, source)
        tmp = out / f".tmp-build-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            splits = {}
            for split, (images, labels) in sorted(arrays.items()):
                _check_arrays(card, split, images, labels, source)
                splits[split] = _write_split(tmp, split, images, labels, card, shard_size or card.shard_size, progress)
            size = shard_size or card.shard_size
            man = Manifest(
                card.name,
                card.classes,
                list(card.shape),
                source,
                card.sha256,
                splits,
                shard_size=size,
                shuffle_seed=card.shuffle_seed,
            )
            (out / MANIFEST).unlink(missing_ok=True)
            for old in out.glob("*.tar"):
                old.unlink()
            for shard in tmp.glob("*.tar"):
                os.replace(shard, out / shard.name)
            atomic_write_text(out / MANIFEST, man.to_json())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def ensure_built(dataset: str, root: str = "", progress: bool = True) -> Path:
    """The shard folder for ``dataset``, built on first use (an empty or absent folder).

    A folder that already holds shards is never rebuilt behind the user's back: a missing shard, an
    invalid manifest or shards of another card version stop with a message naming the file and the
    command that rebuilds it (nothing is deleted).
    """
    card = load_card(dataset)
    out = shard_dir(card, root)
    if not (out / MANIFEST).exists() and not any(out.glob("*.tar")):
        return build(dataset, root, progress=progress)
    problem = built_problem(card, out, check_hashes=False)
    if problem is not None:
        cmd = f"codegan-data build {card.name}{f' --root {root}' if root else ''} --force"
        raise DataError(f"{problem}; nothing was changed (rebuild: {cmd})")
    return out
