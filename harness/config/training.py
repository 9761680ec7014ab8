"""Which keys change what a run trains (its identity), and their hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.config.keys import all_keys, get
from harness.config.registry import entry
from harness.config.schema import SHARED_SECTIONS, Config

# Keys that do not change what a run computes: excluded from the run hash, changeable on resume.
SCHEDULE_KEYS = frozenset(
    {
        "name",
        "train.steps",
        "train.log_every",
        "train.eval_every",
        "train.eval_at_start",
        "train.ckpt_every",
        "train.sync_every",
        "train.keep_checkpoints",
        "train.trace",
        "train.best_by",
        "train.optimizer_impl",
        "train.channels_last",
        "train.gemm_conv_transpose",
        "train.compile",
        "data.root",
        "data.train_urls",
        "data.eval_urls",
        "data.num_workers",
        "data.verify",
        "data.on_error",
        "data.remote_timeout_s",
        "data.remote_min_bytes_per_s",
    }
)


def is_training_key(key: str) -> bool:
    """Keys that change what is trained (not schedule, logging, evaluation or process keys)."""
    return key not in SCHEDULE_KEYS and not key.startswith(("log.", "eval.", "runtime."))


# Training keys added after runs were first hashed: part of a run's identity only when set off their default, so
# that adding a key renames no existing run folder.
LATE_TRAINING_KEYS = frozenset(
    {"train.tf32", "train.deterministic", "data.classes", "train.init_from", "train.init_nets"}
)


def training_config(cfg: Config) -> dict[str, Any]:
    """The flat training config: every key that changes the weights a run produces. Of the method sections, only
    the keys ``cfg``'s method reads (its registry entry's ``reads`` and its own section): another method's key
    never changes this run's identity."""
    method = entry(cfg.method)
    keys = all_keys()
    return {
        k: get(cfg, k)
        for k in keys
        if is_training_key(k)
        and ("." not in k or k.startswith(SHARED_SECTIONS) or method.reads_key(k))
        and not ((k in LATE_TRAINING_KEYS or method.is_late(k)) and get(cfg, k) == keys[k][1])
    }


def digest(obj: Any, n: int = 8) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def training_hash(cfg: Config) -> str:
    """Short hash of the training config (what a run computes; not schedule, logging or evaluation keys)."""
    return digest(training_config(cfg))
