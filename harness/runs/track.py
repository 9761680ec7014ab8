"""The Tracker: ``metrics.jsonl`` and sample PNGs in the run folder, mirrored to a W&B run.

W&B runs offline by default with every W&B folder inside the run folder (``log.wandb=online`` to
sync live, ``disabled`` to skip it). Runs carry a job type (``train``, ``pretrain``, ``eval``), tags
(method, dataset, swept values), a readable name, the git state, and summaries of the best ``eval/acc``
and the lowest ``eval/fid_*``. Only the main process holds a real Tracker; other ranks get a
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
from PIL import Image

from harness.config import Config, digest, registry, to_dict
from harness.core.atomic import atomic_write_text
from harness.core.errors import RunError
from harness.core.places import at_home
from harness.runs.folder import git_state
from harness.runs.identity import launch_settings, run_identity

ID_FILE = "wandb_id.txt"


class NullTracker:
    offline_path: Path | None = None  # the offline W&B run folder (what ``wandb sync`` takes), if one is written

    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def log_images(self, step: int, name: str, grid: np.ndarray) -> None: ...

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None: ...

    def set_summary(self, values: dict[str, Any]) -> None: ...

    def log_artifact(self, path: Path, name: str, kind: str) -> None: ...

    def use_checkpoint(self, path: Path, name: str) -> None: ...

    def set_identity(self, record: dict[str, Any]) -> None: ...

    def truncate(self, step: int, drop_eval: bool = False) -> None: ...

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


def use_wandb_dirs(folder: Path) -> None:
    for key, value in wandb_env(folder).items():
        os.environ[key] = value
        if key != "WANDB_DIR":
            Path(value).mkdir(parents=True, exist_ok=True)


def analysis_run(folder: Path, mode: str, project: str, name: str, job_type: str = "analysis", **init: Any) -> Any:
    """A W&B run of a summary (a sweep's analysis, the leaderboard, learning curves) kept in ``folder``: its own
    W&B service and directories there, no console capture or system stats; ``init``: more of ``wandb.init``'s."""
    use_wandb_dirs(folder)
    forget_inherited_wandb_service()
    import wandb

    settings = wandb.Settings(console="off", silent=True, x_disable_stats=True)
    return wandb.init(mode=mode, project=project, name=name, job_type=job_type, dir=str(folder), settings=settings,
                      **init)  # fmt: skip


def summary_run_id(folder: Path, kind: str) -> str:
    """A stable W&B run id for the ``kind`` summary (analysis, curves, leaderboard) kept in ``folder``: made once
    (``wandb_id.txt``), so writing the summary again updates its W&B run instead of adding one."""
    id_file = folder / ID_FILE
    if not id_file.exists():
        atomic_write_text(id_file, f"{folder.name}-{secrets.token_hex(3)}\n")
    return f"{id_file.read_text().strip()}-{kind}"


def run_label(cfg: Config) -> str:
    from pathlib import Path as _P

    return cfg.log.run_name or f"{cfg.method} {_P(cfg.data.dataset).stem} seed {cfg.seed}"


def seed_group(run_dir: Path, cfg: Config) -> str:
    """The W&B group of a standalone run: ``<method>-<dataset>-<hash>``, the hash of its run identity without the
    seed (training config, world size, precision), so the seeds of one config are one group (and so are its
    re-scorings)."""
    info = run_dir / "run.json"
    launch = json.loads(info.read_text()) if info.is_file() else {}
    world, precision = launch_settings(cfg)
    identity = run_identity(cfg, int(launch.get("world_size", world)), str(launch.get("mixed_precision", precision)))
    identity["train"] = {k: v for k, v in identity["train"].items() if k != "seed"}
    return f"{cfg.method}-{Path(cfg.data.dataset).stem}-{digest(identity)}"


def define_summaries(run: Any) -> None:
    """W&B summaries a leaderboard wants: the best ACC and the lowest FID/KID of the whole run."""
    run.define_metric("eval/acc", summary="max")
    run.define_metric("eval/purity", summary="max")
    for metric in registry.entries("metric").values():
        if metric.lower_is_better:
            run.define_metric(f"eval/{metric.name}_*", summary="min")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of a file; a partial last line (a kill mid-write) is left out."""
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in rows if isinstance(r, dict)]


def evaluations(run_dir: Path, last: int | None = None) -> dict[int, dict[str, Any]]:
    """The evaluation lines of a run folder's ``metrics.jsonl`` by step (up to ``last``)."""
    path = run_dir / "metrics.jsonl"
    rows = read_jsonl(path) if path.is_file() else []
    return {r["step"]: r for r in rows if "eval/acc" in r and (last is None or r["step"] <= last)}


def forget_inherited_wandb_service() -> None:
    """Drop an inherited ``WANDB_SERVICE``: every process that trains or scores starts its own W&B service. W&B
    shares one service per process tree through that variable, and a shared service outlives a SIGKILLed child
    (a killed sweep trial, a killed run) still holding its run open, so the retry was refused: "run ID ... is in
    use". The token names the process that started the service; only this process's own one is kept."""
    token = os.environ.get("WANDB_SERVICE", "")
    parts = token.split("-")
    if len(parts) >= 3 and parts[1] != str(os.getpid()):
        os.environ.pop("WANDB_SERVICE", None)


def _wandb_error(what: str, run_dir: Path, exc: Exception) -> RunError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else " ".join(str(exc).split())
    return RunError(f"cannot {what} the W&B run in {run_dir / 'wandb'}: {reason[:300] or type(exc).__name__}")


class Tracker(NullTracker):
    def __init__(self, run_dir: Path, cfg: Config, job_type: str = "train", eval_id: str = ""):
        self.run_dir, self.cfg, self.job_type = run_dir, cfg, job_type
        self.metrics_path = run_dir / ("metrics.jsonl" if not eval_id else f"eval-{eval_id}.metrics.jsonl")
        self.samples = run_dir / "samples"
        self.prefix = f"eval-{eval_id}-" if eval_id else ""
        self.wandb_run = None
        if cfg.log.wandb != "disabled":
            self.wandb_run = self._start_wandb(cfg, eval_id)

    def _start_wandb(self, cfg: Config, eval_id: str) -> Any:
        where = at_home(cfg.log.wandb_dir) if cfg.log.wandb_dir else self.run_dir
        use_wandb_dirs(where)
        import wandb

        id_file = self.run_dir / ID_FILE
        if not id_file.exists():
            atomic_write_text(id_file, f"{self.run_dir.name}-{secrets.token_hex(3)}\n")
        train_id = id_file.read_text().strip()
        job = "pretrain" if cfg.stage == "pretrain" or cfg.method == "simclr" else self.job_type
        name = run_label(cfg) + (f" eval {eval_id}" if eval_id else "")
        tags = sorted({cfg.method, Path(cfg.data.dataset).stem, job, *cfg.log.tags})
        config = {**to_dict(cfg), "git": git_state(), "run_folder": self.run_dir.name}
        if eval_id:
            config.update({"train_run_id": train_id, "eval_tag": eval_id})
        # console capture (files/output.log) by wrapping sys.stdout/stderr: never the file descriptors of a process
        # that Ray, Accelerate or a test harness also watches
        settings = wandb.Settings(console="wrap", x_disable_stats=True, disable_git=True, save_code=False, silent=True)
        forget_inherited_wandb_service()
        try:
            run = wandb.init(
                mode=cfg.log.wandb,
                project=cfg.log.project,
                group=cfg.log.group or seed_group(self.run_dir, cfg),
                job_type=job,
                name=name,
                tags=tags,
                id=f"{train_id}-eval-{eval_id}-{secrets.token_hex(2)}" if eval_id else train_id,
                dir=str(where),
                config=config,
                resume="allow",
                settings=settings,
            )
        except Exception as exc:  # noqa: BLE001 - W&B raises several types (a full disk, a broken folder)
            raise _wandb_error("start", self.run_dir, exc) from None
        define_summaries(run)
        if cfg.log.wandb == "offline":
            self.offline_path = Path(run.settings.sync_dir)
        return run

    def log(self, step: int, metrics: dict[str, float]) -> None:
        line = json.dumps({"step": step, "time": round(time.time(), 3), **metrics})
        try:
            with open(self.metrics_path, "a") as f:
                f.write(line + "\n")
        except OSError as exc:  # a failed write names no file by itself (a full disk)
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.metrics_path)) from None
        if self.wandb_run is not None:
            self.wandb_run.log(metrics, step=step)

    def log_images(self, step: int, name: str, grid: np.ndarray) -> None:
        path = self.samples / f"{self.prefix}{name}-{step:08d}.png"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(grid).save(path)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
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

    def use_checkpoint(self, path: Path, name: str) -> None:
        """Declare the checkpoint this run scored as its input: the artifact ``name`` with that file, which is the
        version the training run logged (``log.checkpoint_artifacts``) when the file is the same (W&B versions an
        artifact by its content). Offline, where ``use_artifact`` refuses to run, the same record is written: the
        artifact with "use after commit", which ``wandb sync`` turns into the use of that version."""
        if self.wandb_run is None:
            return
        import wandb

        art = wandb.Artifact(name, type="checkpoint", metadata={"file": path.name})
        art.add_file(str(path), policy="immutable")  # hashed in place, not copied
        if self.cfg.log.wandb == "offline":
            self.wandb_run._log_artifact(art, is_user_created=True, use_after_commit=True)
        else:
            self.wandb_run.use_artifact(art)

    def set_identity(self, record: dict[str, Any]) -> None:
        """The result's identity in the W&B config, so a leaderboard read from W&B groups like one read
        from run folders."""
        if self.wandb_run is not None:
            keys = ("identity", "result_key", "run_hash", "world_size", "mixed_precision", "step", "eval_hash")
            self.wandb_run.config.update({k: record[k] for k in keys if k in record}, allow_val_change=True)

    def set_summary(self, values: dict[str, Any]) -> None:
        if self.wandb_run is not None:
            self.wandb_run.summary.update({f"final/{k}": v for k, v in values.items()})

    def truncate(self, step: int, drop_eval: bool = False) -> None:
        """Drop metric lines logged after ``step`` and any partial line (a resumed run re-logs them); with
        ``drop_eval``, also the evaluation logged at ``step`` (a resumed run evaluates that step again)."""
        if not self.metrics_path.exists():
            return

        def kept(r: dict[str, Any]) -> bool:
            at = r.get("step")
            if not isinstance(at, int) or at > step:
                return False
            return not (drop_eval and at == step and any(k.startswith("eval/") for k in r))

        keep = [r for r in read_jsonl(self.metrics_path) if kept(r)]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep))

    def finish(self, exit_code: int = 0) -> None:
        """Close the W&B run. After a failure (``exit_code`` not 0) W&B's own errors in closing it (a full disk)
        are dropped, so the run's error is the one reported; otherwise they are one RunError naming its folder."""
        run, self.wandb_run = self.wandb_run, None
        if run is None:
            return
        try:
            run.finish(exit_code=exit_code)
        except Exception as exc:  # noqa: BLE001 - W&B raises several types
            if not exit_code:
                raise _wandb_error("close", self.run_dir, exc) from None
