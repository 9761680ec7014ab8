"""Evaluation protocols by name (``eval.protocol``): the evaluation keys a published number depends on, set together,
so that a result can be set beside the numbers measured the same way and no other.

* ``domain``: the harness's yardstick: the dataset's own classifier (FID, KID and IS from its features and logits)
  against the training split's statistics, at ``eval.fid_samples``.
* ``clean``: clean-fid's Inception-v3 with its clean (PIL bicubic) resize, 50,000 samples against the training split.
* ``paper``: the CoDeGAN paper's: the same TF-ported Inception-v3 resizing inside the network as TensorFlow did
  (clean-fid's ``legacy_tensorflow``), FID, KID and IS (its class probabilities) of 50,000 samples against the
  training split, and the clustering scores the paper reports for the dataset: k-means of the real test split's
  class features (MNIST, Fashion-MNIST, CIFAR), or, where the reference code scored generated images
  (:data:`PAPER_GENERATED`: COIL-20 and the 3D datasets), the dataset's classifier's labels of generated images
  against their codes (``eval/acc_gen_domain`` with purity, NMI and ARI; ``domain`` is added to ``eval.quality``).

A protocol sets each key the command line or a program did not set (a preset's or a run folder's values yield to
it); a key set there to another value than the protocol's is refused with one line naming both. Its extractor is
added to ``eval.quality`` beside any others there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.core.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    extractor: str  # the image-quality extractor every number of the protocol comes from
    values: tuple[tuple[str, Any], ...]  # the other evaluation keys it fixes


# datasets whose paper scores are the classifier's labels of generated images (the reference's test_acc_G)
PAPER_GENERATED = ("coil20", "chairs3d", "cars3d")


def paper_clustering(dataset: str) -> str:
    """What the paper's clustering scores of ``dataset`` (a name or card path) were measured on: ``generated``
    images or the ``real`` test split."""
    name = dataset.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
    return "generated" if name in PAPER_GENERATED else "real"


def clustering_keys(dataset: str, protocol: str) -> tuple[str, ...]:
    """The metric keys (ACC, purity, NMI, ARI) that stand beside the paper's scores of ``dataset`` for a result of
    ``protocol``: the generated-image scores where the paper's protocol used them, else the real split's."""
    if protocol == "paper" and paper_clustering(dataset) == "generated":
        return tuple(f"eval/{s}_gen_domain" for s in ("acc", "purity", "nmi", "ari"))
    return tuple(f"eval/{s}" for s in ("acc", "purity", "nmi", "ari"))


PROTOCOLS = {
    "domain": Protocol("domain", (("eval.fid_split", "train"),)),
    "clean": Protocol("inception", (("eval.fid_samples", 50000), ("eval.fid_split", "train"))),
    "paper": Protocol(
        "inception_tf", (("eval.fid_samples", 50000), ("eval.fid_split", "train"), ("eval.split", "test"))
    ),
}


def apply_protocol(cfg: Any, explicit: set[str]) -> None:
    """Set what ``cfg.eval.protocol`` fixes; ``explicit``: the keys a file, override or program set."""
    name = cfg.eval.protocol
    if not name:
        return
    protocol = PROTOCOLS[name]
    for key, value in protocol.values:
        section, field = key.split(".")
        have = getattr(getattr(cfg, section), field)
        if key in explicit and have != value:
            raise ConfigError(f"{key}={have!r} contradicts eval.protocol={name} ({key}={value!r}); drop one of them")
        setattr(getattr(cfg, section), field, value)
    if protocol.extractor not in cfg.eval.quality:
        if "eval.quality" in explicit:
            raise ConfigError(
                f"eval.quality={cfg.eval.quality} leaves out {protocol.extractor}, which eval.protocol={name} measures"
                " with; add it or drop one of them"
            )
        cfg.eval.quality = [protocol.extractor]
    if name == "paper" and paper_clustering(str(cfg.data.dataset)) == "generated" and "domain" not in cfg.eval.quality:
        if "eval.quality" in explicit:
            raise ConfigError(
                f"eval.quality={cfg.eval.quality} leaves out domain, the classifier whose labels of generated images"
                f" eval.protocol=paper scores {cfg.data.dataset} with; add it or drop one of them"
            )
        cfg.eval.quality = [*cfg.eval.quality, "domain"]
