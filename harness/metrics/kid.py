"""KID: the kernel (polynomial MMD) distance of generated and real features, as clean-fid computes it, its subset
draws seeded; mean and spread over the subsets, as torch-fidelity reports them."""

from __future__ import annotations

import numpy as np
from cleanfid.fid import kernel_distance


def kid_subsets(
    feats: np.ndarray, ref: np.ndarray, seed: int, subsets: int = 100, subset_size: int = 1000
) -> np.ndarray:
    """clean-fid's kernel distance of each of ``subsets`` seeded subset draws (it uses numpy's global
    generator; one call per subset draws exactly what one call over all subsets would), so that KID is
    their mean and its standard deviation their spread, as torch-fidelity reports it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        return np.array([kernel_distance(feats, ref, 1, subset_size) for _ in range(subsets)])
    finally:
        np.random.set_state(state)


def kid(feats: np.ndarray, ref: np.ndarray, seed: int) -> float:
    """clean-fid's kernel distance (100 subsets of up to 1,000) with its subset draws seeded."""
    return float(kid_subsets(feats, ref, seed).mean())


def compute(feats: np.ndarray, ref: dict[str, np.ndarray], seed: int) -> dict[str, float]:
    """The registered metric: ``kid`` (and ``kid_std`` over its subsets) against a real split's kept features."""
    parts = kid_subsets(feats.astype(np.float64), ref["feats"].astype(np.float64), seed)
    return {"kid": float(parts.mean()), "kid_std": float(parts.std())}
