"""CoDeGAN: contrastive disentanglement in GANs (Zhao et al., arXiv 2103.03636).

This module is the package's registration (:mod:`harness.config.registry`), exactly as a plugin's: the methods
``codegan``, and ``simclr`` and ``maml`` (its E_c's pre-training stages), and their config sections ``codegan``
and ``pretrain``. It imports no torch; the methods live in ``codegan.method``, ``codegan.pretrain`` and
``codegan.maml``.
"""

from __future__ import annotations

from typing import Any

from codegan import config
from harness.config.registry import MethodEntry, SectionEntry


def _variant(train: dict[str, Any]) -> str:
    pretrain = train.get("codegan.pretrain", "none")
    out = "" if pretrain == "none" else " (meta)" if pretrain == "maml" else " (self)"
    return out + (f" ({train['codegan.few_labels']} labels)" if train.get("codegan.few_labels") else "")


_ENCODER_KEYS = ("codegan.fc_dim", "codegan.encoders")  # E_c's shape, which the pre-training stages train

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
        late=("codegan.maml_",),  # added after its runs were first hashed: in a run's identity only when set
    ),
    MethodEntry(
        "simclr",
        "codegan.pretrain:SimCLR",
        "SimCLR + k-means",
        reads=("pretrain.", *_ENCODER_KEYS),
        progress=("nt_xent",),
    ),
    MethodEntry(
        "maml",
        "codegan.maml:MAML",
        "MAML + k-means",
        reads=(*config.MAML_KEYS, "codegan.few_labels", *_ENCODER_KEYS),
        progress=("query_loss", "query_acc"),
    ),
]
