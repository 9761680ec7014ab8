"""A sweep trial: the harness's one training function, reporting to Tune at every evaluation.

Every evaluation reports its metrics (plus ``step`` and the node) and, when a checkpoint was written
with it, hands that checkpoint to Tune, so a retried, resumed, paused or PBT-cloned trial continues
from it. Each trial is also its own run folder (and offline W&B run, grouped by sweep) under
``<sweep dir>/runs/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import build_config
from harness.results import short_names, show

FAULT_ENV = "CODEGAN_SWEEP_FAULT"  # "<step>:<marker file>": fail once at that step (fault-injection tests)


@dataclass
class TrialContext:
    """What every trial of one sweep shares (passed with tune.with_parameters, not in the search space)."""

    sweep: str
    presets: dict[str, str]
    overrides: dict[str, Any]
    runs_dir: str
    wandb_mode: str
    wandb_project: str
    workers: int = 1  # > 1: the trial trains data-parallel on that many Ray Train workers
    use_gpu: bool = False
    cpu_per_worker: float = 1.0


def swept_labels(trial: dict[str, Any]) -> list[str]:
    """The trial's swept values as short ``key=value`` strings (method and seed are said apart)."""
    keys = [k for k in trial if k not in ("method", "seed")]
    names = short_names(keys)
    return [f"{names[k]}={show(trial[k])}" for k in keys]


def trial_config(ctx: TrialContext, trial: dict[str, Any], trial_id: str):
    """The harness config of one trial: its method's preset, the sweep's overrides, the trial's values; its
    W&B run is named "<method> <dataset> <swept k=v ...> seed <s>" and tagged with the swept k=v."""
    values = {
        **ctx.overrides,
        **trial,
        "name": f"{ctx.sweep}-{trial_id}",
        "log.root": ctx.runs_dir,
        "log.group": ctx.sweep,
        "log.wandb": ctx.wandb_mode,
        "log.project": ctx.wandb_project,
        "log.progress": False,
    }
    # the driver refused pipe: roots from the sweep file unless allowed (sweeps.spec), so values are trusted here
    cfg = build_config(ctx.presets[trial["method"]], values=values, trusted_values=True)
    swept = swept_labels(trial)
    cfg.log.run_name = " ".join([cfg.method, Path(cfg.data.dataset).stem, *swept, f"seed {cfg.seed}"])
    cfg.log.tags = [*cfg.log.tags, *(t for t in swept if t not in cfg.log.tags)]
    return cfg


def _maybe_fail(step: int, run_dir: Path) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    at, marker = spec.split(":", 1)
    if step < int(at):
        return
    try:  # exactly one trial of the sweep wins the marker and fails, once
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(str(run_dir))
    raise RuntimeError(f"injected fault at step {step} ({FAULT_ENV})")


def _train_with_reports(cfg_tree: dict[str, Any], run_dir: Path, api: Any, main: bool) -> None:
    """Train one config, reporting through ``api`` (``ray.tune`` in a trial, ``ray.train`` in a worker):
    metrics at every evaluation, with the checkpoint written there; restores from ``api``'s checkpoint."""
    import ray

    from harness.config import from_dict
    from harness.train import train

    cfg = from_dict(cfg_tree)
    node = ray.get_runtime_context().get_node_id()
    init_from = None
    restored = api.get_checkpoint()
    holder = Path(tempfile.mkdtemp(prefix="tune-ckpt-"))
    if restored is not None and not list((run_dir / "checkpoints").glob("step-*.pt")):
        with restored.as_directory() as folder:  # a retry elsewhere, a resumed sweep, or a PBT clone
            (found,) = Path(folder).glob("step-*.pt")
            init_from = holder / found.name
            shutil.copyfile(found, init_from)

    def on_eval(step: int, metrics: dict[str, float], path: Path | None) -> None:
        report = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        report.update({"step": step, "node": node, "run_dir": str(run_dir)})
        if path is None or not main:
            api.report(report)  # every data-parallel worker reports; Ray keeps rank 0's
        else:
            with tempfile.TemporaryDirectory(prefix="tune-report-") as tmp:
                shutil.copyfile(path, Path(tmp) / path.name)
                api.report(report, checkpoint=api.Checkpoint.from_directory(tmp))
        if main:
            _maybe_fail(step, run_dir)

    try:
        train(cfg, run_dir=run_dir, on_eval=on_eval, init_from=init_from)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def _worker_loop(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker of a data-parallel trial (Accelerate finds the process group Ray Train made)."""
    import ray.train

    main = ray.train.get_context().get_world_rank() == 0
    _train_with_reports(loop_config["cfg"], Path(loop_config["run_dir"]), ray.train, main)


def run_trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """Tune's function trainable (wrapped with ``tune.with_parameters(run_trial, ctx=...)``)."""
    from ray import tune

    from harness.config import to_dict
    from harness.rundir import run_dir_for

    cfg = trial_config(ctx, config["trial"], tune.get_context().get_trial_id())
    run_dir = run_dir_for(cfg, world=max(1, ctx.workers))
    if ctx.workers <= 1:
        _train_with_reports(to_dict(cfg), run_dir, tune, main=True)
        return
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    resources = {"CPU": ctx.cpu_per_worker, **({"GPU": 1} if ctx.use_gpu else {})}
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"cfg": to_dict(cfg), "run_dir": str(run_dir)},
        scaling_config=ScalingConfig(num_workers=ctx.workers, use_gpu=ctx.use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=f"{run_dir.name}-train",
            storage_path=str(Path(ctx.runs_dir).parent / "train"),
            callbacks=[TuneReportCallback()],
        ),
    )
    trainer.fit()
