"""Dotted keys over the schema: every leaf with its type, default, help and bounds; reading, setting and
coercing one."""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

import yaml

from harness.config.schema import Config, plugin_sections
from harness.core.errors import ConfigError


def _fields(obj_type: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj_type)}


def _resolved_types(obj_type: type) -> dict[str, Any]:
    return typing.get_type_hints(obj_type)


def _leaves(cfg_type: type, prefix: str = "") -> Iterator[tuple[str, Any, Any, dataclasses.Field]]:
    """(dotted key, type, default, field) of every leaf of ``cfg_type``, plugin sections included at the top."""
    hints = _resolved_types(cfg_type)
    default = cfg_type()
    for name, f in _fields(cfg_type).items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            yield from _leaves(tp, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", tp, getattr(default, name), f
    if cfg_type is Config and not prefix:
        for name, section in plugin_sections().items():
            yield from _leaves(section, name + ".")


def all_keys(cfg_type: type = Config, prefix: str = "") -> dict[str, tuple[Any, Any, str]]:
    """Every dotted leaf key -> (type, default, help)."""
    return {key: (tp, default, f.metadata.get("help", "")) for key, tp, default, f in _leaves(cfg_type, prefix)}


def bounds() -> dict[str, dict[str, Any]]:
    """Every bounded key -> its bounds (``choices``, ``gt``, ``ge``), as its field declares them."""
    out = {}
    for key, _, _, f in _leaves(Config):
        b = {k: f.metadata.get(k) for k in ("choices", "gt", "ge") if f.metadata.get(k) not in (None, ())}
        if b:
            out[key] = b
    return out


def _closest(key: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not match:  # try the last component alone: "beta" -> "codegan.beta_c"
        tail = key.split(".")[-1]
        by_tail = {c.split(".")[-1]: c for c in candidates}
        close = difflib.get_close_matches(tail, list(by_tail), n=1, cutoff=0.6)
        match = [by_tail[close[0]]] if close else []
    return f" (did you mean '{match[0]}'?)" if match else ""


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Check ``value`` against the field type ``tp``; ints widen to floats, nothing else converts."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (item_tp,) = typing.get_args(tp)[:1]
        if item_tp is str and isinstance(value, str):  # one item of a list of strings (a URL pattern, a tag)
            value = [value] if value else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of {item_tp.__name__}, got {value!r}")
        return [_coerce(f"{key}[{i}]", item_tp, v) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: union types are not supported in the schema")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp in (int, float):
        if isinstance(value, str):  # PyYAML reads "5e-4" as a string
            with contextlib.suppress(ValueError):
                value = tp(value)
        if tp is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        raise ConfigError(f"{key}: unsupported schema type {tp}")
    raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r} ({type(value).__name__})")


def _set(cfg: Config, key: str, value: Any) -> None:
    keys = all_keys()
    if key not in keys:
        raise ConfigError(f"unknown config key '{key}'{_closest(key, sorted(keys))}")
    if keys[key][0] is str and isinstance(value, bool):  # YAML 1.1 reads a bare no/off/yes as a boolean
        choices = bounds().get(key, {}).get("choices", ())
        value = next((w for w in choices if yaml.safe_load(w) is value), value)
    obj: Any = cfg
    parts = key.split(".")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    setattr(obj, parts[-1], _coerce(key, keys[key][0], value))


def _section_names() -> set[str]:
    return {n for n, tp in _resolved_types(Config).items() if dataclasses.is_dataclass(tp)} | set(plugin_sections())


def _flatten(tree: dict, source: str) -> dict[str, Any]:
    """Nested sections -> dotted keys; a mapping where no section exists is an error."""
    flat: dict[str, Any] = {}
    sections = _section_names()
    for k, v in tree.items():
        if isinstance(v, dict):
            if k not in sections:
                raise ConfigError(f"{source}: '{k}' is not a config section{_closest(str(k), sorted(sections))}")
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[str(k)] = v
    return flat


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML-typed value (``3`` int, ``1e-4`` float, ``[0.5, 0.9]`` list, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key.strip()}: cannot parse value {raw!r}: {exc}") from None
    return key.strip(), "" if value is None else value


def get(cfg: Config, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj
