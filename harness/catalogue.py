"""The methods the harness knows, readable without importing torch: built-in ones and plugins.

Each method is a :class:`MethodEntry`: its config name, the class that implements it (imported only to train or
score), the name tables show, the config keys it reads (a run's identity holds only those beside the shared
data, model and train keys), the loss weight a trade-off sweep varies, the losses the progress bar shows, and,
for a plugin, a config section of its own.

Plugins come from two places, both seen by every process of a launch, sweep trial workers included:

* installed packages, through the entry point group ``codegan_bench.methods`` (each entry point names a
  :class:`MethodEntry` in a module that does not import torch);
* ``--plugin MODULE`` on any command, which adds ``MODULE`` to ``CODEGAN_PLUGINS`` (a comma-separated list
  that child processes inherit); the module defines ``ENTRY`` (one entry) or ``ENTRIES`` (several).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

GROUP = "codegan_bench.methods"
PLUGINS_ENV = "CODEGAN_PLUGINS"


class PluginError(ConfigError):
    """A plugin that cannot be loaded or declares a method badly (a configuration error: exit 2)."""


@dataclass(frozen=True)
class MethodEntry:
    name: str  # the config's ``method`` value
    target: str  # ``module:Class`` implementing :class:`harness.method.Method`
    label: str  # the name tables and plots show
    reads: tuple[str, ...] = ()  # config keys or key prefixes (``"codegan."``) it reads beyond data/model/train
    weight_key: str = ""  # the loss weight a trade-off sweep varies ("" = none)
    progress: tuple[str, ...] = ()  # loss names (the last part of a metric key) shown on the progress bar
    section: tuple[str, type] | None = None  # (name, dataclass): a config section of its own (plugins)
    variant: Callable[[dict[str, Any]], str] | None = None  # the label's suffix a training config selects
    presets: str = ""  # "package/folder" of its presets <dataset>.yaml, named <method>/<dataset> (plugins)
    origin: str = "built-in"  # where it came from (a plugin's module or distribution)

    def label_of(self, train: dict[str, Any]) -> str:
        return self.label + (self.variant(train) if self.variant else "")

    def reads_key(self, key: str) -> bool:
        """Whether ``key`` is its own: named in ``reads`` (a key, or a prefix ending in a dot), or in its section."""
        own = self.reads + ((self.section[0] + ".",) if self.section else ())
        return any(key == r or (r.endswith(".") and key.startswith(r)) for r in own)


def _codegan_variant(train: dict[str, Any]) -> str:
    out = " (self)" if train.get("codegan.pretrain", "none") != "none" else ""
    return out + (f" ({train['codegan.few_labels']} labels)" if train.get("codegan.few_labels") else "")


def _infogan_variant(train: dict[str, Any]) -> str:
    loss = train.get("train.gan_loss", "bce")
    return f" ({loss})" if loss != "bce" else ""


_INFOGAN_KEYS = tuple(
    f"baselines.{k}" for k in ("lambda_mi", "cont_dim", "lambda_cont", "mi_trains_d_trunk", "q_hidden")
)
_CR_KEYS = tuple(f"baselines.{k}" for k in ("cr_weight", "cr_start", "cr_gap", "cr_lr"))
_ENCODER_KEYS = ("codegan.fc_dim", "codegan.encoders")  # E_c's shape, which the SimCLR stage trains

BUILTIN = (
    MethodEntry("codegan", "codegan.method:CoDeGAN", "CoDeGAN", ("codegan.", "pretrain."), "codegan.beta_c",
                ("d_loss", "g_lc", "e_lc"), variant=_codegan_variant),
    MethodEntry("simclr", "codegan.pretrain:SimCLR", "SimCLR + k-means", ("pretrain.", *_ENCODER_KEYS),
                progress=("nt_xent",)),
    MethodEntry("infogan", "baselines.infogan:InfoGAN", "InfoGAN", _INFOGAN_KEYS, "baselines.lambda_mi",
                ("d_loss", "g_mi_cat"), variant=_infogan_variant),
    MethodEntry("infogan-cr", "baselines.infogan_cr:InfoGANCR", "InfoGAN-CR", _INFOGAN_KEYS + _CR_KEYS,
                "baselines.lambda_mi", ("d_loss", "g_mi_cat", "g_cr")),
    MethodEntry("clustergan", "baselines.clustergan:ClusterGAN", "ClusterGAN", ("baselines.cluster_",),
                "baselines.cluster_beta_c", ("d_loss", "e_zc")),
    MethodEntry("pixels-kmeans", "baselines.pixels:PixelsKMeans", "k-means on pixels"),
)  # fmt: skip

_ENTRIES: dict[str, MethodEntry] = {}
_LOADED: tuple[str, ...] | None = None  # the CODEGAN_PLUGINS value the table was built for


def add(entry: MethodEntry) -> None:
    """Register one method (a plugin's, or a test's); a name taken by another method is refused."""
    if not isinstance(entry, MethodEntry):
        raise PluginError(f"{entry!r} is not a harness.catalogue.MethodEntry")
    known = _ENTRIES.get(entry.name)
    if known is not None and known.target != entry.target:
        raise PluginError(f"method '{entry.name}' of {entry.origin} is already {known.target} ({known.origin})")
    if ":" not in entry.target:
        raise PluginError(f"method '{entry.name}' of {entry.origin}: target {entry.target!r} is not module:Class")
    _ENTRIES[entry.name] = entry


def plugin_modules() -> tuple[str, ...]:
    return tuple(m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip())


def use_plugin(module: str) -> None:
    """``--plugin MODULE``: load it now and hand it to every child process (launch ranks, sweep trials)."""
    mods = plugin_modules()
    if module not in mods:
        os.environ[PLUGINS_ENV] = ",".join((*mods, module))
    _load_module(module)


def _load_module(module: str) -> None:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever the plugin raises, name it
        raise PluginError(f"--plugin {module} ({PLUGINS_ENV}): cannot import it: {type(exc).__name__}: {exc}") from None
    found = list(getattr(mod, "ENTRIES", ())) + ([mod.ENTRY] if hasattr(mod, "ENTRY") else [])
    if not found:
        raise PluginError(f"--plugin {module}: the module defines neither ENTRY nor ENTRIES (harness.catalogue)")
    for entry in found:
        add(_with_origin(entry, f"--plugin {module}"))


def _with_origin(entry: Any, origin: str) -> Any:
    if isinstance(entry, MethodEntry) and entry.origin == "built-in":
        return MethodEntry(**{**entry.__dict__, "origin": origin})
    return entry


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP):
        try:
            entry = ep.load()
        except Exception as exc:  # noqa: BLE001 - whatever the plugin raises, name it
            raise PluginError(f"entry point {GROUP}:{ep.name} = {ep.value}: {type(exc).__name__}: {exc}") from None
        add(_with_origin(entry, f"entry point {ep.value}"))


def entries() -> dict[str, MethodEntry]:
    """Every known method by name: built-in ones, installed plugins, and those of ``CODEGAN_PLUGINS``."""
    global _LOADED
    mods = plugin_modules()
    if mods != _LOADED:
        if _LOADED is None:
            for entry in BUILTIN:
                add(entry)
            _load_entry_points()
        for module in mods:
            _load_module(module)
        _LOADED = mods
    return _ENTRIES


def entry(name: str) -> MethodEntry:
    table = entries()
    if name not in table:
        raise KeyError(f"unknown method '{name}'; registered: {', '.join(sorted(table))}")
    return table[name]


def load(name: str) -> Any:
    """The class implementing method ``name`` (imports its module)."""
    e = entry(name)
    module, _, attr = e.target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"method '{name}' ({e.origin}): cannot load {e.target}: {exc}") from None
    cls.name = name
    return cls


def label(train: dict[str, Any]) -> str:
    """The name tables show for a run's training config (the method's label and its variant)."""
    method = str(train.get("method", ""))
    e = entries().get(method)
    return e.label_of(train) if e else method


def sections() -> dict[str, type]:
    """The config sections plugins add: name -> dataclass."""
    return {e.section[0]: e.section[1] for e in entries().values() if e.section}
