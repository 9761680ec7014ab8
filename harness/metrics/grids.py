"""Sample grids: one row per class code, one column per noise vector (shared down each column)."""

from __future__ import annotations

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


def match_codes(predicted: np.ndarray, codes: np.ndarray, classes: int) -> list[int]:
    """Class matched to each class code (Hungarian, scipy), from a classifier's predictions of samples of
    every code: the one-to-one mapping that agrees with the most predictions."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(table, (codes, predicted), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return [int(c) for _, c in sorted(zip(rows, cols, strict=True))]


def label_rows(grid: np.ndarray, labels: list[str], rows: int, pad: int = 2) -> np.ndarray:
    """The grid with a left margin naming each row (PIL's built-in font)."""
    from PIL import ImageDraw

    height = grid.shape[0]
    margin = 8 + 7 * max(len(t) for t in labels)
    out = Image.new("RGB", (grid.shape[1] + margin, height), "white")
    out.paste(Image.fromarray(grid), (margin, 0))
    draw = ImageDraw.Draw(out)
    row_h = (height - pad) / rows
    for r, text in enumerate(labels):
        draw.text((4, pad + r * row_h + row_h / 2 - 5), text, fill="black")
    return np.asarray(out)


def add_title(grid: np.ndarray, text: str, pad: int = 5, size: int = 13) -> np.ndarray:
    """The grid under a white band holding ``text`` (PIL's built-in font at ``size`` px), widened if the
    text is wider."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=font)
    band = bottom - top + 2 * pad
    width = max(grid.shape[1], right - left + 2 * pad)
    out = Image.new("RGB", (width, grid.shape[0] + band), "white")
    out.paste(Image.fromarray(grid), (0, band))
    ImageDraw.Draw(out).text((pad - left, pad - top), text, fill="black", font=font)
    return np.asarray(out)
