"""Building a config: defaults <- YAML (``base:`` chains, size-capped) <- ``key=value`` overrides <- values;
``pipe:`` only from trusted places."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from harness.config.checks import validate
from harness.config.keys import _flatten, _set, get, parse_override
from harness.config.presets import preset_path
from harness.config.protocols import apply_protocol
from harness.config.schema import Config, plugin_sections
from harness.core.errors import MAX_YAML_BYTES, ConfigError

# keys whose values may run a shell command (webdataset's pipe: URLs)
PIPE_KEYS = ("data.root", "data.train_urls", "data.eval_urls")
PIPE_ENV = "CODEGAN_ALLOW_PIPE"


def pipe_allowed() -> bool:
    return os.environ.get(PIPE_ENV, "") not in ("", "0")


def read_yaml_text(p: Path) -> str:
    """The text of a config YAML, refused unread when it is larger than :data:`MAX_YAML_BYTES`."""
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: {size} bytes, more than a config file may hold ({MAX_YAML_BYTES}); not read")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None


def _read_tree(p: Path) -> Any:
    try:
        return yaml.safe_load(read_yaml_text(p)) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None


def load_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config YAML (safe loader) into flat dotted keys.

    A top-level ``base: <path>`` (relative to the file) or ``base: <preset name>`` names a preset whose keys this
    file starts from and overrides: baselines inherit the CoDeGAN preset of their dataset, so only the method
    differs (a plugin's preset says ``base: digits``).
    """
    p = preset_path(path)
    if p.resolve() in _seen:
        raise ConfigError(f"{p}: 'base' chain loops back to itself")
    tree = _read_tree(p)
    if not isinstance(tree, dict):
        raise ConfigError(f"{p}: top level must be a mapping of config sections")
    base = tree.pop("base", None)
    if base:
        relative = p.parent / str(base)
        flat = load_yaml(relative if relative.is_file() else str(base), (*_seen, p.resolve()))
    else:
        flat = {}
    flat.update(_flatten(tree, str(p)))
    return flat


def build_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
    trusted_values: bool = False,
) -> Config:
    """Defaults <- YAML file <- ``key=value`` overrides <- ``values`` (dotted key -> value), then validation.

    A ``pipe:`` value of a key in :data:`PIPE_KEYS` runs a shell command, so it is accepted only from
    the command line (``overrides``), from ``values`` marked trusted, or with ``CODEGAN_ALLOW_PIPE=1``:
    a preset or sweep file someone sends you cannot execute code.
    """
    cfg = Config()
    source: dict[str, str] = {}
    if path is not None:
        for key, value in load_yaml(path).items():
            try:
                _set(cfg, key, value)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            source[key] = str(path)
    for text in overrides or []:
        key, value = parse_override(text)
        _set(cfg, key, value)
        source[key] = ""
    for key, value in (values or {}).items():
        _set(cfg, key, value)
        source[key] = "" if trusted_values else "a sweep or program's values"
    for key in PIPE_KEYS:
        values = get(cfg, key)
        value = next((v for v in (values if isinstance(values, list) else [values]) if "pipe:" in str(v)), "")
        if value and source.get(key) and not pipe_allowed():
            raise ConfigError(
                f"{source[key]}: {key}={value!r} would run a shell command; configs are code, so pipe: is"
                f" taken only from the command line ({key}=...) or with {PIPE_ENV}=1"
            )
    apply_protocol(cfg, {k for k, where in source.items() if where != str(path)})  # a file's values yield to it
    validate(cfg)
    return cfg


def to_dict(cfg: Config) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    for name in plugin_sections():
        out[name] = dataclasses.asdict(getattr(cfg, name))
    return out


def from_dict(tree: dict[str, Any]) -> Config:
    cfg = Config()
    for key, value in _flatten(tree, "config").items():
        _set(cfg, key, value)
    validate(cfg)
    return cfg
