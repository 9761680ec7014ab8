"""CoDeGAN's pre-trained E_c artifacts: written by a ``stage=pretrain`` run, found again by ``codegan.pretrain``.

An artifact (``encoder.pt`` in the pre-training run folder, copied to the project cache under a key of
dataset, encoder architecture and the stage's settings) holds E_c's weights, the architecture signature they
fit, the run's training-config hash and its own k-means scores ("SimCLR + k-means", "MAML + k-means"). The
SimCLR and MAML stages write and find their artifacts the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from codegan.config import MAML_KEYS
from harness.config import Config, ConfigError, get, to_dict, training_hash
from harness.config.cards import load_card
from harness.config.locations import is_pattern
from harness.core.atomic import atomic_copy, atomic_write_bytes, torch_bytes
from harness.core.cache import cache_dir, cache_lock
from harness.core.errors import DataError
from harness.parallel import distributed

ARTIFACT = "encoder.pt"


def data_identity(cfg: Config) -> list[str]:
    """What the pre-training reads, as far as it is known before its shards are: the dataset card's hash (its
    sources, split and shape; a doctored card under the same name is another) and the URLs of shards not built
    here."""
    try:
        card = load_card(cfg.data.dataset).sha256
    except DataError:
        card = ""
    return [card, *cfg.data.train_urls, *(cfg.data.root.split("::") if is_pattern(cfg.data.root) else [])]


def stage_settings(cfg: Config) -> dict[str, Any]:
    """The stage config's own settings: SimCLR's ``pretrain`` section; MAML's ``codegan.maml_*`` keys and the count
    and seed that draw its labelled images."""
    if cfg.method != "maml":
        return to_dict(cfg)["pretrain"]
    keys = (*MAML_KEYS, "codegan.few_labels", "seed")
    return {"method": "maml", **{k: get(cfg, k) for k in keys}}


def artifact_key(cfg: Config, signature: dict) -> str:
    """Dataset and its data + E_c architecture + the stage's settings: what makes two pre-trainings
    interchangeable."""
    src = json.dumps([cfg.data.dataset, data_identity(cfg), signature, stage_settings(cfg)], sort_keys=True)
    return hashlib.sha256(src.encode()).hexdigest()[:12]


def cached_path(cfg: Config, signature: dict) -> Path:
    """``<cache>/encoders/<dataset>-<key>.pt`` (SimCLR's), ``<dataset>-maml-<key>.pt`` (MAML's)."""
    kind = "-maml" if cfg.method == "maml" else ""
    return cache_dir("encoders") / f"{Path(cfg.data.dataset).stem}{kind}-{artifact_key(cfg, signature)}.pt"


def save_artifact(run_dir: Path, payload: dict, cfg: Config, metrics: dict[str, float]) -> Path:
    """``<run>/encoder.pt`` (atomic) plus its copy in the cache; returns the run-folder path."""
    full = {**payload, "config_hash": training_hash(cfg), "metrics": metrics}
    path = run_dir / ARTIFACT
    atomic_write_bytes(path, torch_bytes(full))
    cached = cached_path(cfg, payload["signature"])
    atomic_copy(path, cached)
    return path


def load_artifact(path: Path, signature: dict) -> dict[str, Any]:
    """E_c's weights from ``path``, refused with the differing keys when its architecture does not fit."""
    if not path.is_file():
        raise ConfigError(f"codegan.pretrain: no encoder artifact at {path}")
    try:
        art = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report the file, whatever the cause
        raise ConfigError(f"codegan.pretrain: cannot read {path}: {exc}") from None
    if not isinstance(art, dict) or "state" not in art or "signature" not in art:
        raise ConfigError(f"codegan.pretrain: {path} is not an encoder artifact (no state/signature)")
    theirs = art["signature"]
    diff = [f"{k}: artifact {theirs.get(k)!r}, this run {v!r}" for k, v in signature.items() if theirs.get(k) != v]
    if diff:
        raise ConfigError(f"codegan.pretrain: {path} was trained for another E_c architecture; " + "; ".join(diff))
    return art


def resolve(cfg: Config, signature: dict, stage: Config | None, run_stage: Callable[[Config], Any]) -> dict[str, Any]:
    """The artifact ``codegan.pretrain`` names (weights, signature, path) for an E_c of ``signature``: the file it
    names, or, with ``simclr`` or ``maml``, the cached artifact of ``stage``, which ``run_stage(stage)`` pre-trains
    first when nothing is cached (once, even for concurrent trials).

    The ranks of one data-parallel job run the stage together: rank 0 decides whether it is needed (holding
    the lock that makes separate jobs take turns), every rank trains, and rank 0 reads the artifact it wrote,
    after writing it, and hands it to the others (their file system need not show it, nor show it yet)."""
    if stage is None:
        path = Path(cfg.codegan.pretrain).expanduser()
    else:
        path = cached_path(stage, signature)
        rank0 = not distributed.active() or torch.distributed.get_rank() == 0
        with cache_lock(path) if rank0 else contextlib.nullcontext():
            if distributed.from_rank0(lambda: not path.is_file()):
                if rank0:
                    print(
                        f"codegan.pretrain={stage.method}: no cached encoder {path.name};"
                        " running the pre-training stage first"
                    )
                run_stage(stage)
            art = distributed.from_rank0(lambda: load_artifact(path, signature))
        return {**art, "path": str(path)}
    return {**distributed.from_rank0(lambda: load_artifact(path, signature)), "path": str(path)}
