"""What makes two runs, or two results, the same experiment.

* A **run** (its folder ``<name>-<run hash>``) is what is *trained*: the training config (every key but
  schedule, logging and evaluation keys), the world size and the mixed precision. A changed precision or
  world size is another run folder, never a silently reused result.
* A **result** (what a table may pool as seeds) is the run's identity without the seed, plus the step
  reached, the evaluation settings and the data (the shard hashes of the splits it read); for a run that
  started from another config's checkpoint (a trial cloned by PBT), also that start (run hash and step),
  so it never pools with runs of its final config trained from scratch.
"""

from __future__ import annotations

import os
from typing import Any

from harness.config import Config, all_keys, digest, get, training_config

# evaluation keys that do not change what is measured (batching, pictures, the side baseline)
EVAL_NEUTRAL = frozenset({"eval.batch_size", "eval.grid_columns", "eval.pixel_baseline"})


def launch_settings(cfg: Config) -> tuple[int, str]:
    """(world size, mixed precision) this process runs with, read before the Accelerator exists: from the
    launcher's environment (``accelerate launch``, torchrun, Ray Train) unless the config names a precision."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    precision = cfg.train.mixed_precision
    if precision == "auto":
        precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "") or "no"
    return world, precision


def run_identity(cfg: Config, world: int, precision: str) -> dict[str, Any]:
    return {"train": training_config(cfg), "world_size": world, "mixed_precision": precision}


def run_hash(cfg: Config, world: int, precision: str) -> str:
    return digest(run_identity(cfg, world, precision))


def eval_settings(cfg: Config) -> dict[str, Any]:
    return {k: get(cfg, k) for k in all_keys() if k.startswith("eval.") and k not in EVAL_NEUTRAL}


def eval_hash(cfg: Config) -> str:
    return digest(eval_settings(cfg))


def result_identity(
    cfg: Config, world: int, precision: str, step: int, data: str, lineage: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Everything that changes a measured number except the seed (``lineage``: the foreign checkpoints the
    run started from, oldest first; absent for a run trained from scratch, whose key it leaves unchanged)."""
    train = {k: v for k, v in training_config(cfg).items() if k != "seed"}
    identity = {
        "train": train,
        "world_size": world,
        "mixed_precision": precision,
        "step": step,
        "eval": eval_settings(cfg),
        "data": data,
    }
    if lineage:
        identity["start"] = lineage
    return identity


def result_key(identity: dict[str, Any]) -> str:
    return digest(identity, 10)
