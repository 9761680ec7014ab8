"""What makes two runs, or two results, the same experiment.

* A **run** (its folder ``<name>-<run hash>``) is what is *trained*: the training config (every key but
  schedule, logging, evaluation and process keys; of the method sections only the keys its method reads,
  :func:`harness.config.training_config`), the world size, the mixed precision and the device type
  (``cpu`` or ``cuda``). A changed precision, world size or device type is another run folder, never a
  silently reused result. ``IDENTITY_VERSION`` numbers the formula; folders named by earlier formulas are
  still found (:mod:`harness.identity_versions`).
* A **result** (what a table may pool as seeds) is the run's identity without the seed, plus the step
  reached, the evaluation settings and the data (the shard hashes of the splits it read); for a run that
  started from another config's checkpoint (a trial cloned by PBT), also that start (run hash and step),
  so it never pools with runs of its final config trained from scratch.
"""

from __future__ import annotations

import os
from typing import Any

from harness.config import Config, all_keys, digest, get, training_config
from harness.core.launch_env import launch_int

# 1: training config (every method's keys), world size, precision. 2: the device type, and only the keys of the
# run's own method (another method's key no longer splits its results).
IDENTITY_VERSION = 2

# evaluation keys that do not change what is measured (batching, pictures, the side baseline)
EVAL_NEUTRAL = frozenset({"eval.batch_size", "eval.grid_columns", "eval.pixel_baseline"})


def launch_settings(cfg: Config) -> tuple[int, str]:
    """(world size, mixed precision) this process runs with, read before the Accelerator exists: from the
    launcher's environment (``accelerate launch``, torchrun, Ray Train) unless the config names a precision."""
    world = launch_int("WORLD_SIZE", 1)
    precision = cfg.train.mixed_precision
    if precision == "auto":
        precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "") or "no"
    return world, precision


def device_type() -> str:
    """The device type this process trains on: ``cuda`` where a GPU is visible, else ``cpu``
    (:func:`harness.runtime.make_accelerator` chooses the same)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run_identity(cfg: Config, world: int, precision: str, device: str = "cpu") -> dict[str, Any]:
    return {
        "version": IDENTITY_VERSION,
        "train": training_config(cfg),
        "world_size": world,
        "mixed_precision": precision,
        "device": device,
    }


def run_hash(cfg: Config, world: int, precision: str, device: str = "cpu") -> str:
    return digest(run_identity(cfg, world, precision, device))


def eval_settings(cfg: Config) -> dict[str, Any]:
    return {k: get(cfg, k) for k in all_keys() if k.startswith("eval.") and k not in EVAL_NEUTRAL}


def eval_hash(cfg: Config) -> str:
    return digest(eval_settings(cfg))


def result_identity(
    cfg: Config,
    world: int,
    precision: str,
    step: int,
    data: str,
    lineage: list[dict[str, Any]] | None = None,
    device: str = "cpu",
    extractors: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything that changes a measured number except the seed (``lineage``: the foreign checkpoints the
    run started from, oldest first; absent for a run trained from scratch, whose key it leaves unchanged;
    ``device``: recorded when it is not ``cpu``, so results made on CPUs keep their keys; ``extractors``: the
    weights, resize and input size of each feature extractor its image metrics were measured with)."""
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
    if device != "cpu":
        identity["device"] = device
    if extractors:  # the yardsticks of its image metrics: results measured with two classifiers never pool
        identity["extractors"] = extractors
    return identity


def result_key(identity: dict[str, Any]) -> str:
    return digest(identity, 10)
