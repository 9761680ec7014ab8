"""Result records of finished runs, grouped by result identity, and the one spread every table shows.

A record is a run folder's ``summary.json`` (status ``complete``) or one of its
``eval-<eval hash>-step<N>.json`` re-scorings. Tables pool records as seeds only when their result key
(:func:`harness.identity.result_key`: training config without the seed, step reached, world size,
precision, evaluation settings, data) is the same, and count one trained model once. The spread is the
sample standard deviation over seeds (ddof = 1).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.config.registry import entries, label
from harness.config.registry import lower_is_better as lower_is_better  # tables import it from here

T = TypeVar("T")

STD_NOTE = "± is the sample standard deviation over training seeds (ddof = 1); n counts seeds (distinct trained runs)."
ONE_NOTE = "With n = 1 the single value is shown, marked (n=1), with no ±."
# the parts of a result identity beside the training config, and how tables name them
PARTS = {"step": "step", "world_size": "world size", "mixed_precision": "precision", "data": "data", "start": "start"}


PIXELS_LABEL = "k-means on raw pixels (beside every run)"
PIXELS = "baseline/pixels_"  # the pixel baseline's metric prefix


@dataclass
class Record:
    """One measured result of one trained model."""

    source: str  # the record's file (or W&B run URL)
    kind: str  # summary | eval
    dataset: str
    seed: int
    run: str  # the run folder: one trained model
    run_hash: str
    eval_hash: str
    identity: dict[str, Any]
    key: str  # result key
    metrics: dict[str, float]
    time: float = 0.0  # when it was written (the newest evaluation of a run is its latest)
    tag: str = ""  # a re-scoring's file tag (eval-<tag>.json)
    written_label: str = ""  # the method's name as the run that wrote the record knew it (a plugin's label)
    flat: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.flat = flat_identity(self.identity)

    @property
    def label(self) -> str:
        train = self.identity.get("train", {})
        known = str(train.get("method", "")) in entries()
        return method_label(train) if known or not self.written_label else self.written_label


def method_label(train: dict[str, Any]) -> str:
    """The paper's name for a run's method (and the variant its training config selects): the registry's."""
    return label(train)


def flat_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """One level: training keys and evaluation keys as they are, plus step, world_size, mixed_precision, data,
    start (``-`` from scratch, else ``<run hash>@<step>`` of each checkpoint it started from) and
    ``extractor/<name>`` (the weights, resize and input size of each image metric's extractor)."""
    flat = {k: v for k, v in identity.items() if k not in ("train", "eval", "start", "extractors")}
    flat["start"] = " > ".join(f"{s.get('run_hash')}@{s.get('step')}" for s in identity.get("start", [])) or "-"
    for name, y in identity.get("extractors", {}).items():  # the yardstick of each image metric, one column each
        flat[f"extractor/{name}"] = (
            f"{str(y.get('weights_sha256', ''))[:12]} {y.get('resize', '')} {y.get('input_size')}px"
        )
    return {**identity.get("train", {}), **flat, **identity.get("eval", {})}


class LegacyRecord(Exception):
    """A result file written before results carried their identity."""


