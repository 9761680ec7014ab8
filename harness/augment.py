"""Batched image augmentations that run on the device, drawn from an explicit torch.Generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop(
    x: torch.Tensor,
    scale: tuple[float, float],
    generator: torch.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    per_sample: bool = True,
) -> torch.Tensor:
    """torchvision's RandomResizedCrop semantics (area fraction in ``scale``, aspect in ``ratio``), resized
    back to the input size with bilinear sampling, one crop per image (or one per batch).

    Boxes that would not fit are shrunk to fit instead of re-drawn, which keeps the op one vectorised
    affine resample.
    """
    n = x.shape[0]
    draws = 1 if not per_sample else n
    u = torch.rand(draws, 4, device=x.device, generator=generator)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # fraction of the width
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (1 - w) * (2 * u[:, 2] - 1)  # box centre in [-1, 1] coordinates
    cy = (1 - h) * (2 * u[:, 3] - 1)
    theta = torch.zeros(draws, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    if draws == 1:
        theta = theta.expand(n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
