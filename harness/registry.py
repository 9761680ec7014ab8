"""Name -> implementation registries for network families and image-quality feature extractors, and the
method lookup (the methods themselves are listed in :mod:`harness.catalogue`).

Configs and sweeps refer to implementations by these names. Built-in families and extractors register
themselves when their module is imported; the lookups import them on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

ARCHS: dict[str, Any] = {}
EXTRACTORS: dict[str, Any] = {}
BUILTIN_ARCH_MODULES = ("harness.nets.families",)
BUILTIN_EXTRACTOR_MODULES = ("harness.evaluate.extractors",)
# the names those modules register, so that checking a config imports neither (nor torch)
BUILTIN_ARCHS = ("dcgan", "resnet")
BUILTIN_EXTRACTORS = ("domain", "inception")


def register_extractor(name: str) -> Callable:
    def wrap(cls: Any) -> Any:
        EXTRACTORS[name] = cls
        return cls

    return wrap


def register_arch(name: str) -> Callable:
    def wrap(obj: Any) -> Any:
        ARCHS[name] = obj
        return obj

    return wrap


def _lookup(table: dict[str, Any], modules: tuple[str, ...], name: str, what: str) -> Any:
    if name not in table:
        for mod in modules:
            importlib.import_module(mod)
    if name not in table:
        raise KeyError(f"unknown {what} '{name}'; registered: {', '.join(sorted(table))}")
    return table[name]


def method(name: str) -> Any:
    """The class implementing method ``name`` (:func:`harness.catalogue.load`)."""
    from harness import catalogue

    return catalogue.load(name)


def arch(name: str) -> Any:
    return _lookup(ARCHS, BUILTIN_ARCH_MODULES, name, "model.arch")


def extractor(name: str) -> Any:
    return _lookup(EXTRACTORS, BUILTIN_EXTRACTOR_MODULES, name, "eval.quality extractor")


def check_names(cfg: Any) -> None:
    """Every name a config uses must be registered: method, network family, extractors, dataset card."""
    from harness import catalogue
    from harness.data.cards import load_card
    from harness.errors import ConfigError, DataError

    known = {"model.arch": {*BUILTIN_ARCHS, *ARCHS}, "eval.quality": {*BUILTIN_EXTRACTORS, *EXTRACTORS}}
    try:
        catalogue.entry(cfg.method)
    except KeyError as exc:
        raise ConfigError(f"method: {exc.args[0]}") from None
    for key, names in (("model.arch", [cfg.model.arch]), ("eval.quality", list(cfg.eval.quality))):
        for name in names:
            if name not in known[key]:
                what = "model.arch" if key == "model.arch" else "eval.quality extractor"
                raise ConfigError(f"{key}: unknown {what} '{name}'; registered: {', '.join(sorted(known[key]))}")
    from harness.data.shard_urls import foreign_urls

    try:
        if foreign_urls(cfg, cfg.data.dataset) is not None:
            return  # shards not built here: the scan gives classes and shape, a card is optional
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    try:
        load_card(cfg.data.dataset)
    except DataError as exc:
        raise ConfigError(f"data.dataset: {exc}") from None
