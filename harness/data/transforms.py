"""Device-side conversion of uint8 batches into the float images the networks see."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_unit(images: torch.Tensor, size: int = 0) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [0, 1], resized (bilinear, antialiased) when ``size`` differs."""
    x = images.float().div_(255.0)
    if size and (x.shape[-2] != size or x.shape[-1] != size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)
    return x
