"""scikit-learn's bundled copy of the UCI optical digits (the embedded default dataset)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.config.cards import Card
from harness.data.sources.base import Arrays


def read_sklearn_digits(spec: dict[str, Any], card: Card) -> Arrays:
    """1,797 8x8 images with intensities 0..16, scaled to 0..255; no official split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return {"all": (images, bunch.target.astype(np.int64))}
