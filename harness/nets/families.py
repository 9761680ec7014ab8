"""Registered network families: each gives a generator, a discriminator and an encoder builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.nets import dcgan, resnet
from harness.registry import register_arch


@dataclass(frozen=True)
class Family:
    generator: Callable
    discriminator: Callable
    encoder: Callable


register_arch("dcgan")(Family(dcgan.Generator, dcgan.Discriminator, dcgan.Encoder))
register_arch("resnet")(Family(resnet.Generator, resnet.Discriminator, resnet.Encoder))