def record_from_file(path: Path) -> Record | None:
    """The record a ``summary.json`` or ``eval-<tag>.json`` holds; None when it is not a finished result."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    kind = "eval" if path.name.startswith("eval-") else "summary"
    if kind == "summary" and info.get("status") != "complete":
        return None
    if kind == "eval" and info.get("kind") != "eval":
        return None
    if "identity" not in info:
        raise LegacyRecord(path)
    return Record(
        source=str(path),
        kind=kind,
        dataset=str(info["dataset"]),
        seed=int(info["seed"]),
        run=str(path.parent.resolve()),
        run_hash=str(info["run_hash"]),
        eval_hash=str(info.get("eval_hash", "")),
        identity=info["identity"],
        key=str(info["result_key"]),
        metrics={k: v for k, v in info["metrics"].items() if isinstance(v, (int, float))},
        time=path.stat().st_mtime,
        tag=path.stem.removeprefix("eval-") if kind == "eval" else "",
        written_label=str(info.get("method_label", "")),
    )


def some_paths(paths: Iterable[Path], shown: int = 3) -> str:
    """The first ``shown`` paths, sorted, and how many more (for one-line notes)."""
    paths = sorted(set(paths))
    return ", ".join(map(str, paths[:shown])) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def unfinished_folders(roots: Iterable[Path]) -> list[Path]:
    """Run folders (they hold ``run.json``) under ``roots`` without a complete ``summary.json``: still running,
    stopped, failed, or their summary lost."""
    out = set()
    for root in roots:
        for info in Path(root).rglob("run.json"):
            try:
                done = json.loads((info.parent / "summary.json").read_text()).get("status") == "complete"
            except (OSError, ValueError, AttributeError):
                done = False
            if not done:
                out.add(info.parent)
    return sorted(out)


def load_records(roots: Iterable[Path], note: Any = None, unfinished: bool = True) -> list[Record]:
    """Every finished result under ``roots``: ``summary.json`` (complete) and ``eval-*.json``. Run folders of
    an older harness (no result identity) are left out with one line on ``note`` (default stderr), and so,
    unless ``unfinished`` is false, are run folders without a complete summary (one line naming them)."""
    roots = [Path(r) for r in roots]
    seen: set[Path] = set()
    records, legacy = [], []
    for root in roots:
        for path in sorted([*root.rglob("summary.json"), *root.rglob("eval-*.json")]):
            real = path.resolve()
            if real in seen:  # overlapping roots
                continue
            seen.add(real)
            try:
                record = record_from_file(path)
            except LegacyRecord:
                legacy.append(path.parent)
                continue
            if record is not None:
                records.append(record)
    out = note or sys.stderr
    if legacy:
        print(f"skipped {len(set(legacy))} run folder(s) without a result identity (older harness):"
              f" {some_paths(legacy)}", file=out)  # fmt: skip
    missing = unfinished_folders(roots) if unfinished else []
    if missing:
        print(f"left out {len(missing)} unfinished run folder(s) (no complete summary.json: running, stopped or"
              f" failed): {some_paths(missing)}", file=out)  # fmt: skip
    return records


def run_record(run_dir: Path, eval_id: str) -> Record | None:
    """The result of one run folder under the evaluation settings ``eval_id`` (an evaluation hash): its
    summary, else its newest re-scoring with those settings."""
    found = []
    for path in [run_dir / "summary.json", *sorted(run_dir.glob("eval-*.json"))]:
        try:
            record = record_from_file(path) if path.is_file() else None
        except LegacyRecord:
            return None
        if record is not None and record.eval_hash == eval_id:
            if record.kind == "summary":
                return record
            found.append(record)
    return max(found, key=lambda r: r.time, default=None)


def select(records: list[Record], which: str = "all") -> list[Record]:
    """``all``: every record; ``latest``: each run's newest record; else the records of that evaluation: an
    evaluation hash or a re-scoring's file tag (``eval-<tag>.json``), a prefix being enough."""
    if which == "all":
        return list(records)
    if which == "latest":
        newest: dict[str, Record] = {}
        for r in records:
            if r.run not in newest or r.time > newest[r.run].time:
                newest[r.run] = r
        return [r for r in records if newest[r.run] is r]
    return [r for r in records if r.eval_hash.startswith(which) or (r.tag and r.tag.startswith(which))]


def pool(
    items: Iterable[T],
    key: Callable[[T], str],
    run: Callable[[T], str],
    newer: Callable[[T, T], bool] = lambda new, old: False,
) -> dict[str, list[T]]:
    """The one pooling rule of every table (leaderboard, curves, sweep aggregates, comparisons): items (result
    records, trial rows) by result ``key``, a trained model (``run``) counted once per result: the first item
    seen, or the one ``newer`` prefers. Groups and items keep the order they were first seen in."""
    groups: dict[str, dict[str, T]] = {}
    for item in items:
        runs = groups.setdefault(key(item), {})
        r = run(item)
        if r not in runs or newer(item, runs[r]):
            runs[r] = item
    return {k: list(runs.values()) for k, runs in groups.items()}


def group(records: list[Record]) -> dict[str, list[Record]]:
    """Records by result key; a trained model (run hash) counts once per result, its newest record kept."""
    pooled = pool(records, lambda r: r.key, lambda r: r.run_hash, lambda new, old: new.time > old.time)
    return {key: sorted(runs, key=lambda r: r.seed) for key, runs in pooled.items()}


def pixel_groups(records: list[Record]) -> dict[tuple[Any, ...], list[Record]]:
    """The k-means-on-pixels baseline beside the runs, by dataset, evaluation split, data and k-means (and
    PCA) settings; each distinct computation once (runs that share one report the very same numbers)."""
    out: dict[tuple[Any, ...], dict[str, Record]] = {}
    for r in records:
        scores = {k: v for k, v in r.metrics.items() if k.startswith(PIXELS)}
        if f"{PIXELS}acc" in scores:
            out.setdefault(pixel_key(r), {}).setdefault(json.dumps(scores, sort_keys=True), r)
    return {key: sorted(runs.values(), key=lambda r: r.seed) for key, runs in out.items()}


