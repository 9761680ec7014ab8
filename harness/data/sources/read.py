"""Reading a card's sources: its ``sources`` in priority order (``kind`` plus options), tried in turn by
:func:`read_source`, each kind's reader found in the registry. A reader raises :class:`SourceMissing` when its
files are simply not there (the next source is tried) and :class:`DataError` when they are there but wrong (the
build stops).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.config import registry
from harness.config.cards import Card, DataError
from harness.data.sources.base import Arrays, SourceMissing
from harness.data.sources.download import fetch, is_url


def stratified_split(images: np.ndarray, labels: np.ndarray, test_size: int, seed: int) -> Arrays:
    """A deterministic class-stratified train/test split (scikit-learn's, with a fixed seed)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return {"train": (images[train_idx], labels[train_idx]), "test": (images[test_idx], labels[test_idx])}


def source_specs(card: Card, override: str | None) -> list[dict[str, Any]]:
    """The card's sources, or, with ``override`` (a path or URL), every path-taking source pointed at it."""
    if not override:
        return list(card.sources)
    specs, seen = [], set()
    for s in card.sources:  # one attempt per source kind: the same folder is not tried (and reported) twice
        if "path" in s and s.get("kind") not in seen:
            seen.add(s.get("kind"))
            specs.append({**s, "path": override})
    if not specs:
        raise DataError(f"{card.path}: no source of '{card.name}' takes a path, so --source cannot be used")
    return specs


def read_source(card: Card, override: str | None = None) -> tuple[str, Arrays]:
    """Try the sources in order; return the first that works as (description, arrays split train/test)."""
    tried = []
    for spec in source_specs(card, override):
        kind = spec.get("kind", "")
        if kind not in registry.entries("source"):
            known = ", ".join(registry.names("source"))
            raise DataError(f"{card.path}: unknown source kind '{kind}' (known: {known})")
        reader = registry.source(kind)
        try:
            if is_url(str(spec.get("path", ""))):
                spec = {**spec, "path": str(fetch(spec["path"], spec.get("sha256", ""), md5=spec.get("md5", "")))}
            arrays = reader(spec, card)
        except SourceMissing as exc:
            tried.append(f"{kind}: {exc}")
            continue
        if "all" in arrays:
            if not card.split:
                raise DataError(f"{card.path}: source '{kind}' has no splits and the card gives no 'split' rule")
            arrays = stratified_split(*arrays["all"], **card.split)
        where = spec.get("path") or spec.get("url") or ""
        return f"{kind}:{where}" if where else kind, arrays
    hint = f"\nTo get it: {card.fetch}" if card.fetch else ""
    raise DataError(f"no source of dataset '{card.name}' could be read; looked at:\n  " + "\n  ".join(tried) + hint)
