"""Clustering scores: ACC by Hungarian matching, purity, NMI and ARI, over several k-means seeds.

ACC maps clusters to classes one-to-one (``scipy.optimize.linear_sum_assignment``); purity maps each
cluster to its majority class (many-to-one), which is what the reference code calls ACC. Both are
reported, labelled, so numbers can be compared with the paper's table.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from harness.config import registry
from harness.core.progress import bar


def hungarian_acc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Best one-to-one cluster -> class mapping accuracy."""
    table = contingency_matrix(y_true, y_pred)  # classes x clusters
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(y_true))


def purity(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Each cluster counted as its majority class."""
    table = contingency_matrix(y_true, y_pred)
    return float(table.max(axis=0).sum() / len(y_true))


def assignment_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The registered clustering metric: ``acc``, ``purity``, ``nmi`` and ``ari`` of clusters against classes."""
    return {
        "acc": hungarian_acc(y_true, y_pred),
        "purity": purity(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred)),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
    }


def cluster_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every registered metric of an assignment of images to clusters (:mod:`harness.metrics`)."""
    out: dict[str, float] = {}
    for entry in registry.metrics_needing("clusters"):
        out.update(registry.metric(entry.name)(y_true, y_pred))
    return out


def kmeans_scores(
    features: np.ndarray,
    labels: np.ndarray,
    k: int,
    seeds: list[int],
    n_init: int,
    prefix: str = "eval/",
    desc: str | None = None,
) -> dict[str, float]:
    """k-means with each seed; every score's mean under ``<prefix><name>`` and std under ``..._std`` (the
    population std over the k-means seeds of this one feature set). ``desc`` shows a progress bar."""
    feats = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    runs = []
    for seed in bar(seeds, desc=desc, unit="seed", disable=desc is None, leave=False):
        pred = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(feats)
        runs.append(cluster_metrics(labels, pred))
    out: dict[str, float] = {}
    for name in runs[0]:
        vals = np.array([r[name] for r in runs])
        out[f"{prefix}{name}"] = float(vals.mean())
        out[f"{prefix}{name}_std"] = float(vals.std())
    return out
