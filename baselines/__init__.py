"""Baselines scored against CoDeGAN on the same trainer, data and evaluation: InfoGAN, InfoGAN-CR, ClusterGAN, k-means
on pixels.

This module is the package's registration (:mod:`harness.config.registry`), exactly as a plugin's: the methods and
their shared config section ``baselines``. It imports no torch.
"""

from __future__ import annotations

from typing import Any

from baselines import config
from harness.config.registry import MethodEntry, SectionEntry


def _infogan_variant(train: dict[str, Any]) -> str:
    loss = train.get("train.gan_loss", "bce")
    return f" ({loss})" if loss != "bce" else ""


_INFOGAN = tuple(f"baselines.{k}" for k in ("lambda_mi", "cont_dim", "lambda_cont", "mi_trains_d_trunk", "q_hidden"))
_CR = tuple(f"baselines.{k}" for k in ("cr_weight", "cr_start", "cr_gap", "cr_lr"))
_INFOGAN_WEIGHTS = ("baselines.lambda_mi", "baselines.lambda_cont")

ENTRIES = [
    SectionEntry("baselines", config.BaselinesConfig, config.check),
    MethodEntry(
        "infogan",
        "baselines.infogan:InfoGAN",
        "InfoGAN",
        reads=_INFOGAN,
        weight_key="baselines.lambda_mi",
        progress=("d_loss", "g_mi_cat"),
        variant=_infogan_variant,
        presets="baselines/configs/infogan",
        update_only=_INFOGAN_WEIGHTS,
    ),
    MethodEntry(
        "infogan-cr",
        "baselines.infogan_cr:InfoGANCR",
        "InfoGAN-CR",
        reads=_INFOGAN + _CR,
        weight_key="baselines.lambda_mi",
        progress=("d_loss", "g_mi_cat", "g_cr"),
        presets="baselines/configs/infogan-cr",
        update_only=(*_INFOGAN_WEIGHTS, "baselines.cr_weight", "baselines.cr_lr"),
    ),
    MethodEntry(
        "clustergan",
        "baselines.clustergan:ClusterGAN",
        "ClusterGAN",
        reads=("baselines.cluster_",),
        weight_key="baselines.cluster_beta_c",
        progress=("d_loss", "e_zc"),
        presets="baselines/configs/clustergan",
        update_only=("baselines.cluster_beta_n", "baselines.cluster_beta_c"),
    ),
    MethodEntry(
        "pixels-kmeans",
        "baselines.pixels:PixelsKMeans",
        "k-means on pixels",
        presets="baselines/configs/pixels-kmeans",
    ),
]
