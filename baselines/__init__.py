"""Baselines scored against CoDeGAN on the same trainer, data and evaluation: InfoGAN, InfoGAN-CR, ClusterGAN, a plain
GAN clustered on D's features or on latent codes recovered by back-propagation, k-means on pixels.

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
_CLUSTER = tuple(f"baselines.cluster_{k}" for k in ("beta_n", "beta_c", "sigma_n"))
_INFOGAN_WEIGHTS = ("baselines.lambda_mi", "baselines.lambda_cont")
# read at evaluation only, but a run's identity holds them: results of two settings never pool
_BP = tuple(f"baselines.bp_{k}" for k in ("steps", "lr", "restarts"))

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
        reads=_CLUSTER,
        weight_key="baselines.cluster_beta_c",
        progress=("d_loss", "e_zc"),
        presets="baselines/configs/clustergan",
        update_only=("baselines.cluster_beta_n", "baselines.cluster_beta_c"),
        late=_CLUSTER,  # once missing from its runs' identity: there only when set off their default
    ),
    MethodEntry(
        "gan-disc",
        "baselines.plain_gan:GANDisc",
        "GAN (Disc. phi)",
        progress=("d_loss", "g_adv"),
        presets="baselines/configs/gan-disc",
    ),
    MethodEntry(
        "gan-bp",
        "baselines.plain_gan:GANBackprop",
        "GAN (bp)",
        reads=_BP,
        progress=("d_loss", "g_adv"),
        presets="baselines/configs/gan-bp",
    ),
    MethodEntry(
        "pixels-kmeans",
        "baselines.pixels:PixelsKMeans",
        "k-means on pixels",
        presets="baselines/configs/pixels-kmeans",
    ),
]
