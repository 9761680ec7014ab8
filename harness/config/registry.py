"""The one registry: every name a config, a sweep or a table uses, readable without importing torch.

Six kinds of entry, each a small frozen dataclass that names its implementation as ``module:attr`` (imported only
when it is used): methods (:class:`MethodEntry`), config sections (:class:`SectionEntry`), network families
(:class:`ArchEntry`), image-quality feature extractors (:class:`ExtractorEntry`), metrics (:class:`MetricEntry`)
and dataset sources (:class:`SourceEntry`). A method's presets are the ``<dataset>.yaml`` files of its entry's
``presets`` folder (:mod:`harness.config.presets`).

Entries come from registration modules, modules that define ``ENTRIES`` (or ``ENTRY``) and import no torch, loaded
the same way whatever their origin, so every process of a launch (sweep trial workers included) sees the same table:

* the harness's own: :data:`BUILTIN` (``codegan``, ``baselines``, ``harness.nets``, ``harness.metrics``,
  ``harness.data.sources``);
* installed packages, through the entry point group ``codegan_bench.methods`` (each entry point names an entry, or
  a list of entries);
* ``--plugin MODULE`` on any command, which adds ``MODULE`` to ``CODEGAN_PLUGINS`` (a comma-separated list that
  child processes inherit).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from harness.config.cards import load_card
from harness.config.locations import foreign_urls, image_folder
from harness.core.errors import ConfigError, DataError

GROUP = "codegan_bench.methods"
PLUGINS_ENV = "CODEGAN_PLUGINS"
BUILTIN = ("codegan", "baselines", "harness.nets", "harness.metrics", "harness.data.sources")


class PluginError(ConfigError):
    """A plugin that cannot be loaded or declares an entry badly (a configuration error: exit 2)."""


@dataclass(frozen=True)
class MethodEntry:
    name: str  # the config's ``method`` value
    target: str  # ``module:Class`` implementing :class:`harness.methods.contract.Method`
    label: str  # the name tables and plots show
    reads: tuple[str, ...] = ()  # config keys or key prefixes (``"codegan."``) it reads beyond data/model/train
    weight_key: str = ""  # the loss weight a trade-off sweep varies ("" = none)
    progress: tuple[str, ...] = ()  # loss names (the last part of a metric key) shown on the progress bar
    section: tuple[str, type] | None = None  # (name, dataclass): a config section of its own
    variant: Callable[[dict[str, Any]], str] | None = None  # the label's suffix a training config selects
    presets: str = ""  # "package/folder" of its presets <dataset>.yaml, named <method>/<dataset>
    update_only: tuple[str, ...] = ()  # keys acting only through the losses or optimizers (not at step 0)
    origin: str = "built-in"  # where it came from (a plugin's module or distribution)
    # keys (or prefixes ending in "_" or ".") added after its runs were first hashed: part of a run's identity only
    # when set off their default, so that adding one renames no existing run folder
    late: tuple[str, ...] = ()
    kind = "method"

    def label_of(self, train: dict[str, Any]) -> str:
        return self.label + (self.variant(train) if self.variant else "")

    def is_late(self, key: str) -> bool:
        """Whether ``key`` is one of its :attr:`late` keys."""
        return any(key == k or (k.endswith(("_", ".")) and key.startswith(k)) for k in self.late)

    def reads_key(self, key: str) -> bool:
        """Whether ``key`` is its own: named in ``reads`` (a key, or a prefix ending in a dot), or in its section."""
        own = self.reads + ((self.section[0] + ".",) if self.section else ())
        return any(key == r or (r.endswith(".") and key.startswith(r)) for r in own)


@dataclass(frozen=True)
class SectionEntry:
    """A config section (``<name>.<key>``): its dataclass of :func:`harness.config.opt` fields, and a check of the
    rules that tie its keys together (``check(cfg)`` raises :class:`ConfigError` naming the key)."""

    name: str
    schema: type
    check: Callable[[Any], None] | None = None
    origin: str = "built-in"
    kind = "section"


@dataclass(frozen=True)
class ArchEntry:
    """A network family (``model.arch``): ``target`` names a :class:`harness.nets.families.Family`."""

    name: str
    target: str
    origin: str = "built-in"
    kind = "arch"


@dataclass(frozen=True)
class ExtractorEntry:
    """An image-quality feature extractor (``eval.quality``): ``target`` names a :class:`harness.metrics.fid.Extractor`
    class built from an :class:`harness.metrics.extractors.ExtractorContext`."""

    name: str
    target: str
    origin: str = "built-in"
    kind = "extractor"


@dataclass(frozen=True)
class MetricEntry:
    """A metric: ``target`` names its function; ``keys`` the metric names it returns (``fid`` is logged as
    ``eval/fid_<extractor>``, a key ``k`` also stands for the names ``k_<anything>``); ``lower_is_better`` for all of
    them or for the keys it names; ``needs``: ``samples`` (features of generated images against a real split's
    statistics, per extractor), ``logits`` (a classifier's logits of generated images), ``codes`` (generated images
    with the class codes they were drawn with: :class:`harness.metrics.features.CodedSamples`) or ``clusters`` (real
    images' labels against assigned clusters)."""

    name: str
    target: str
    keys: tuple[str, ...]
    needs: str
    lower_is_better: bool | tuple[str, ...] = False  # all its keys, or the ones named
    origin: str = "built-in"
    kind = "metric"


@dataclass(frozen=True)
class SourceEntry:
    """A dataset source (a card's ``sources: - kind: <name>``): ``target`` names its reader ``(spec, card) ->
    arrays``."""

    name: str
    target: str
    origin: str = "built-in"
    kind = "source"


KINDS = ("method", "section", "arch", "extractor", "metric", "source")
_TABLES: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
_LOADED: tuple[str, ...] | None = None  # the CODEGAN_PLUGINS value the tables were built for


def _same(a: Any, b: Any) -> bool:
    return getattr(a, "target", None) == getattr(b, "target", None) and getattr(a, "schema", None) is getattr(
        b, "schema", None
    )


def add(entry: Any) -> None:
    """Register one entry (a plugin's, or a test's); a name its kind already holds for something else is refused."""
    kind = getattr(entry, "kind", None)
    if kind not in _TABLES or not isinstance(getattr(entry, "name", None), str):
        raise PluginError(f"{entry!r} is not a registry entry ({', '.join(e.__name__ for e in _ENTRY_TYPES)})")
    known = _TABLES[kind].get(entry.name)
    if known is not None and not _same(known, entry):
        what = getattr(known, "target", "") or getattr(known, "schema", "")
        raise PluginError(f"{kind} '{entry.name}' of {entry.origin} is already {what} ({known.origin})")
    target = getattr(entry, "target", None)
    if target is not None and ":" not in target:
        raise PluginError(f"{kind} '{entry.name}' of {entry.origin}: target {target!r} is not module:attr")
    _TABLES[kind][entry.name] = entry
    if isinstance(entry, MethodEntry) and entry.section is not None:  # a method's own section, declared with it
        add(SectionEntry(entry.section[0], entry.section[1], origin=entry.origin))


_ENTRY_TYPES = (MethodEntry, SectionEntry, ArchEntry, ExtractorEntry, MetricEntry, SourceEntry)


def plugin_modules() -> tuple[str, ...]:
    return tuple(m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip())


def use_plugin(module: str) -> None:
    """``--plugin MODULE``: load it now and hand it to every child process (launch ranks, sweep trials)."""
    mods = plugin_modules()
    if module not in mods:
        os.environ[PLUGINS_ENV] = ",".join((*mods, module))
    _refresh()


def take_plugins(argv: list[str]) -> list[str]:
    """Load every ``--plugin MODULE`` (or ``--plugin=MODULE``) of ``argv``; the rest of ``argv``."""
    rest, it = [], iter(argv)
    for arg in it:
        if arg == "--plugin" or arg.startswith("--plugin="):
            module = arg.partition("=")[2] if "=" in arg else next(it, "")
            if not module:
                raise ConfigError("--plugin: needs a module name (--plugin mypackage.mymethod)")
            use_plugin(module)
        else:
            rest.append(arg)
    return rest


def _declared(mod: Any) -> list[Any]:
    found = list(getattr(mod, "ENTRIES", ()))
    return found + ([mod.ENTRY] if hasattr(mod, "ENTRY") else [])


def _load_module(module: str, origin: str) -> None:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever the plugin raises, name it
        raise PluginError(f"{origin} ({PLUGINS_ENV}): cannot import {module}: {type(exc).__name__}: {exc}") from None
    found = _declared(mod)
    if not found:
        raise PluginError(f"{origin}: the module defines neither ENTRY nor ENTRIES (harness.config.registry)")
    for entry in found:
        add(_with_origin(entry, origin))


def _with_origin(entry: Any, origin: str) -> Any:
    if getattr(entry, "origin", None) == "built-in" and origin != "built-in":
        return replace(entry, origin=origin)
    return entry


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        try:
            loaded = ep.load()
        except Exception as exc:  # noqa: BLE001 - whatever the plugin raises, name it
            raise PluginError(f"entry point {GROUP}:{ep.name} = {ep.value}: {type(exc).__name__}: {exc}") from None
        for entry in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
            add(_with_origin(entry, f"entry point {ep.value}"))


def _refresh() -> None:
    global _LOADED
    mods, before = plugin_modules(), _LOADED
    if mods == before:
        return
    _LOADED = mods  # before loading: a registration module may itself ask for the tables
    try:
        if before is None:
            for module in BUILTIN:
                _load_module(module, "built-in")
            _load_entry_points()
        for module in mods:
            if before is None or module not in before:
                _load_module(module, f"--plugin {module}")
    except BaseException:
        _LOADED = before  # tried again (and named again) on the next call
        raise


def entries(kind: str = "method") -> dict[str, Any]:
    """Every known entry of ``kind`` by name: built-in ones, installed plugins', and those of ``CODEGAN_PLUGINS``."""
    _refresh()
    return _TABLES[kind]


def entry(name: str, kind: str = "method") -> Any:
    table = entries(kind)
    if name not in table:
        hint = "; did you forget --plugin MODULE?" if kind == "method" else ""
        raise KeyError(f"unknown {kind} '{name}'; registered: {', '.join(sorted(table))}{hint}")
    return table[name]


def _import(target: str, kind: str, name: str, origin: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{kind} '{name}' ({origin}): cannot load {target}: {exc}") from None


def load(name: str, kind: str = "method") -> Any:
    """The implementation an entry names (imports its module); a method's class knows its name."""
    e = entry(name, kind)
    obj = _import(e.target, kind, name, e.origin)
    if kind == "method":
        obj.name = name
    return obj


def method(name: str) -> Any:
    """The class implementing method ``name``."""
    return load(name, "method")


def arch(name: str) -> Any:
    """The network family ``model.arch`` names."""
    return _lookup(name, "arch", "model.arch")


def extractor(name: str) -> Any:
    """The feature-extractor class ``eval.quality`` names."""
    return _lookup(name, "extractor", "eval.quality extractor")


def metric(name: str) -> Any:
    """The function of metric ``name``."""
    return _lookup(name, "metric", "metric")


def source(name: str) -> Any:
    """The reader of dataset source kind ``name``."""
    return _lookup(name, "source", "dataset source")


def _lookup(name: str, kind: str, what: str) -> Any:
    if name not in entries(kind):
        raise KeyError(f"unknown {what} '{name}'; registered: {', '.join(sorted(entries(kind)))}")
    return load(name, kind)


def metrics_needing(needs: str) -> list[Any]:
    """The metric entries computed from ``needs`` (``samples``, ``logits``, ``clusters``), in registration order."""
    return [m for m in entries("metric").values() if m.needs == needs]


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` (``eval/fid_domain``, ``best/eval/kid_inception``) is better: a
    metric whose entry says so, named as the key's last part or its first word (``fid`` of ``fid_domain``)."""
    tail = key.rsplit("/", 1)[-1]
    for m in entries("metric").values():
        lower = m.keys if m.lower_is_better is True else (m.lower_is_better or ())
        if any(tail == k or tail.startswith(k + "_") for k in lower):
            return True
    return False


def label(train: dict[str, Any]) -> str:
    """The name tables show for a run's training config (the method's label and its variant)."""
    method_name = str(train.get("method", ""))
    e = entries().get(method_name)
    return e.label_of(train) if e else method_name


def sections() -> dict[str, type]:
    """The config sections entries add: name -> dataclass."""
    return {name: e.schema for name, e in entries("section").items()}


def check_sections(cfg: Any) -> None:
    """Each section's own rules (its entry's ``check``)."""
    for e in entries("section").values():
        if e.check is not None:
            e.check(cfg)


def names(kind: str) -> Iterable[str]:
    return sorted(entries(kind))


def check_names(cfg: Any) -> None:
    """Every name a config uses must be registered: method, network family, extractors, dataset card."""
    try:
        entry(cfg.method)
    except KeyError as exc:
        raise ConfigError(f"method: {exc.args[0]}") from None
    for key, kind, values in (
        ("model.arch", "arch", [cfg.model.arch]),
        ("eval.quality", "extractor", cfg.eval.quality),
    ):
        for value in values:
            if value not in entries(kind):
                what = "model.arch" if kind == "arch" else "eval.quality extractor"
                raise ConfigError(f"{key}: unknown {what} '{value}'; registered: {', '.join(names(kind))}")
    try:
        if foreign_urls(cfg, cfg.data.dataset) is not None or image_folder(cfg, cfg.data.dataset) is not None:
            return  # shards not built here, or images: the scan gives classes and shape, a card is optional
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    try:
        load_card(cfg.data.dataset)
    except DataError as exc:
        raise ConfigError(f"data.dataset: {exc}") from None
