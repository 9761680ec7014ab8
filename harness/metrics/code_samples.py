"""Generated images an equal count per class code, and what the paper's figures read of them: the method's class
features (Fig. 4) and the dataset classifier's probability of the class each code stands for (Fig. 3 b, c)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.special import softmax

from harness.metrics.features import quantise
from harness.metrics.grids import match_codes
from harness.metrics.per_code import is_collapsed


@torch.no_grad()
def per_code(
    method: Any, count: int, seed: int, net: torch.nn.Module | None = None, batch: int = 500
) -> tuple[torch.Tensor, np.ndarray]:
    """``count`` generated images of every code as uint8 on the CPU, code by code, and their codes; drawn with a
    generator seeded by ``seed`` from G (or ``net``, the EMA copy)."""
    gen = torch.Generator(device=method.device).manual_seed(seed)
    images, codes = [], []
    for k in range(method.classes):
        for start in range(0, count, batch):
            z, c = method.latent(min(batch, count - start), class_index=k, generator=gen)
            images.append(quantise(method.sample(z, c, net)).cpu())
            codes.append(c.cpu())
    return torch.cat(images), torch.cat(codes).numpy()


@torch.no_grad()
def logits_of(classify: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, device: Any, batch: int = 500):
    """The classifier's logits (uint8 images -> logits, as :meth:`QualityEvaluator.classifier`) as a float array."""
    return torch.cat([classify(chunk.to(device)).float().cpu() for chunk in images.split(batch)]).numpy()


def matched_probability(logits: np.ndarray, codes: np.ndarray, classes: int) -> tuple[np.ndarray, list[int]]:
    """Each image's softmax probability of the class its code is matched to (Hungarian, over the classifier's
    labels of all the images, as the sample grids match them), and each code's matched class."""
    matched = match_codes(logits.argmax(1), codes, classes)
    probs = softmax(logits.astype(np.float64), axis=1)
    return probs[np.arange(len(codes)), np.asarray(matched)[codes]], matched


def lowest(prob: np.ndarray, codes: np.ndarray, classes: int, count: int) -> list[np.ndarray]:
    """Per code, the indices of its ``count`` images of lowest probability, lowest first (ties: the earlier)."""
    out = []
    for k in range(classes):
        mine = np.flatnonzero(codes == k)
        out.append(mine[np.argsort(prob[mine], kind="stable")[:count]])
    return out


def collapsed(metrics: dict[str, float], classes: int) -> list[bool] | None:
    """Which codes an evaluation found collapsed (:func:`harness.metrics.per_code.is_collapsed` of its
    ``eval/code_recall_<k>_<extractor>`` and ``code_share``), by the dataset's classifier where it measured them;
    None when it measured no per-code recall."""
    found = sorted(k.removeprefix("eval/code_recall_min_") for k in metrics if k.startswith("eval/code_recall_min_"))
    if not found:
        return None
    ext = "domain" if "domain" in found else found[0]
    out = []
    for k in range(classes):
        recall = metrics.get(f"eval/code_recall_{k}_{ext}", float("nan"))
        out.append(is_collapsed(recall, metrics.get(f"eval/code_share_{k}_{ext}", 1.0)))
    return out
