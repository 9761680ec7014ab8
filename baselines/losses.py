"""The information terms of the baselines, on logits (never a softmax before the cross-entropy)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def categorical_code_loss(logits: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of a head's class logits against the sampled class code: InfoGAN's categorical MI
    lower bound up to the code's constant entropy, and ClusterGAN's z_c term.

    Popular ports apply softmax to the logits and then ``CrossEntropyLoss`` (a second softmax), which
    flattens the gradient; this takes raw logits.
    """
    return F.cross_entropy(logits.float(), c)


def gaussian_nll(mu: torch.Tensor, logvar: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of continuous codes ``x`` under N(mu, exp(logvar)), summed over code
    dimensions and averaged over the batch (InfoGAN's continuous term)."""
    mu, logvar, x = mu.float(), logvar.float(), x.float()
    nll = 0.5 * (math.log(2 * math.pi) + logvar + (x - mu) ** 2 * torch.exp(-logvar))
    return nll.sum(1).mean()
