"""Run identities of earlier versions, and the run folders they named.

A run folder keeps the name it was given; its ``run.json`` records the ``identity_version`` of the formula that
named it (a ``run.json`` without one: version 1). When the folder the current formula names for a launch does
not exist, :func:`locate` looks for the folder an earlier version named for the very same launch, so a run
made before a version change is continued, or reported complete, instead of trained again. Each earlier
formula is written out here, frozen: it never calls code that a later version changes. A new version adds
its predecessor's formula to ``FORMULAS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import Config, all_keys, digest, get, is_training_key
from harness.core.places import at_home
from harness.runs.identity import IDENTITY_VERSION, run_hash

RUN_INFO = "run.json"
Formula = Callable[[Config, int, str, str], "str | None"]

# Version 1: the training keys as they were (train.tf32 only when set), world size and precision; no device
# type, as version 1 only ever ran on CPUs.
V1_TRAINING_KEYS = frozenset(
    ["method", "stage", "seed", "data.dataset", "data.image_size", "data.streams"]
    + [f"model.{k}" for k in ("arch", "zn_dim", "g_width", "d_width", "e_width", "hidden", "spectral_norm", "init")]
    + [
        f"train.{k}"
        for k in ("batch_size", "g_batch_size", "critic", "lr_g", "lr_d", "lr_e", "betas", "weight_decay", "gan_loss")
        + ("gp_weight", "lr_decay", "ema_decay", "mixed_precision", "tf32")
    ]
    + [
        f"codegan.{k}"
        for k in ("beta_c", "beta_z", "tau", "base_tau", "fc_dim", "e_batch_size", "ez_batch_size", "encoders")
        + ("augment", "chain_step", "crop_scale", "crop_per_sample", "crop_mode", "color_per_sample", "detach_view")
        + ("pretrain", "few_labels")
    ]
    + [
        f"baselines.{k}"
        for k in ("lambda_mi", "cont_dim", "lambda_cont", "mi_trains_d_trunk", "q_hidden", "cluster_beta_n")
        + ("cluster_beta_c", "cluster_sigma_n", "cr_weight", "cr_start", "cr_gap", "cr_lr")
    ]
    + [f"pretrain.{k}" for k in ("steps", "batch_size", "lr", "weight_decay", "tau", "crop_scale", "flip", "seed")]
)
V1_ONLY_WHEN_SET = frozenset({"train.tf32"})


def v1_hash(cfg: Config, world: int, precision: str, device: str) -> str | None:
    """The version-1 run hash of this launch, or None for a launch version 1 could not have made (another
    device type than the CPU, a training key added since set off its default)."""
    keys = all_keys()
    if device != "cpu" or not keys.keys() >= V1_TRAINING_KEYS:  # (a key version 1 hashed has gone)
        return None
    train: dict[str, Any] = {}
    for key, (_, default, _) in keys.items():
        value = get(cfg, key)
        if key in V1_TRAINING_KEYS:
            if not (key in V1_ONLY_WHEN_SET and value == default):
                train[key] = value
        elif is_training_key(key) and value != default:
            return None
    return digest({"train": train, "world_size": world, "mixed_precision": precision})


FORMULAS: dict[int, Formula] = {1: v1_hash}


def run_info(run_dir: Path) -> dict[str, Any] | None:
    """The folder's ``run.json``, or None when it has none (or it is unreadable)."""
    try:
        info = json.loads((Path(run_dir) / RUN_INFO).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def folder_version(run_dir: Path) -> int:
    """The identity version that named ``run_dir``: its ``run.json``'s, 1 for one without, the current
    version for a folder not made yet."""
    info = run_info(run_dir)
    return IDENTITY_VERSION if info is None else int(info.get("identity_version", 1))


def hash_for(version: int, cfg: Config, world: int, precision: str, device: str) -> str | None:
    """The run hash identity ``version`` gives this launch (None where that version could not have made it)."""
    if version == IDENTITY_VERSION:
        return run_hash(cfg, world, precision, device)
    formula = FORMULAS.get(version)
    return formula(cfg, world, precision, device) if formula else None


def locate(cfg: Config, world: int, precision: str, device: str) -> tuple[Path, str, int]:
    """(run folder, run hash, identity version) of this launch: ``<log.root>/<name>-<hash>``, or, when that does
    not exist, the folder an earlier version named for the same launch (its ``run.json`` saying so)."""
    root = at_home(cfg.log.root)
    current = run_hash(cfg, world, precision, device)
    folder = root / f"{cfg.name}-{current}"
    if not folder.exists():
        for version in sorted(FORMULAS, reverse=True):
            old = hash_for(version, cfg, world, precision, device)
            info = run_info(root / f"{cfg.name}-{old}") if old else None
            if info and info.get("run_hash") == old and int(info.get("identity_version", 1)) == version:
                return root / f"{cfg.name}-{old}", str(old), version
    return folder, current, IDENTITY_VERSION


def folder_identity(run_dir: Path, cfg: Config, world: int, precision: str, device: str) -> tuple[str, int]:
    """(run hash, identity version) of the launch ``(world, precision, device)`` of ``cfg`` in the given
    folder, by the formula of the version that named it; where that version could not have made this launch,
    the current formula's (a checkpoint of the folder then refuses it, naming what differs)."""
    version = folder_version(run_dir)
    found = hash_for(version, cfg, world, precision, device)
    if found is None:
        return run_hash(cfg, world, precision, device), IDENTITY_VERSION
    return found, version
