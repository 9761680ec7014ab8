"""The run folder: ``<log.root>/<name>-<config hash>/`` with config.yaml, metrics, checkpoints, summary."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.config import SCHEDULE_KEYS, Config, ConfigError, all_keys, build_config, config_hash, get, to_dict
from harness.data.manifest import atomic_write_text

CONFIG = "config.yaml"
SUMMARY = "summary.json"


def run_dir_for(cfg: Config) -> Path:
    return Path(cfg.log.root) / f"{cfg.name}-{config_hash(cfg)}"


def write_config(run_dir: Path, cfg: Config) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def config_for_resume(run_dir: Path, overrides: list[str]) -> Config:
    """The run's saved config plus overrides; only schedule and logging keys may change on resume."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise ConfigError(f"--resume {run_dir}: no {CONFIG} there (is it a run folder?)")
    saved = build_config(path)
    cfg = build_config(path, overrides)
    changed = [k for k in all_keys() if get(cfg, k) != get(saved, k)]
    fixed = [k for k in changed if k not in SCHEDULE_KEYS and not k.startswith("log.")]
    if fixed:
        raise ConfigError(
            f"--resume {run_dir}: {', '.join(fixed)} cannot change on resume (it changes what the run computes);"
            " start a new run instead"
        )
    return cfg


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else None


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_dir / SUMMARY, json.dumps(summary, indent=1, sort_keys=False))


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def versions() -> dict[str, str]:
    import accelerate
    import sklearn
    import torch
    import webdataset

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "accelerate": accelerate.__version__,
        "webdataset": webdataset.__version__,
        "scikit-learn": sklearn.__version__,
    }
