"""What the pixel baseline's k-means costs, and how far cheaper settings land from the full computation.

    python -m scripts.pixel_kmeans_cost [--dataset fashion-mnist] [--split test] [--seeds 5]
                                        [--out bench/pixel-kmeans-<dataset>.json]

Every variant runs the same seeds on the same split: full (k-means on all pixels, n_init 10, the
reference protocol), fewer restarts, mini-batch k-means, and PCA to 50 or 100 components first. For each:
seconds (PCA included), the mean ACC/NMI/ARI over seeds, their differences from the full computation,
and the ARI between each seed's assignment and the full computation's for the same seed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score

from harness.data.build import ensure_built
from harness.data.manifest import read_manifest
from harness.data.stream import load_split
from harness.metrics.cluster import assignment_scores
from harness.metrics.pixels import pixel_features, pixel_seeds

VARIANTS = {
    "full (all pixels, n_init 10)": (0, "kmeans", 10),
    "all pixels, n_init 3": (0, "kmeans", 3),
    "all pixels, mini-batch, n_init 10": (0, "minibatch", 10),
    "PCA 100, n_init 10": (100, "kmeans", 10),
    "PCA 50, n_init 10": (50, "kmeans", 10),
    "PCA 50, n_init 3": (50, "kmeans", 3),
}


def run(images: torch.Tensor, labels: np.ndarray, k: int, seeds: list[int], pca: int, kind: str, n_init: int):
    t = time.perf_counter()
    feats = pixel_features(images, pca)
    preds = []
    for seed in seeds:
        algo = KMeans if kind == "kmeans" else MiniBatchKMeans
        extra = {} if kind == "kmeans" else {"batch_size": 2048}
        preds.append(algo(n_clusters=k, n_init=n_init, random_state=seed, **extra).fit_predict(feats))
    seconds = time.perf_counter() - t
    scores = [assignment_scores(labels, p) for p in preds]
    return seconds, preds, {m: float(np.mean([s[m] for s in scores])) for m in scores[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--root", default="")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    location = str(ensure_built(args.dataset, args.root))
    man = read_manifest(location)
    data = load_split(location, man, args.split)
    labels, seeds = data["label"].numpy(), pixel_seeds(args.seeds)
    rows, full_preds = [], None
    for name, (pca, kind, n_init) in VARIANTS.items():
        seconds, preds, means = run(data["image"], labels, man.classes, seeds, pca, kind, n_init)
        full_preds = full_preds or preds
        full = rows[0]["scores"] if rows else means
        agree = [adjusted_rand_score(a, b) for a, b in zip(full_preds, preds, strict=True)]
        rows.append({"variant": name, "pca": pca, "algorithm": kind, "n_init": n_init, "seconds": seconds,
                     "scores": means, "minus_full": {m: means[m] - full[m] for m in means},
                     "ari_to_full_per_seed": float(np.mean(agree))})  # fmt: skip
        print(
            f"{name:<36} {seconds:7.1f} s  ACC {means['acc']:.3f} ({means['acc'] - full['acc']:+.3f})  NMI"
            f" {means['nmi']:.3f} ({means['nmi'] - full['nmi']:+.3f})  agreement (ARI) {np.mean(agree):.3f}"
        )
    out = args.out or Path("bench") / f"pixel-kmeans-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "dataset": args.dataset,
        "split": args.split,
        "images": int(len(labels)),
        "pixels": int(np.prod(man.shape)),
        "seeds": args.seeds,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "load_before": os.getloadavg(),
        "variants": rows,
    }
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
