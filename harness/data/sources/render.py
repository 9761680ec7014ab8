"""Rendered views as a card's images: composited on white, a centred square cropped, resized to the card's size and
channels (shared by the 3D-Cars and 3D-Chairs readers)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from harness.config.cards import Card, DataError


def fit_view(image: Image.Image, card: Card, where: str, crop: int = 0) -> np.ndarray:
    """``image`` -> (H, W, C) uint8 of the card: its central ``crop`` x ``crop`` square (0: the largest square),
    resized with Lanczos filtering; transparent pixels become white (renders are on a white background)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    image = image.convert("RGB" if card.shape[0] == 3 else "L")
    w, h = image.size
    side = crop or min(w, h)
    if side > min(w, h):
        raise DataError(f"{where}: a {side}x{side} crop does not fit in the {w}x{h} image")
    left, top = (w - side) // 2, (h - side) // 2
    image = image.crop((left, top, left + side, top + side))
    size = (card.shape[2], card.shape[1])
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    arr = np.asarray(image, dtype=np.uint8)
    return arr if arr.ndim == 3 else arr[..., None]


def check_count(count: int, total: int, what: str, where: str) -> None:
    """A class rule that indexes a list of ``total`` items holds only for a list of that length (0: unchecked)."""
    if total and count != total:
        raise DataError(f"{where}: {count} {what}, the card's class rule indexes a list of {total}")


def pick(items: list[str], indices: list[int], total: int, what: str, where: str) -> list[str]:
    """``items[i]`` for each index, after checking that the list is the one the indices were taken from."""
    check_count(len(items), total, what, where)
    bad = [i for i in indices if not 0 <= i < len(items)]
    if bad:
        raise DataError(f"{where}: index {bad[0]} outside the {len(items)} {what}")
    if len(set(indices)) != len(indices):
        raise DataError(f"{where}: the card's indices name one of the {what} twice")
    return [items[i] for i in indices]
