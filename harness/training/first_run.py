"""The one-time work of a first run, announced in one line with its estimated time before any of it starts.

A run on a dataset this machine has not prepared yet builds the shards, trains the domain classifier, computes the
reference statistics and k-means on raw pixels, each cached afterwards (README, One-time costs). Which of them this
run will pay is read from the data root and the cache; what each costs is what ``scripts/first_run_costs.py``
measured for the dataset (``bench/first-run-<dataset>.json`` of a source checkout), said as such, since another
machine or load takes another time. Without a measurement the jobs are named without a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.config.cards import PACKAGE_ROOT, Card, load_card
from harness.core.cache import cache_dir
from harness.core.errors import DataError
from harness.data.build import shard_dir
from harness.data.manifest import MANIFEST, is_remote

MEASURED = PACKAGE_ROOT / "bench"  # first-run-<dataset>.json, written by scripts/first_run_costs.py
JOBS = {  # job -> its key in the measurement's "seconds"
    "building the shards": "shards_s",
    "training the domain classifier": "domain_classifier_s",
    "reference statistics": "reference_statistics_s",
    "k-means on raw pixels": "pixel_baseline_s",
}


def pending(cfg: Config, card: Card, size: int) -> list[str]:
    """The one-time jobs of :data:`JOBS` this run will do: the shards when their folder is empty, and each cached
    evaluation input of the dataset at this size that the cache holds for no version of its data yet."""
    jobs = []
    out = shard_dir(card, cfg.data.root)
    if not (out / MANIFEST).exists() and not any(out.glob("*.tar")):
        jobs.append("building the shards")
    if "domain" in cfg.eval.quality and not any(cache_dir("extractors").glob(f"domain-{card.name}-{size}px*.pt")):
        jobs.append("training the domain classifier")
        jobs.append("reference statistics")  # of that classifier's features: none can exist before it
    if cfg.eval.pixel_baseline and not any(cache_dir("pixels").glob(f"{card.name}-{cfg.eval.split}-*.json")):
        jobs.append("k-means on raw pixels")
    return jobs


def measured(dataset: str, folder: Path = MEASURED) -> dict[str, Any] | None:
    """The first-run costs measured for ``dataset``, or None."""
    path = folder / f"first-run-{dataset}.json"
    try:
        return json.loads(path.read_text()) | {"path": path}
    except (OSError, ValueError):
        return None


def _duration(seconds: float) -> str:
    return "<1 s" if seconds < 1 else f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def announcement(cfg: Config, folder: Path = MEASURED) -> str:
    """The line announcing this run's one-time work ('' when there is none, or the data is not a known card's)."""
    if cfg.data.train_urls or is_remote(cfg.data.root):
        return ""
    try:
        card = load_card(cfg.data.dataset)
    except DataError:
        return ""
    jobs = pending(cfg, card, cfg.data.image_size or card.shape[1])
    if not jobs:
        return ""
    costs = measured(card.name, folder)
    known = costs.get("seconds", {}) if costs else {}
    seconds = {j: float(known[JOBS[j]]) for j in jobs if JOBS[j] in known}
    if not seconds:
        return f"one-time work before training ({card.name}): {', '.join(jobs)}; each is cached for later runs"
    parts = ", ".join(f"{j} {_duration(seconds[j])}" if j in seconds else j for j in jobs)
    return (
        f"one-time work before training ({card.name}): about {_duration(sum(seconds.values()))} ({parts}), as measured"
        f" with {costs.get('threads', '?')} threads on a {costs.get('cpu', 'CPU')} ({Path(costs['path']).name}; this"
        " machine and its load may differ); each is cached for later runs"
    )
