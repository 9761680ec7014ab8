"""k-means on raw pixels: the floor every method must clear. Nothing to train; always on the leaderboard."""

from __future__ import annotations

import torch

from harness.methods.contract import Method


class PixelsKMeans(Method):
    """Scores are the cached pixel baseline of the eval split (harness/evaluate/pixels.py): one computation
    shared with the ``baseline/pixels_*`` numbers beside every run."""

    scores_pixels = True
    trains = False
    generates = False

    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()
