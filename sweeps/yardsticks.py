"""One yardstick per sweep: the driver makes the image metrics' extractors (the domain classifier), their reference
statistics and real-vs-real floors once, before any trial starts, exactly as a run's main process would, and hands
the files to every trial, which puts them in its own node's cache before it trains. Trials on nodes with separate
caches therefore score with the very same weights and statistics, and their results pool (a result's identity
holds its extractors' weights: two yardsticks would never pool)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from harness.config import Config, build_config
from harness.core.atomic import atomic_write_bytes
from harness.core.cache import cache_dir
from harness.core.errors import DataError, RunError

FOLDERS = ("extractors", "fid-stats")


def _needs(cfg: Config) -> tuple[Any, ...]:
    """What decides a run's yardstick files (the data, its size, the extractors and splits)."""
    d, e = cfg.data, cfg.eval
    return (d.dataset, d.root, tuple(d.train_urls), tuple(d.eval_urls), d.image_size, tuple(e.quality), e.fid_split,
            e.split, e.fid_samples, e.inception_weights)  # fmt: skip


def prepare(presets: dict[str, str], overrides: dict[str, Any], trials: list[dict[str, Any]]) -> dict[str, bytes]:
    """Make (or find cached) every trial's yardstick files in this process's cache; their bytes by cache path."""
    # torch and the metrics only when a sweep starts: its --dry-run and --help need none
    from harness.data.remote import Limits
    from harness.data.stream import load_split
    from harness.metrics.quality import QualityEvaluator
    from harness.parallel.accelerator import make_accelerator
    from harness.training.run_data import shard_location

    datasets, seen = set(), set()
    for trial in trials:
        cfg = build_config(presets[trial["method"]], values={**overrides, **trial}, trusted_values=True)
        if not cfg.eval.quality or _needs(cfg) in seen:
            continue
        seen.add(_needs(cfg))
        try:
            location, man, _ = shard_location(cfg, main=True)
            acc = make_accelerator(cfg, precision="no")
            eval_data = load_split(location, man, cfg.eval.split, cfg.data.on_error, Limits.of(cfg.data))
            same = cfg.eval.fid_split == cfg.eval.split
            QualityEvaluator(cfg, acc, location, man, cfg.data.image_size or man.shape[1],
                             eval_data if same else None, eval_data)  # fmt: skip
        except (DataError, RunError, OSError) as exc:  # data only the trials' nodes can read: they make their own
            why = " ".join(str(exc).split())[:200]
            print(f"note: the driver cannot make the yardstick of {cfg.data.dataset} ({why}); each node makes its own,"
                  " and results pool only where those are the same")  # fmt: skip
            continue
        datasets.add(man.dataset)
    return collect(datasets)


def collect(datasets: set[str]) -> dict[str, bytes]:
    """The cache files of these datasets' yardsticks: domain classifiers, reference statistics, floors."""
    root, out = cache_dir(), {}
    for dataset in datasets:
        patterns = (f"domain-{dataset}-*", f"{dataset}-*", f"floor-{dataset}-*")
        for folder in FOLDERS:
            for pattern in patterns:
                for path in (root / folder).glob(pattern):
                    if path.is_file() and not path.name.endswith(".lock"):
                        out[f"{folder}/{path.name}"] = path.read_bytes()
    return out


def install(files: dict[str, bytes]) -> int:
    """Put the driver's yardstick files into this node's cache (a differing file of the same name is replaced: the
    sweep scores with one yardstick); how many were written."""
    root, written = cache_dir(), 0
    for rel, data in files.items():
        path = root / Path(rel)
        if path.parent.name not in FOLDERS or ".." in Path(rel).parts:
            continue  # only the cache folders the driver sends
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest():
            continue
        atomic_write_bytes(path, data)
        written += 1
    return written
