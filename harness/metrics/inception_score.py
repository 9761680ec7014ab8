"""IS: Salimans et al.'s Inception Score, ``exp E_x KL(p(y|x) || p(y))``, from a classifier's logits of generated
images (the domain classifier's, or Inception's)."""

from __future__ import annotations

import math

import numpy as np
import torch


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and std over ``splits`` equal parts.

    Every part holds ``n // splits`` samples (the last ``n mod splits`` are left out): an uneven last
    part would bias the mean (a part of one image has IS exactly 1).
    """
    logp = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1)
    splits = max(1, min(splits, len(logp)))
    size = len(logp) // splits
    scores = []
    for part in logp[: size * splits].split(size):
        p_y = torch.logsumexp(part, 0) - math.log(len(part))
        scores.append(float(torch.exp((part.exp() * (part - p_y)).sum(1).mean())))
    return float(np.mean(scores)), float(np.std(scores))


def compute(logits: np.ndarray) -> dict[str, float]:
    """The registered metric: ``is`` and ``is_std`` over 10 splits."""
    mean, std = inception_score(logits)
    return {"is": mean, "is_std": std}
