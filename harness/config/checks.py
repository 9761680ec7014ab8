"""Validation: every value within its field's bounds and the rules that tie keys together, naming the key at fault."""

from __future__ import annotations

import math

from harness.config import registry
from harness.config.keys import all_keys, bounds, get
from harness.config.schema import Config
from harness.core.errors import ConfigError


def _check_finite(cfg: Config) -> None:
    for key in all_keys():
        value = get(cfg, key)
        items = value if isinstance(value, list) else [value]
        for v in items:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{key}: must be a finite number, got {v}")


def validate(cfg: Config) -> None:
    """Reject impossible values, naming the key."""
    _check_finite(cfg)
    for key, b in bounds().items():  # what each field declares (opt's choices, gt, ge)
        value = get(cfg, key)
        if b.get("choices") and value not in b["choices"]:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(b['choices'])}")
        if b.get("gt") is not None and value <= b["gt"]:
            raise ConfigError(f"{key}: must be > {b['gt']:g}, got {value}")
        if b.get("ge") is not None and value < b["ge"]:
            raise ConfigError(f"{key}: must be >= {b['ge']:g}, got {value}")
    if len(cfg.train.betas) != 2 or not all(0 <= b < 1 for b in cfg.train.betas):
        raise ConfigError(f"train.betas: need two values in [0, 1), got {cfg.train.betas}")
    if not 0 <= cfg.train.ema_decay < 1:
        raise ConfigError(f"train.ema_decay: must be in [0, 1), got {cfg.train.ema_decay}")
    if cfg.data.num_workers > 0 and cfg.data.streams % cfg.data.num_workers:
        raise ConfigError(f"data.num_workers: {cfg.data.num_workers} does not divide data.streams={cfg.data.streams}")
    if cfg.train.best_by and not cfg.train.best_by.startswith("eval/"):
        raise ConfigError(
            f"train.best_by: must name an eval/ metric (eval/fid_domain, eval/acc), got {cfg.train.best_by!r}"
        )
    if len(set(cfg.eval.quality)) != len(cfg.eval.quality):
        raise ConfigError(f"eval.quality: repeated extractor in {cfg.eval.quality}")
    if not cfg.name or "/" in cfg.name:
        raise ConfigError(f"name: must be a non-empty folder name, got {cfg.name!r}")
    if cfg.eval.fid_samples < 2 and cfg.eval.quality:
        raise ConfigError(f"eval.fid_samples: FID needs at least 2 samples, got {cfg.eval.fid_samples}")
    registry.check_sections(cfg)  # the rules of each method's own section
    registry.check_names(cfg)
