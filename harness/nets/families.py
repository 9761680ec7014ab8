"""Network families: each gives a generator, a discriminator and an encoder builder (registered by name in
:mod:`harness.nets`, the config's ``model.arch``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.nets import dcgan, resnet


@dataclass(frozen=True)
class Family:
    generator: Callable
    discriminator: Callable
    encoder: Callable


DCGAN = Family(dcgan.Generator, dcgan.Discriminator, dcgan.Encoder)
RESNET = Family(resnet.Generator, resnet.Discriminator, resnet.Encoder)
