"""The run folder: ``<log.root>/<name>-<run hash>/`` with config.yaml, metrics, checkpoints, summary."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.config import Config, ConfigError, all_keys, build_config, get, is_training_key, to_dict
from harness.core.atomic import atomic_write_text
from harness.core.places import home
from harness.runs.identity import device_type, launch_settings
from harness.runs.identity_versions import locate

CONFIG = "config.yaml"
SUMMARY = "summary.json"


def run_dir_for(cfg: Config, world: int | None = None, precision: str | None = None, device: str | None = None) -> Path:
    """``<log.root>/<name>-<run hash>`` (or the folder an earlier identity version named for the same launch);
    world size and precision default to this process's launch settings, the device type to this process's
    (a caller whose workers train elsewhere names theirs)."""
    env_world, env_precision = launch_settings(cfg)
    return locate(cfg, world or env_world, precision or env_precision, device or device_type())[0]


def write_config(run_dir: Path, cfg: Config) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / CONFIG, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def config_for_resume(run_dir: Path, overrides: list[str], rescore: bool = False) -> Config:
    """The run's saved config plus overrides; only schedule and logging keys may change on resume, and
    only evaluation, logging and data-location keys when re-scoring (``rescore``: codegan-eval)."""
    path = run_dir / CONFIG
    where = f"codegan-eval {run_dir}" if rescore else f"--resume {run_dir}"
    if not path.is_file():
        raise ConfigError(f"{where}: no {CONFIG} there (is it a run folder?)")
    saved = build_config(path)
    cfg = build_config(path, overrides)
    changed = [k for k in all_keys() if get(cfg, k) != get(saved, k)]
    fixed = [k for k in changed if is_training_key(k)]
    if rescore:
        other = [k for k in changed if not k.startswith(("eval.", "log.", "data.")) or k in fixed]
        if other:
            why = "would change what was trained" if fixed else "is not an evaluation setting"
            raise ConfigError(
                f"{where}: {', '.join(other)} {why}; re-scoring takes only eval.*, log.* and data-location keys"
                + (" (train a new run with that value instead)" if fixed else "")
            )
    if fixed:
        raise ConfigError(
            f"{where}: {', '.join(fixed)} cannot change on resume (it changes what the run computes);"
            " start a new run instead"
        )
    return cfg


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json, or None when there is none (or it is unreadable: a kill mid-write)."""
    path = run_dir / SUMMARY
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None


def write_json(path: Path, obj: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False))


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    write_json(run_dir / SUMMARY, summary)


def _git(*args: str, where: Path | None = None) -> str:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, cwd=where or Path(__file__).parent
        )
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit(where: Path | None = None) -> str:
    """The commit of the repository holding ``where`` (default: the harness's own source); empty outside one."""
    return _git("rev-parse", "HEAD", where=where)


def _state(where: Path | None) -> dict[str, Any]:
    commit = git_commit(where)
    if not commit:
        return {}
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", where=where))
    return {"commit": commit, "dirty": dirty, "root": _git("rev-parse", "--show-toplevel", where=where)}


def git_state() -> dict[str, Any]:
    """The code a result came from: ``harness`` (the harness's source, when it is a checkout) and ``project`` (the
    repository of the home folder the run started from, a sweep trial's being its driver's; when it is one and not
    the harness's), each with its commit, whether tracked files had uncommitted changes, and its root."""
    harness = _state(None)
    project = _state(home())
    out = {"harness": harness} if harness else {}
    if project and project.get("root") != harness.get("root"):
        out["project"] = project
    return out


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
