"""CoDeGAN: contrastive disentanglement in GANs (Zhao et al., arXiv 2103.03636).

This module is the package's registration (:mod:`harness.config.registry`), exactly as a plugin's: the methods
``codegan`` and ``simclr`` (its E_c's pre-training stage) and their config sections ``codegan`` and ``pretrain``.
It imports no torch; the methods live in ``codegan.method`` and ``codegan.pretrain``.
"""

from __future__ import annotations

from typing import Any

from codegan import config
from harness.config.registry import MethodEntry, SectionEntry


def _variant(train: dict[str, Any]) -> str:
    out = " (self)" if train.get("codegan.pretrain", "none") != "none" else ""
    return out + (f" ({train['codegan.few_labels']} labels)" if train.get("codegan.few_labels") else "")


_ENCODER_KEYS = ("codegan.fc_dim", "codegan.encoders")  # E_c's shape, which the SimCLR stage trains

ENTRIES = [
    SectionEntry("codegan", config.CoDeGANConfig, config.check),
    SectionEntry("pretrain", config.PretrainConfig),
    MethodEntry(
        "codegan",
        "codegan.method:CoDeGAN",
        "CoDeGAN",
        reads=("codegan.", "pretrain."),
        weight_key="codegan.beta_c",
        progress=("d_loss", "g_lc", "e_lc"),
        variant=_variant,
        presets="codegan/configs",
        update_only=("codegan.beta_c", "codegan.beta_z", "codegan.tau", "codegan.base_tau"),
    ),
    MethodEntry(
        "simclr",
        "codegan.pretrain:SimCLR",
        "SimCLR + k-means",
        reads=("pretrain.", *_ENCODER_KEYS),
        progress=("nt_xent",),
    ),
]
