"""Sample grids: one row per class code, one column per noise vector (shared down each column)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def class_grid(images: torch.Tensor, rows: int, min_cell: int = 32, pad: int = 2) -> np.ndarray:
    """(rows*cols, C, H, W) in [0, 1], row-major -> (H', W', 3) uint8, cells upscaled to ``min_cell``."""
    n, c, h, w = images.shape
    cols = n // rows
    scale = max(1, -(-min_cell // max(h, w)))
    x = images.clamp(0, 1)
    if scale > 1:
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
    x = x.expand(-1, 3, -1, -1) if c == 1 else x
    hh, ww = h * scale, w * scale
    canvas = torch.ones(3, rows * (hh + pad) + pad, cols * (ww + pad) + pad)
    for i in range(rows * cols):
        r, k = divmod(i, cols)
        top, left = pad + r * (hh + pad), pad + k * (ww + pad)
        canvas[:, top : top + hh, left : left + ww] = x[i]
    return (canvas.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_png(grid: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
