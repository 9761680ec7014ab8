"""k-means on raw pixels: the floor every method must clear, computed once per dataset split and cached.

The k-means seeds are fixed (not the run's seed), so every run, seed and preset of a dataset shares one
computation, and the ``pixels-kmeans`` preset reports the very same numbers. ``eval.pixel_pca`` projects the
pixels on their leading principal components first (PCA, scikit-learn), which keeps a 10,000 x 784 split
under a minute on a 2-core CPU; ``scripts/pixel_kmeans_cost.py`` measures the cost and the agreement with
k-means on the full pixels.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch

from harness.config import Config
from harness.core.atomic import atomic_write_text
from harness.core.cache import cache_dir
from harness.core.seeding import derive_seed
from harness.data.manifest import Manifest
from harness.metrics.cluster import kmeans_scores


def pixel_seeds(count: int) -> list[int]:
    return [derive_seed(0, "pixel-kmeans", i) for i in range(count)]


def pixel_features(images: torch.Tensor, pca: int) -> np.ndarray:
    """uint8 images -> pixels in [0, 1], flattened, projected on ``pca`` principal components (0 = all)."""
    pixels = images.flatten(1).float().div(255.0).numpy().astype(np.float64)
    if pca and pca < min(pixels.shape):  # a PCA needs fewer components than samples and pixels
        from sklearn.decomposition import PCA

        pixels = PCA(n_components=pca, random_state=0).fit_transform(pixels)
    return pixels


def pixel_baseline(
    data: dict[str, Any], man: Manifest, cfg: Config, prefix: str = "baseline/pixels_", progress: bool = False
) -> dict[str, float]:
    """k-means scores of the raw pixels of ``eval.split`` (native resolution), cached in the project's
    cache (never beside the shards, which may be read-only) by data, PCA and k-means setup."""
    seeds, pca, n_init = pixel_seeds(cfg.eval.kmeans_seeds), cfg.eval.pixel_pca, cfg.eval.kmeans_n_init
    shards = [s.sha256 for s in man.splits[cfg.eval.split].shards]
    key = hashlib.sha256(json.dumps([man.dataset, shards, seeds, n_init, pca]).encode()).hexdigest()[:16]
    path = cache_dir("pixels") / f"{man.dataset}-{cfg.eval.split}-{key}.json"
    if not path.is_file():
        n, dims = len(data["label"]), int(np.prod(man.shape))
        if progress:
            space = f"{pca} principal components of {dims}" if pca and pca < dims else f"{dims}"
            where = f"{man.dataset}/{cfg.eval.split}"
            print(f"one-time: k-means on raw pixels of {where} ({n} x {space}); cached in {path}", flush=True)
        feats = pixel_features(data["image"], pca)
        desc = "pixel baseline (once)" if progress else None
        scores = kmeans_scores(feats, data["label"].numpy(), man.classes, seeds, n_init, prefix="", desc=desc)
        atomic_write_text(path, json.dumps(scores, indent=1))
    scores = json.loads(path.read_text())
    return {f"{prefix}{k}": v for k, v in scores.items()}
