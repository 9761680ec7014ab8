"""Where a method loses quality, code by code: each class code's samples against the real images of the class the
code stands for, and the codes that collapsed. CoDeGAN's argument against InfoGAN is a mode collapse "for some
certain class": one FID over all codes cannot tell two collapsed codes of ten from uniform blur.

A code stands for the real class its samples are matched to one-to-one (Hungarian): by the dataset's classifier's
labels where the extractor has them, else by the distance between the code's and the class's mean features. Its
recall is the share of that class's real images inside its samples' manifold (precision and recall's k = 3 balls,
:mod:`harness.metrics.prdc`). A code is collapsed when its recall is below :data:`COLLAPSE_RECALL`, or when the
classifier puts fewer than half of its samples in its class (they fall in another code's). Its FID is StudioGAN's
intra-class FID carried to unsupervised codes: the code's samples against its matched class's real images, with the
same Fréchet distance as the overall FID (biased upwards at few samples per code, so compare it only between runs of
the same ``eval.fid_samples`` and K). Needs the real images' labels beside their reference features."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from harness.metrics.features import CodedSamples
from harness.metrics.grids import match_codes
from harness.metrics.prdc import K_PR, MAX_SAMPLES, _within, knn_radii

COLLAPSE_RECALL = 0.1
MIN_SHARE = 0.5


def matched_classes(s: CodedSamples) -> list[int]:
    """The real class each code stands for."""
    if s.logits is not None and s.knows_the_classes:
        return match_codes(s.logits.argmax(1), s.codes, s.classes)
    labels = s.ref["labels"]
    cost = np.zeros((s.classes, s.classes))
    for k in range(s.classes):
        mine = s.feats[s.codes == k]
        for c in range(s.classes):
            theirs = s.ref["feats"][labels == c]
            cost[k, c] = np.linalg.norm(mine.mean(0) - theirs.mean(0)) if len(mine) and len(theirs) else np.inf
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e30))
    return [int(c) for _, c in sorted(zip(rows, cols, strict=True))]


def code_recall(fake: np.ndarray, real: np.ndarray) -> float:
    f = torch.as_tensor(fake[:MAX_SAMPLES], dtype=torch.float64)
    r = torch.as_tensor(real[:MAX_SAMPLES], dtype=torch.float64)
    if len(f) <= K_PR or not len(r):
        return float("nan")
    return float((_within(r, f, knn_radii(f, K_PR)) > 0).double().mean())


def code_fid(fake: np.ndarray, real: np.ndarray) -> float:
    """FID of one code's samples against its class's real features (NaN with fewer than two of either).

    The same Fréchet distance as clean-fid's ``frechet_distance``, with tr((S_f S_r)^1/2) taken as the sum of the
    square roots of the eigenvalues of S_r^1/2 S_f S_r^1/2 (two symmetric eigendecompositions) instead of scipy's
    ``sqrtm`` of the non-symmetric product: for 2,048-d Inception features, 2.7 s against 57 s per code on this
    2-core CPU, and it is computed K times per evaluation; equal to clean-fid's to 1e-8 (tests/test_code_metrics.py).
    """
    if len(fake) < 2 or len(real) < 2:
        return float("nan")
    fake, real = np.asarray(fake, dtype=np.float64), np.asarray(real, dtype=np.float64)
    s_f, s_r = np.cov(fake, rowvar=False), np.cov(real, rowvar=False)
    w, v = np.linalg.eigh(s_r)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s_f @ root), 0, None)).sum()
    return float(((fake.mean(0) - real.mean(0)) ** 2).sum() + np.trace(s_f) + np.trace(s_r) - 2 * cross)


def is_collapsed(recall: float, share: float = 1.0) -> bool:
    """A code that covers too little of its class, or whose samples mostly fall in another class."""
    return not recall >= COLLAPSE_RECALL or share < MIN_SHARE


def compute(s: CodedSamples) -> dict[str, float]:
    """The registered metric: ``code_recall_<k>``, ``code_fid_<k>`` (and, with the dataset's classifier,
    ``code_share_<k>``: the share of its samples in its class) for each code, ``code_recall_min``, ``code_fid_max``
    and ``collapsed_codes``."""
    if "labels" not in s.ref:
        return {}
    matched = matched_classes(s)
    predicted = s.logits.argmax(1) if s.logits is not None and s.knows_the_classes else None
    out: dict[str, float] = {}
    collapsed = 0
    for k, c in enumerate(matched):
        mine = s.codes == k
        real = s.ref["feats"][s.ref["labels"] == c]
        recall = code_recall(s.feats[mine], real)
        out[f"code_fid_{k}"] = code_fid(s.feats[mine], real)
        share = float((predicted[mine] == c).mean()) if predicted is not None and mine.any() else 1.0
        out[f"code_recall_{k}"] = recall
        if predicted is not None:
            out[f"code_share_{k}"] = share
        collapsed += int(is_collapsed(recall, share))
    finite = [v for k, v in out.items() if k.startswith("code_recall_") and np.isfinite(v)]
    out["code_recall_min"] = float(min(finite)) if finite else float("nan")
    fids = [v for k, v in out.items() if k.startswith("code_fid_") and np.isfinite(v)]
    out["code_fid_max"] = float(max(fids)) if fids else float("nan")
    out["collapsed_codes"] = float(collapsed)
    return out
