"""Dataset sources: readers that turn raw dataset files into uint8 arrays (N, H, W, C) and int64 labels, by the
``kind`` a card's ``sources`` list names (:mod:`harness.data.sources.read` tries them in order). This module is
their registration (:mod:`harness.config.registry`); a reader of another format is one module and one entry here,
or a plugin's (docs/adding-a-dataset.md)."""

from harness.config.registry import SourceEntry

ENTRIES = [
    SourceEntry("sklearn-digits", "harness.data.sources.digits:read_sklearn_digits"),
    SourceEntry("idx", "harness.data.sources.idx:read_idx_source"),
    SourceEntry("torchvision", "harness.data.sources.idx:read_torchvision"),
    SourceEntry("cifar10", "harness.data.sources.cifar:read_cifar10"),
    SourceEntry("cifar100", "harness.data.sources.cifar:read_cifar100"),
    SourceEntry("coil20", "harness.data.sources.coil20:read_coil20"),
    SourceEntry("cars3d", "harness.data.sources.cars3d:read_cars3d"),
    SourceEntry("chairs3d", "harness.data.sources.chairs3d:read_chairs3d"),
]
