"""Generated-image ACC (the reference code's score on COIL-20 and the 3D datasets): the dataset's own classifier
labels generated images and the labels are set against the codes the images were drawn with, by Hungarian matching
(ACC), majority (purity, the reference's greedy count), NMI and ARI. Only with an extractor whose logits are the
dataset's classes (the domain classifier)."""

from __future__ import annotations

from harness.metrics.cluster import assignment_scores
from harness.metrics.features import CodedSamples


def compute(s: CodedSamples) -> dict[str, float]:
    """The registered metric: ``acc_gen``, ``purity_gen``, ``nmi_gen``, ``ari_gen``."""
    if s.logits is None or not s.knows_the_classes:
        return {}
    predicted = s.logits.argmax(1)
    return {f"{k}_gen": v for k, v in assignment_scores(s.codes, predicted).items()}
