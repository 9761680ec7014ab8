"""Evaluation: what every result is measured with. This module registers (:mod:`harness.config.registry`) the
metrics, one file each (``cluster``: ACC, purity, NMI, ARI; ``fid``; ``kid``; ``inception_score``; ``prdc``:
precision, recall, density, coverage; ``generated_acc``: the classifier's labels of generated images against their
codes; ``per_code``: each code's recall and FID and the collapsed codes), and the
image-quality feature extractors (``extractors``); the rest computes what they consume: class features of real
images and k-means (``suite``), generated images as features against a real split's statistics (``features``,
during training ``quality``), the domain classifier (``domain``), the pixel baseline (``pixels``) and sample grids
(``grids``). A new metric is one module and one entry below (docs/adding-a-metric.md)."""

from harness.config.registry import ExtractorEntry, MetricEntry

ENTRIES = [
    MetricEntry("cluster", "harness.metrics.cluster:assignment_scores", ("acc", "purity", "nmi", "ari"), "clusters"),
    MetricEntry("fid", "harness.metrics.fid:compute", ("fid",), "samples", lower_is_better=True),
    MetricEntry("kid", "harness.metrics.kid:compute", ("kid", "kid_std"), "samples", lower_is_better=True),
    MetricEntry("is", "harness.metrics.inception_score:compute", ("is", "is_std"), "logits"),
    MetricEntry("prdc", "harness.metrics.prdc:compute", ("precision", "recall", "density", "coverage"), "samples"),
    MetricEntry(
        "acc_gen", "harness.metrics.generated_acc:compute", ("acc_gen", "purity_gen", "nmi_gen", "ari_gen"), "codes"
    ),  # fmt: skip
    MetricEntry(
        "per_code",
        "harness.metrics.per_code:compute",
        ("code_recall", "code_recall_min", "code_fid", "code_fid_max", "collapsed_codes"),
        "codes",
        lower_is_better=("code_fid", "code_fid_max", "collapsed_codes"),
    ),  # fmt: skip
    ExtractorEntry("domain", "harness.metrics.extractors:DomainExtractor"),
    ExtractorEntry("inception", "harness.metrics.extractors:InceptionExtractor"),
    ExtractorEntry("inception_tf", "harness.metrics.extractors:TFInceptionExtractor"),
]
