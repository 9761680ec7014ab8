"""k-means on raw pixels: the floor every method must clear. Nothing to train; always on the leaderboard."""

from __future__ import annotations

import torch
from accelerate import Accelerator

from harness.config import Config
from harness.gan import DataInfo
from harness.registry import register_method


@register_method("pixels-kmeans")
class PixelsKMeans:
    """Scores are the cached pixel baseline of the eval split (harness/evaluate/pixels.py): one computation
    shared with the ``baseline/pixels_*`` numbers beside every run."""

    pixels = True
    trains = False
    generates = False
    argmax_tag = ""

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        self.cfg, self.acc, self.classes = cfg, accelerator, info.classes
        self.nets: dict = {}

    @property
    def device(self) -> torch.device:
        return self.acc.device

    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).float()

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
