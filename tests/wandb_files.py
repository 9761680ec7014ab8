"""Reading offline W&B runs back from their ``.wandb`` files (history rows and the final summary)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def _wandb_cli() -> str:
    local = Path(sys.executable).with_name("wandb")
    return str(local) if local.exists() else (shutil.which("wandb") or "wandb")


def offline_runs(run_dir: Path) -> list[Path]:
    """The offline W&B run folders inside a run folder, oldest first (a resumed run adds one)."""
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def read_records(wandb_run: Path, timeout: float = 120) -> list[dict[str, Any]]:
    """Every record of one W&B run's transaction log, as JSON (``wandb leet inspect --json``)."""
    out = subprocess.run(
        [_wandb_cli(), "leet", "inspect", "--json", str(wandb_run)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cannot read W&B run {wandb_run}: {out.stderr.strip()[-500:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """History rows (``{"_step": ..., "eval/acc": ...}``) of every offline W&B run in a run folder."""
    rows = []
    for wandb_run in offline_runs(run_dir):
        rows += [r["history"]["item"] for r in read_records(wandb_run) if r.get("type") == "history"]
    return rows
