"""Readers that turn a dataset source into uint8 image arrays (N, H, W, C) and int64 labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.data.cards import Card, DataError

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split ("train"/"test"/"all") -> (images, labels)
SOURCES: dict[str, Callable[[dict[str, Any], Card], Arrays]] = {}


def register_source(kind: str) -> Callable:
    def wrap(fn: Callable[[dict[str, Any], Card], Arrays]) -> Callable:
        SOURCES[kind] = fn
        return fn

    return wrap


@register_source("sklearn-digits")
def read_sklearn_digits(spec: dict[str, Any], card: Card) -> Arrays:
    """scikit-learn's bundled copy of the UCI digits: intensities 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return {"all": (images, bunch.target.astype(np.int64))}


def stratified_split(images: np.ndarray, labels: np.ndarray, test_size: int, seed: int) -> Arrays:
    """A deterministic class-stratified train/test split (scikit-learn's, with a fixed seed)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(idx, test_size=test_size, stratify=labels, random_state=seed)
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return {"train": (images[train_idx], labels[train_idx]), "test": (images[test_idx], labels[test_idx])}


def read_source(card: Card) -> tuple[str, Arrays]:
    """Try the card's sources in order; return the first that works as (description, split arrays)."""
    tried = []
    for spec in card.sources:
        kind = spec.get("kind", "")
        reader = SOURCES.get(kind)
        if reader is None:
            tried.append(f"{kind}: unknown source kind (known: {', '.join(sorted(SOURCES))})")
            continue
        try:
            arrays = reader(spec, card)
        except (FileNotFoundError, OSError, ImportError) as exc:
            tried.append(f"{kind}: {exc}")
            continue
        if "all" in arrays:
            if not card.split:
                raise DataError(f"{card.path}: source '{kind}' has no splits and the card gives no 'split' rule")
            arrays = stratified_split(*arrays["all"], **card.split)
        return kind, arrays
    raise DataError(f"no source for dataset '{card.name}' could be read; tried:\n  " + "\n  ".join(tried))
