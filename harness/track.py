"""The Tracker: ``metrics.jsonl`` and sample PNGs in the run folder, mirrored to a W&B run.

W&B runs offline by default with every W&B folder inside the run folder (``log.wandb=online`` to
sync live, ``disabled`` to skip it). Only the main process holds a real Tracker; other ranks get a
:class:`NullTracker`.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import Config, to_dict
from harness.data.manifest import atomic_write_text
from harness.evaluate.grids import save_png


class NullTracker:
    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def log_images(self, step: int, name: str, grid: np.ndarray) -> None: ...

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None: ...

    def set_summary(self, values: dict[str, Any]) -> None: ...

    def log_artifact(self, path: Path, name: str, kind: str) -> None: ...

    def truncate(self, step: int) -> None: ...

    def finish(self, exit_code: int = 0) -> None: ...


def wandb_env(run_dir: Path) -> dict[str, str]:
    """W&B's directory variables, all pointing inside the run folder."""
    base = run_dir / "wandb"
    return {
        "WANDB_DIR": str(run_dir),
        "WANDB_CONFIG_DIR": str(base / "config"),
        "WANDB_CACHE_DIR": str(base / "cache"),
        "WANDB_DATA_DIR": str(base / "data"),
    }


class Tracker(NullTracker):
    def __init__(self, run_dir: Path, cfg: Config):
        self.run_dir = run_dir
        self.metrics_path = run_dir / "metrics.jsonl"
        self.samples = run_dir / "samples"
        self.wandb_run = None
        if cfg.log.wandb != "disabled":
            self.wandb_run = self._start_wandb(cfg)

    def _start_wandb(self, cfg: Config) -> Any:
        for key, value in wandb_env(self.run_dir).items():
            os.environ[key] = value
            if key != "WANDB_DIR":
                Path(value).mkdir(parents=True, exist_ok=True)
        import wandb

        id_file = self.run_dir / "wandb_id.txt"
        if not id_file.exists():
            atomic_write_text(id_file, f"{self.run_dir.name}-{secrets.token_hex(3)}\n")
        settings = wandb.Settings(console="off", x_disable_stats=True, disable_git=True, save_code=False, silent=True)
        return wandb.init(
            mode=cfg.log.wandb,
            project=cfg.log.project,
            group=cfg.log.group or None,
            name=self.run_dir.name,
            id=id_file.read_text().strip(),
            dir=str(self.run_dir),
            config=to_dict(cfg),
            resume="allow",
            settings=settings,
        )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        line = json.dumps({"step": step, "time": round(time.time(), 3), **metrics})
        with open(self.metrics_path, "a") as f:
            f.write(line + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(metrics, step=step)

    def log_images(self, step: int, name: str, grid: np.ndarray) -> None:
        path = self.samples / f"{name}-{step:08d}.png"
        save_png(grid, path)
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({f"samples/{name}": wandb.Image(str(path))}, step=step)

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log({name: wandb.Table(columns=columns, data=rows)})

    def log_artifact(self, path: Path, name: str, kind: str) -> None:
        """A file as a W&B artifact (kept in the offline run until it is synced)."""
        if self.wandb_run is not None:
            import wandb

            art = wandb.Artifact(name, type=kind)
            art.add_file(str(path))
            self.wandb_run.log_artifact(art)

    def set_summary(self, values: dict[str, Any]) -> None:
        if self.wandb_run is not None:
            self.wandb_run.summary.update(values)

    def truncate(self, step: int) -> None:
        """Drop metric lines logged after ``step`` (a resumed run re-logs them)."""
        if not self.metrics_path.exists():
            return
        keep = [ln for ln in self.metrics_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
        atomic_write_text(self.metrics_path, "".join(ln + "\n" for ln in keep))

    def finish(self, exit_code: int = 0) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=exit_code)
            self.wandb_run = None
