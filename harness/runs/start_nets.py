"""Networks started from another run (``train.init_from``, ``train.init_nets``): the reference code's few-label runs
start G, D and E_c from pre-trained ones. The chosen networks' weights are loaded at step 0 (their optimizers start
fresh), the source is recorded in the run's lineage (part of its results' identity), and a network that does not fit
is refused with the config keys in which the two runs differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.config import Config, all_keys, get
from harness.core.errors import ConfigError
from harness.core.places import at_home
from harness.runs import checkpoint

SHAPE_SECTIONS = ("data.", "model.")  # where the keys that shape a network live (besides the method's own section)


def source_checkpoint(source: str) -> Path:
    """The checkpoint ``train.init_from`` names: a checkpoint file, or a run folder's latest checkpoint."""
    path = at_home(source)
    if path.is_dir():
        found = checkpoint.latest(path / "checkpoints")
        if found is None:
            raise ConfigError(f"train.init_from={source}: {path / 'checkpoints'} holds no checkpoint to start from")
        return found
    if not path.is_file():
        raise ConfigError(f"train.init_from={source}: no such run folder or checkpoint ({path})")
    return path


def differing_keys(cfg: Config, source: Path, section: str) -> list[str]:
    """The keys that shape networks (data, model and the method's section) whose values differ between ``cfg`` and
    the config of the run that wrote checkpoint ``source`` (its folder's ``config.yaml``)."""
    written = source.parent.parent / "config.yaml"
    try:
        theirs = yaml.safe_load(written.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    out = []
    for key in all_keys():
        if not key.startswith((*SHAPE_SECTIONS, f"{section}.")):
            continue
        part, _, leaf = key.partition(".")
        if isinstance(theirs.get(part), dict) and leaf in theirs[part] and theirs[part][leaf] != get(cfg, key):
            out.append(f"{key}={get(cfg, key)!r} here, {theirs[part][leaf]!r} there")
    return out


def load_networks(method: Any, cfg: Config) -> dict[str, Any]:
    """Load ``train.init_nets`` (every network both runs have when empty) of ``train.init_from`` into ``method``;
    returns the lineage entry (source run hash, step, networks)."""
    path = source_checkpoint(cfg.train.init_from)
    state = checkpoint.load(path, map_location="cpu")
    theirs = state.get("method", {}).get("nets", {})
    names = list(cfg.train.init_nets) or [n for n in method.nets if n in theirs]
    unknown = [n for n in names if n not in method.nets or n not in theirs]
    if unknown or not names:
        raise ConfigError(
            f"train.init_nets={names}: {unknown or 'none'} not in both runs (this run has {sorted(method.nets)},"
            f" {path} has {sorted(theirs)})"
        )
    for name in names:
        try:
            method.raw(name).load_state_dict(theirs[name])
        except RuntimeError as exc:
            differ = differing_keys(cfg, path, cfg.method)
            why = f"; the runs differ in {', '.join(differ)}" if differ else ""
            first = str(exc).strip().splitlines()[-1].strip()
            raise ConfigError(
                f"train.init_from={cfg.train.init_from}: network {name} does not fit ({first}){why}"
            ) from None
    return {"run_hash": state.get("run_hash", ""), "step": int(state.get("step", 0)), "nets": names}
