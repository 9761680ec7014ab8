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
    workers: int = 1
    use_gpu: bool = False


def trial_config(ctx: TrialContext, trial: dict[str, Any], trial_id: str):
    """The harness config of one trial: its method's preset, the sweep's overrides, the trial's values."""
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
    return build_config(ctx.presets[trial["method"]], values=values)


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


def run_trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """Tune's function trainable (wrapped with ``tune.with_parameters(run_trial, ctx=...)``)."""
    import ray
    from ray import tune

    from harness.rundir import run_dir_for
    from harness.train import train

    tune_ctx = tune.get_context()
    cfg = trial_config(ctx, config["trial"], tune_ctx.get_trial_id())
    run_dir = run_dir_for(cfg)
    node = ray.get_runtime_context().get_node_id()
    init_from = None
    restored = tune.get_checkpoint()
    holder = Path(tempfile.mkdtemp(prefix="tune-ckpt-"))
    if restored is not None and not list((run_dir / "checkpoints").glob("step-*.pt")):
        with restored.as_directory() as folder:  # a retry elsewhere, a resumed sweep, or a PBT clone
            (found,) = Path(folder).glob("step-*.pt")
            init_from = holder / found.name
            shutil.copyfile(found, init_from)

    def on_eval(step: int, metrics: dict[str, float], path: Path | None) -> None:
        report = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
        report.update({"step": step, "node": node, "run_dir": str(run_dir)})
        if path is None:
            tune.report(report)
        else:
            with tempfile.TemporaryDirectory(prefix="tune-report-") as tmp:
                shutil.copyfile(path, Path(tmp) / path.name)
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(tmp))
        _maybe_fail(step, run_dir)

    try:
        train(cfg, run_dir=run_dir, on_eval=on_eval, init_from=init_from)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