def pixel_identity(record: Record) -> dict[str, Any]:
    """What the pixel baseline's numbers depend on (besides the seed)."""
    ev = record.identity.get("eval", {})
    keep = ("eval.split", "eval.kmeans_seeds", "eval.kmeans_n_init", "eval.pixel_pca")
    return {"data": record.identity.get("data"), **{k: ev.get(k) for k in keep}}


def pixel_key(record: Record) -> tuple[Any, ...]:
    return (record.dataset, *(json.dumps(v, default=str) for v in pixel_identity(record).values()))


def spread(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof = 1; None for one value)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else None


def pm(mean: float, sd: float | None, digits: int = 3) -> str:
    """``mean ± sd``; without a spread (one seed) ``mean (n=1)``; no value ``–``."""
    if mean is None or mean != mean:  # None or NaN
        return "–"
    if sd is None or sd != sd:
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def kmeans_pm(metrics: dict[str, float], key: str, digits: int = 3) -> str:
    """One computation's ``value ± its k-means spread`` (``<key>_std``), marked as that spread."""
    return pm(metrics[key], metrics.get(f"{key}_std"), digits) + " (k-means)"


def mean_sd(values: list[float], digits: int = 3, n: int | None = None) -> str:
    """``mean ± sd`` of the values; one value as ``value (n=1)``; ``(n=k)`` added where only k of n have it."""
    if not values:
        return "–"
    mean, sd = spread(values)
    partial = f" (n={len(values)})" if sd is not None and n is not None and len(values) != n else ""
    return pm(mean, sd, digits) + partial


def distinguishing(items: list[tuple[Any, dict[str, Any]]]) -> list[str]:
    """Identity keys to show as columns, from (family, flat identity) pairs: every key that differs between
    two results of one family (a method), and the step, launch, evaluation and data parts that differ between
    any two results (training keys that differ only between methods are the methods' presets)."""
    keys: set[str] = set()
    families: dict[Any, list[dict[str, Any]]] = {}
    for family, flat in items:
        families.setdefault(family, []).append(flat)
    for flats in families.values():
        keys |= _varying(flats)
    outer = {k for k in _varying([flat for _, flat in items]) if k in PARTS or k.startswith("eval.")}
    return order(keys | outer)


def varying_in_family(family: Any, items: list[tuple[Any, dict[str, Any]]]) -> set[str]:
    """Keys whose shown value differs between the results of one family (a method)."""
    flats = [f for fam, f in items if fam == family]
    every = {k for f in flats for k in f}
    return {k for k in every if len({show(f.get(k)) for f in flats}) > 1}


def identity_cells(items: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, str]]:
    """For (family, flat identity) pairs, the cells that tell each result apart from the others, by column
    name (:func:`distinguishing`, :func:`short_names`): a training key is filled only where it varies within
    the row's own family (a method's other keys are its preset), the step, launch, data and evaluation parts
    everywhere. The same columns in the leaderboard and the labels of learning curves."""
    keys = distinguishing(items)
    names = short_names(keys)
    out = []
    for family, flat in items:
        own = varying_in_family(family, items)
        out.append({names[k]: show(flat.get(k)) if k in own or "." not in k or k.startswith("eval.") else ""
                    for k in keys})  # fmt: skip
    return out


def _varying(flats: list[dict[str, Any]]) -> set[str]:
    """Keys with two different values among the identities that have them."""
    every = {k for f in flats for k in f}
    return {k for k in every if len({json.dumps(f[k], sort_keys=True, default=str) for f in flats if k in f}) > 1}


def order(keys: Iterable[str]) -> list[str]:
    """Step, launch and data parts first, then evaluation keys, then training keys."""
    keys = set(keys)
    first = [k for k in PARTS if k in keys]
    evals = sorted(k for k in keys if k.startswith("eval."))
    return first + evals + sorted(keys - set(first) - set(evals))


def short_names(keys: Iterable[str]) -> dict[str, str]:
    """Column names: the identity parts' names, else a key's last dotted part unless two keys share it."""
    keys = list(keys)
    tails = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: PARTS.get(k) or (t if tails.count(t) == 1 else k) for k, t in zip(keys, tails, strict=True)}


def show(value: Any) -> str:
    """A config value in a table cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
