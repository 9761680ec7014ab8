"""Fidelity and diversity apart: improved precision and recall (Kynkäänniemi et al. 2019: k = 3, as torch-fidelity's
``prc``) and density and coverage (Naeem et al. 2020: k = 5), from k-nearest-neighbour balls in an extractor's
feature space. Precision: the share of generated images inside the real images' manifold; recall: the share of real
images inside the generated images'; density counts how many real balls hold each generated image; coverage: the
share of real images whose ball holds a generated image. At most :data:`MAX_SAMPLES` of each side (the first ones:
generated images are drawn in seeded order, reference features are a fixed random subset)."""

from __future__ import annotations

import numpy as np
import torch

MAX_SAMPLES = 5000
K_PR, K_DC = 3, 5
_CHUNK = 1024


def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """The distance from each row to its k-th nearest other row."""
    radii = []
    for chunk in feats.split(_CHUNK):
        d = torch.cdist(chunk, feats)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 0th is the row itself
    return torch.cat(radii)


def _within(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, how many of the balls (centres, radii) hold it."""
    counts = []
    for chunk in points.split(_CHUNK):
        counts.append((torch.cdist(chunk, centres) <= radii[None, :]).sum(1))
    return torch.cat(counts)


def _reaches(points: torch.Tensor, radii: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """For each point, whether one of ``others`` lies within its own radius."""
    hits = []
    for chunk, r in zip(points.split(_CHUNK), radii.split(_CHUNK), strict=True):
        hits.append((torch.cdist(chunk, others) <= r[:, None]).any(1))
    return torch.cat(hits)


def prdc(fake: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` features."""
    f = torch.as_tensor(np.asarray(fake[:MAX_SAMPLES]), dtype=torch.float64)
    r = torch.as_tensor(np.asarray(real[:MAX_SAMPLES]), dtype=torch.float64)
    if min(len(f), len(r)) <= K_DC:
        return {}
    real_pr, fake_pr, real_dc = knn_radii(r, K_PR), knn_radii(f, K_PR), knn_radii(r, K_DC)
    return {
        "precision": float((_within(f, r, real_pr) > 0).double().mean()),
        "recall": float((_within(r, f, fake_pr) > 0).double().mean()),
        "density": float(_within(f, r, real_dc).double().sum() / (K_DC * len(f))),
        "coverage": float(_reaches(r, real_dc, f).double().mean()),
    }


def compute(feats: np.ndarray, ref: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    """The registered metric: ``precision``, ``recall``, ``density``, ``coverage`` against the real split's kept
    features."""
    return prdc(feats, ref["feats"])
