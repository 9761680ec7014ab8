"""CoDeGAN's config sections: ``codegan`` (the method) and ``pretrain`` (its SimCLR stage), with the rules that tie
their keys together; registered in :mod:`codegan` like any plugin's sections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config import ConfigError, opt


@dataclass
class CoDeGANConfig:
    beta_c: float = opt(100.0, "weight of the contrastive class term L_c in G's loss (reference beta_1)", ge=0)
    beta_z: float = opt(5e-4, "weight of the noise-reconstruction term L_z (reference beta_2)", ge=0)
    tau: float = opt(0.07, "SupCon temperature", gt=0)
    base_tau: float = opt(
        0.07, "SupCon base temperature (the loss is scaled by tau / base_tau); 0 = follow tau (no rescaling)", ge=0
    )
    fc_dim: int = opt(120, "dimension of E_c's L2-normalised class feature", gt=0)
    e_batch_size: int = opt(300, "generated images per encoder update per rank (E_c's when encoders=separate)", gt=0)
    ez_batch_size: int = opt(0, "generated images per E_z update when encoders=separate; 0 = e_batch_size", ge=0)
    encoders: str = opt(
        "shared",
        "shared (one trunk, E_c and E_z heads: 28x28) | separate (E_c and E_z nets: 32x32)",
        choices=("shared", "separate"),
    )
    augment: str = opt(
        "crop",
        "L_c's second view: crop (RandomResizedCrop) | color (+ flip, colour jitter, grey)",
        choices=("crop", "color"),
    )
    chain_step: str = opt(
        "auto",
        "iteration from which E_c is updated (before it a pre-trained E_c stays frozen; E_z of separate encoders"
        " always trains): an integer, or auto = a third of train.steps when codegan.pretrain is not none (the"
        " reference: 200 of 600 epochs), else 0. auto is fixed at a run's first launch and kept in its checkpoints",
    )
    crop_scale: list[float] = opt([0.8, 1.0], "area range of the RandomResizedCrop that makes L_c's second view")
    crop_per_sample: bool = opt(True, "draw a crop per image (false = one crop per batch, as the reference code)")
    crop_mode: str = opt(
        "continuous",
        "crop boxes of the second view: continuous (real-valued boxes, shrunk to fit, bilinear grid_sample) |"
        " integer (torchvision's RandomResizedCrop: integer boxes, 10 tries then the centre crop, bilinear resize)",
        choices=("continuous", "integer"),
    )
    color_per_sample: bool = opt(
        True,
        "augment=color: draw the flip, colour jitter and greyscale per image (false = once per batch, as the"
        " reference code's transform applied to a 4-D batch)",
    )
    detach_view: bool = opt(
        False,
        "true: L_c reaches G only through the original view, the augmented view is made from a detached copy (the"
        " reference on MNIST, Fashion-MNIST and CIFAR-10's unsupervised run); false: through both views",
    )
    pretrain: str = opt(
        "none",
        "E_c initialisation: none | simclr (cached artifact, else pre-train first) | maml (the same, meta-learned on"
        " the few_labels images) | path to encoder.pt",
    )
    few_labels: int = opt(
        0, "class-balanced labelled real images joining L_c's batch with their labels; 0 = none", ge=0
    )
    maml_way: int = opt(5, "pretrain=maml: classes per episode (N-way)", gt=1)
    maml_shot: int = opt(5, "pretrain=maml: support images per class and episode (K-shot)", gt=0)
    maml_query: int = opt(5, "pretrain=maml: query images per class and episode, scored after adaptation", gt=0)
    maml_tasks: int = opt(4, "pretrain=maml: episodes per outer step and rank (the meta-batch)", gt=0)
    maml_inner_steps: int = opt(
        5, "pretrain=maml: inner SGD steps per episode on its support set (E_c and a zero-initialised head)", gt=0
    )
    maml_inner_lr: float = opt(0.5, "pretrain=maml: inner SGD learning rate", gt=0)
    maml_lr: float = opt(1e-3, "pretrain=maml: outer Adam learning rate of E_c's initialisation", gt=0)
    maml_steps: int = opt(2000, "pretrain=maml: outer steps of the meta-learning stage", gt=0)
    maml_first_order: bool = opt(
        False, "pretrain=maml: true = first-order MAML (the inner loop's second derivatives dropped)"
    )


MAML_KEYS = tuple(f"codegan.{k}" for k in CoDeGANConfig.__dataclass_fields__ if k.startswith("maml_"))
"""The keys of the MAML stage's own settings (its run identity and its artifact's cache key)."""


@dataclass
class PretrainConfig:
    steps: int = opt(3000, "SimCLR pre-training steps of E_c (stage=pretrain, or codegan.pretrain=simclr)", gt=0)
    batch_size: int = opt(256, "real images per SimCLR step per rank (two views each)", gt=0)
    lr: float = opt(1e-3, "Adam learning rate of the pre-training", gt=0)
    weight_decay: float = opt(1e-6, "Adam weight decay of the pre-training", ge=0)
    tau: float = opt(0.5, "NT-Xent temperature", gt=0)
    crop_scale: list[float] = opt([0.3, 1.0], "area range of the views' RandomResizedCrop")
    flip: bool = opt(True, "random horizontal flips in the views")
    seed: int = opt(0, "seed of the pre-training run (one encoder serves every CoDeGAN seed, as in the paper)", ge=0)


def check(cfg: Any) -> None:
    """``codegan.chain_step`` is auto or an integer; the crop scales are sub-ranges of (0, 1]; ``pretrain=maml``
    has labelled images to meta-learn on."""
    if cfg.codegan.pretrain == "maml" and cfg.codegan.few_labels == 0:
        raise ConfigError(
            "codegan.pretrain=maml meta-learns E_c on labelled images: set codegan.few_labels (> 0), e.g. 100"
        )
    chain = cfg.codegan.chain_step
    if chain != "auto" and not (chain.isascii() and chain.isdigit()):
        raise ConfigError(f"codegan.chain_step: auto or an integer >= 0, got {chain!r}")
    for key, lo_hi in (
        ("codegan.crop_scale", cfg.codegan.crop_scale),
        ("pretrain.crop_scale", cfg.pretrain.crop_scale),
    ):
        if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1] <= 1:
            raise ConfigError(f"{key}: need 0 < low <= high <= 1, got {lo_hi}")
