"""FID: the Fréchet distance between Gaussians fitted to generated and real features (clean-fid's distance)."""

from __future__ import annotations

import numpy as np
from cleanfid.fid import frechet_distance

from harness.metrics.features import moments


def fid(feats: np.ndarray, ref_mu: np.ndarray, ref_sigma: np.ndarray) -> float:
    mu, sigma = moments(feats)
    return float(frechet_distance(mu, sigma, ref_mu, ref_sigma))


def compute(feats: np.ndarray, ref: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    """The registered metric: ``fid`` of generated features against a real split's statistics."""
    return {"fid": fid(feats, ref["mu"], ref["sigma"])}
