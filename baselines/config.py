"""The baselines' config section (``baselines``: InfoGAN, InfoGAN-CR, ClusterGAN and GAN (bp) keys) and its rules;
registered in :mod:`baselines` like any plugin's section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config import ConfigError, opt


@dataclass
class BaselinesConfig:
    lambda_mi: float = opt(
        1.0, "InfoGAN: weight of the categorical MI term, CE of Q's logits vs the code (paper: 1)", ge=0
    )
    cont_dim: int = opt(0, "InfoGAN: continuous codes, uniform in [-1, 1] (paper, MNIST: 2); 0 = none", ge=0)
    lambda_cont: float = opt(0.1, "InfoGAN: weight of the continuous codes' Gaussian NLL (paper: 0.1-1)", ge=0)
    mi_trains_d_trunk: bool = opt(
        True, "InfoGAN: true = the MI term also trains D's trunk (original); false = G and Q head only (StudioGAN)"
    )
    q_hidden: int = opt(128, "InfoGAN: hidden units of the Q head on D's trunk features", gt=0)
    cluster_beta_n: float = opt(10.0, "ClusterGAN: weight of the z_n MSE term (Mukherjee et al.: 10)", ge=0)
    cluster_beta_c: float = opt(10.0, "ClusterGAN: weight of the z_c cross-entropy term (Mukherjee et al.: 10)", ge=0)
    cluster_sigma_n: float = opt(0.1, "ClusterGAN: standard deviation of z_n (Mukherjee et al.: 0.1)", gt=0)
    cr_weight: float = opt(
        1.0, "InfoGAN-CR: weight of the contrastive regulariser in G's loss once it is on (Lin et al.: 1-3)", ge=0
    )
    cr_start: float = opt(
        0.89,
        "InfoGAN-CR: the regulariser (CR head updates and G's term) starts after this fraction of train.steps"
        " (Lin et al. switch it on after ~89% of training); fixed at a run's first launch, kept in its checkpoints",
    )
    cr_gap: float = opt(
        0.0,
        "InfoGAN-CR: in a pair, continuous codes that are not shared differ by at least this much (in [0, 2)) and"
        " a class code that is not shared differs whenever it is > 0; 0 = drawn independently (Lin et al.'s dSprites)",
    )
    cr_lr: float = opt(
        0.0, "InfoGAN-CR: Adam learning rate of the CR head (betas 0.5, 0.999); 0 = train.lr_d (as Lin et al.)", ge=0
    )
    bp_steps: int = opt(
        200, "GAN (bp): Adam steps recovering each real image's latent code with G frozen (eval only)", gt=0
    )
    bp_lr: float = opt(0.05, "GAN (bp): Adam learning rate of the latent-code recovery", gt=0)
    bp_restarts: int = opt(
        2, "GAN (bp): seeded starts per image, run as one batch; the start G reproduces best is kept", gt=0
    )


def check(cfg: Any) -> None:
    """InfoGAN-CR's start is a fraction of the run; its code gap fits the codes' range."""
    if not 0 <= cfg.baselines.cr_start <= 1:
        raise ConfigError(f"baselines.cr_start: a fraction of train.steps in [0, 1], got {cfg.baselines.cr_start}")
    if not 0 <= cfg.baselines.cr_gap < 2:
        raise ConfigError(f"baselines.cr_gap: must be in [0, 2) (codes lie in [-1, 1]), got {cfg.baselines.cr_gap}")
