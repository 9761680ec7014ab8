"""The contract between the Trainer and a method: everything the Trainer calls, with defaults for the optional parts.

A method subclasses :class:`Method` (a GAN subclasses :class:`harness.gan.GANMethod`, which fills in networks,
optimizers, sampling and state) and is named in the registry (:mod:`harness.config.registry`). The Trainer never
probes a method for an attribute: what a method does not override is the default here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from accelerate import Accelerator
    from torch import nn

    from harness.config import Config


@dataclass(frozen=True)
class DataInfo:
    classes: int
    shape: tuple[int, int, int]  # C, H, W as the networks see it


class Method:
    """Flags and optional parts, with their defaults.

    * ``trains``: False = nothing to train (k-means baselines): the Trainer only evaluates.
    * ``generates``: False = no generator (k-means baselines, encoder pre-training): no grids, FID or EMA.
    * ``argmax_tag``: non-empty = :meth:`predict_class` gives a class directly, scored as ``eval/<score>_<tag>``.
    * ``scores_pixels``: True = the method's scores are the cached pixel baseline itself (k-means on pixels).
    """

    name = ""  # set from the registry when the class is loaded
    trains = True
    generates = True
    argmax_tag = ""
    scores_pixels = False

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        self.cfg, self.acc, self.rng = cfg, accelerator, generator
        self.classes, self.shape = info.classes, info.shape
        self.nets: dict[str, nn.Module] = {}

    @property
    def device(self) -> torch.device:
        """The Accelerator's device; a CPU as plain ``cpu`` (Accelerate names it ``cpu:<rank>`` with several
        processes, which a compiled graph takes for another device than its parameters')."""
        device = self.acc.device
        return type(device)("cpu") if device.type == "cpu" else device

    # stages and artifacts -------------------------------------------------------------------
    @classmethod
    def stage_config(cls, cfg: Config) -> Config | None:
        """``stage=pretrain``: the config of this method's pre-training stage (None: it has none)."""
        return None

    @classmethod
    def start_artifact(cls, cfg: Config, run_stage: Callable[[Config], Any]) -> dict[str, Any] | None:
        """What ``cfg`` starts from (a pre-trained encoder), found before the run's networks exist; it may run a
        stage first with ``run_stage(stage config)``. None: nothing."""
        return None

    def load_artifact(self, artifact: dict[str, Any]) -> None:
        """Initialise from what :meth:`start_artifact` returned (a fresh run only, never a resumed one)."""
        raise NotImplementedError(f"method '{self.name}' starts from an artifact but cannot load it")

    def save_artifact(self, run_dir: Path, result: dict[str, float]) -> Path | None:
        """At the end of a run: write what it hands to others (an encoder) into ``run_dir``; the file, or None."""
        return None

    def labelled_count(self) -> int:
        """Labelled real images the method asks for (class-balanced, from the training split); 0 = none."""
        return 0

    def set_labelled(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Receive the :meth:`labelled_count` labelled images (on the device, in [0, 1])."""

    # training -----------------------------------------------------------------------------
    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """One iteration on a real batch; the losses to log (detached)."""
        raise NotImplementedError(f"method '{self.name}' trains but has no train_step")

    def set_lr_scale(self, scale: float) -> None:
        """Learning rates = configured rates x ``scale`` (``train.lr_decay``)."""

    def networks(self) -> dict[str, nn.Module]:
        """The eager networks (no DDP or compile wrapper): checked, traced and kept in step across ranks."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by the network they update (unwrapped): their state is checked and checkpointed."""
        return {}

    def generator_net(self) -> nn.Module | None:
        """The network the EMA follows (methods that generate)."""
        return None

    # evaluation and state ------------------------------------------------------------------
    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features of real images in [0, 1] that k-means clusters."""
        raise NotImplementedError

    def predict_class(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of real images (methods with an ``argmax_tag``)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
