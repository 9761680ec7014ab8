"""What a run on images without labels can do. It learns ``data.classes`` class codes (or its card's count); what
needs the true classes is refused before any work (a few-label set, an image-quality extractor trained on the labels)
or skipped with one line (the clustering scores ACC/purity/NMI/ARI, the pixel baseline)."""

from __future__ import annotations

from harness.config import Config, registry
from harness.config.cards import Card
from harness.core.errors import ConfigError
from harness.data.manifest import Manifest

NONE = "the shards have no labels (no cls or json member)"
SKIPPED = f"ACC/purity/NMI/ARI and the pixel baseline skipped: they score clusters against classes, and {NONE}"


def class_codes(cfg: Config, man: Manifest, card: Card | None) -> int:
    """The number of class codes K the run learns: the labels' classes, or for shards without labels
    ``data.classes`` (else the card's); ConfigError when it cannot be known or contradicts the labels."""
    wanted = cfg.data.classes
    if man.labelled:
        if wanted and wanted != man.classes:
            raise ConfigError(
                f"data.classes={wanted}, but the shards have labels of {man.classes} classes (data.classes is for"
                " shards without labels); drop it"
            )
        return man.classes
    k = wanted or (card.classes if card is not None else 0)
    if not k:
        raise ConfigError(f"{NONE}: set data.classes=K, the number of class codes to learn")
    return k


def check_extractors(cfg: Config) -> None:
    """Refuse an ``eval.quality`` extractor trained on the dataset's labels (one line naming what works instead)."""
    for name in cfg.eval.quality:
        if getattr(registry.extractor(name), "needs_labels", False):
            raise ConfigError(
                f"eval.quality={cfg.eval.quality}: the {name} extractor is trained on the dataset's labels, and {NONE};"
                " measure image quality with one that needs none, eval.quality=[inception] or eval.protocol=clean"
                " (Inception-v3; offline, eval.inception_weights=FILE), or set eval.quality=[]"
            )


def check_method(cfg: Config, labelled_count: int) -> None:
    """Refuse a method that trains with a few-label set."""
    if labelled_count:
        raise ConfigError(f"method {cfg.method} trains with {labelled_count} labelled images, and {NONE}")
