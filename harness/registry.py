"""Name -> implementation registries for methods, network families and image-quality feature extractors.

Configs and sweeps refer to implementations by these names. Built-in methods register themselves
when their module is imported; :func:`method` imports them on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

METHODS: dict[str, Any] = {}
ARCHS: dict[str, Any] = {}
EXTRACTORS: dict[str, Any] = {}
BUILTIN_METHOD_MODULES = (
    "codegan.method",
    "codegan.pretrain",
    "baselines.infogan",
    "baselines.infogan_cr",
    "baselines.clustergan",
    "baselines.pixels",
)
BUILTIN_ARCH_MODULES = ("harness.nets.families",)
BUILTIN_EXTRACTOR_MODULES = ("harness.evaluate.extractors",)


def register_method(name: str) -> Callable:
    def wrap(cls: Any) -> Any:
        METHODS[name] = cls
        cls.name = name
        return cls

    return wrap


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
    return _lookup(METHODS, BUILTIN_METHOD_MODULES, name, "method")


def arch(name: str) -> Any:
    return _lookup(ARCHS, BUILTIN_ARCH_MODULES, name, "model.arch")


def extractor(name: str) -> Any:
    return _lookup(EXTRACTORS, BUILTIN_EXTRACTOR_MODULES, name, "eval.quality extractor")


def method_names() -> list[str]:
    for mod in BUILTIN_METHOD_MODULES:
        importlib.import_module(mod)
    return sorted(METHODS)


def check_names(cfg: Any) -> None:
    """Every name a config uses must be registered: method, network family, extractors, dataset card."""
    from harness.config import ConfigError
    from harness.data.cards import DataError, load_card

    for key, lookup, value in (
        ("method", method, [cfg.method]),
        ("model.arch", arch, [cfg.model.arch]),
        ("eval.quality", extractor, list(cfg.eval.quality)),
    ):
        for name in value:
            try:
                lookup(name)
            except KeyError as exc:
                raise ConfigError(f"{key}: {exc.args[0]}") from None
    from harness.data.foreign import foreign_urls

    try:
        if foreign_urls(cfg, cfg.data.dataset) is not None:
            return  # shards not built here: the scan gives classes and shape, a card is optional
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    try:
        load_card(cfg.data.dataset)
    except DataError as exc:
        raise ConfigError(f"data.dataset: {exc}") from None
