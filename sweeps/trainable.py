"""A sweep trial: the harness's one training function, reporting to Tune at every evaluation.

Every evaluation reports its metrics (plus ``step`` and the node) and, when a checkpoint was written
with it, hands that checkpoint to Tune, so a retried, resumed, paused or PBT-cloned trial continues
from it. Each trial is also its own run folder (and offline W&B run, grouped by sweep) under
``<sweep dir>/runs/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import build_config
from harness.core.atomic import atomic_copy
from harness.core.errors import RunError
from harness.core.launch_env import CPUS_ENV
from harness.runs import checkpoint
from harness.runs.results import short_names, show
from sweeps.yardsticks import install

FAULT_ENV = "CODEGAN_SWEEP_FAULT"  # fault-injection tests: see _maybe_fail
START = "start.json"  # beside each reported checkpoint: the run hash, run folder, step and trial that wrote it
CLONED_FROM = "cloned_from.json"  # in the copy a PBT clone keeps of its donor's checkpoint (sweeps.run)
REPORTED = "tune_reported.txt"  # in a trial's run folder: the steps whose evaluation Tune has received, one a line


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
    gpu_per_worker: float = 0.0  # a fraction shares a GPU between workers (Ray sets each one's visible device)
    yardsticks: dict[str, bytes] = field(default_factory=dict)  # the driver's extractor files (sweeps.yardsticks)


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
        "log.wandb_dir": str(Path(ctx.runs_dir).parent),  # the sweep folder: one wandb sync sends the sweep
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


def _win_marker(marker: str, run_dir: Path) -> bool:
    """Exactly one trial of the sweep wins the marker file (and fails, once)."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(str(run_dir))
    return True


def _maybe_fail(step: int, run_dir: Path, before_report: bool = False) -> None:
    """Fault injection for tests, :data:`FAULT_ENV` = ``<step>:<marker>``: one trial raises at that step, after
    its report (``before:<step>:<marker>``: before it, once the evaluation and checkpoint are written)."""
    fault = os.environ.get(FAULT_ENV, "")
    if fault.startswith("before:") != before_report:
        return
    at, _, marker = fault.removeprefix("before:").partition(":")
    if at.isdigit() and step >= int(at) and _win_marker(marker, run_dir):
        raise RuntimeError(f"injected fault at step {step} ({FAULT_ENV})")


def _maybe_kill_clone(run_dir: Path, cloned_from: str) -> None:
    """Fault injection for tests, :data:`FAULT_ENV` = ``clone:<marker>``: the first PBT clone is SIGKILLed at its
    first evaluation, before its report, once the donor's Tune checkpoint it was cloned from is gone (Tune
    deletes it when the donor reports past ``num_to_keep``; at most 120 s are waited for that)."""
    at, _, marker = os.environ.get(FAULT_ENV, "").partition(":")
    if at != "clone" or not cloned_from or not _win_marker(marker, run_dir):
        return
    deadline = time.monotonic() + 120
    while Path(cloned_from).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    with open(marker, "a") as f:
        f.write("\nkilled\n")
    os.kill(os.getpid(), signal.SIGKILL)


def _run_hash(run_dir: Path) -> str:
    return run_dir.name.rsplit("-", 1)[-1]


def restored_checkpoint(api: Any, holder: Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint Tune restores this trial from, copied into ``holder``, and what it is (:data:`START`):
    the run hash, run folder, step and trial of the run that wrote it. None when Tune gives none."""
    restored = api.get_checkpoint()
    if restored is None:
        return None
    with restored.as_directory() as folder:
        found = sorted(Path(folder).glob("step-*.pt"))  # one per report; the latest if a folder ever held more
        if not found:
            raise RunError(f"the Tune checkpoint {restored.path} holds no step-*.pt checkpoint to start from")
        local = holder / found[-1].name
        shutil.copyfile(found[-1], local)
        meta_file, origin = Path(folder) / START, Path(folder) / CLONED_FROM
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        source = json.loads(origin.read_text())["checkpoint"] if origin.is_file() else str(restored.path)
    return local, {**meta, "source": source} if meta else {}


def start_of(run_dir: Path, trial_id: str, restored: tuple[Path, dict[str, Any]] | None) -> tuple[Path, Path | None]:
    """(run folder, foreign checkpoint to start from) of a trial Tune (re)starts.

    * Tune's checkpoint is this trial's own, of this config (a retry, a resumed sweep, a move to another node):
      continue its run folder, from that checkpoint if the folder holds nothing as recent (no shared storage).
    * It is another trial's, or of another config (PBT cloned this trial into a new config): start from it in a
      folder named for that start, ``<name>-from-<its run hash>-<its step>-<run hash>``, so an earlier visit of
      the same config, which started elsewhere, is never continued instead.
    """
    if restored is None:
        return run_dir, None
    file, meta = restored
    if not meta:  # written before checkpoints said whose they are: the earlier rule
        return run_dir, None if checkpoint.latest(run_dir / "checkpoints") else file
    if meta.get("trial") == trial_id and meta.get("run_hash") == _run_hash(run_dir):
        own = Path(meta.get("run_dir") or run_dir)
        latest = checkpoint.list_checkpoints(own / "checkpoints")
        if not latest or latest[-1][0] < int(meta["step"]):
            final = checkpoint.checkpoint_path(own / "checkpoints", int(meta["step"]))
            final.parent.mkdir(parents=True, exist_ok=True)
            atomic_copy(file, final)
        return own, None
    name = run_dir.name.rsplit("-", 1)[0]
    return run_dir.with_name(f"{name}-from-{meta['run_hash']}-{meta['step']}-{_run_hash(run_dir)}"), file


def reported_steps(run_dir: Path) -> set[int]:
    """The steps whose evaluation this run folder's trial has reported to Tune (:data:`REPORTED`)."""
    path = run_dir / REPORTED
    lines = path.read_text().split() if path.is_file() else []
    return {int(x) for x in lines if x.isdigit()}


def _note_reported(run_dir: Path, step: int) -> None:
    with open(run_dir / REPORTED, "a") as f:
        f.write(f"{step}\n")


def unreported(run_dir: Path, total_steps: int) -> list[tuple[int, dict[str, Any], Path | None]]:
    """The evaluations a trial restarting in ``run_dir`` wrote to ``metrics.jsonl`` but never reported to Tune
    (a signal or a fault between the two), up to the checkpoint it will continue from, with that step's checkpoint
    where it has one: (step, metrics, checkpoint), oldest first. The evaluation at the last checkpoint is left out
    when the trainer evaluates it again (the final step)."""
    from harness.runs.track import evaluations

    found = checkpoint.list_checkpoints(run_dir / "checkpoints")
    if not found:
        return []
    resume = found[-1][0]
    files = dict(found)
    done = reported_steps(run_dir)
    rows = evaluations(run_dir, last=resume)
    return [
        (step, row, files.get(step))
        for step, row in sorted(rows.items())
        if step not in done and not (step == resume and step >= total_steps)
    ]


def _train_with_reports(
    cfg_tree: dict[str, Any], run_dir: Path, api: Any, main: bool, trial_id: str, replay: bool = False
) -> None:
    """Train one config, reporting through ``api`` (``ray.tune`` in a trial, ``ray.train`` in a worker):
    metrics at every evaluation, with the checkpoint written there; restores from ``api``'s checkpoint. With
    ``replay`` (one process, which reports alone) the evaluations the run folder holds but Tune never received are
    reported first (:func:`unreported`)."""
    import ray

    from harness.config import from_dict
    from harness.training.trainer import train

    cfg = from_dict(cfg_tree)
    context = ray.get_runtime_context()
    node = context.get_node_id()
    cpus = context.get_assigned_resources().get("CPU")
    if cpus:  # loader workers are sized from this trial's (or worker's) reservation, not the node's cores
        os.environ[CPUS_ENV] = f"{cpus:g}"
    holder = Path(tempfile.mkdtemp(prefix="tune-ckpt-"))
    try:
        restored = restored_checkpoint(api, holder)
        run_dir, init_from = start_of(run_dir, trial_id, restored)
        cloned_from = restored[1].get("source", "") if restored and init_from is not None else ""

        def send(step: int, metrics: dict[str, float], path: Path | None) -> None:
            report = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
            report.update({"step": step, "node": node, "run_dir": str(run_dir)})
            if path is None or not main:
                api.report(report)  # every data-parallel worker reports; Ray keeps rank 0's
            else:
                with tempfile.TemporaryDirectory(prefix="tune-report-") as tmp:
                    shutil.copyfile(path, Path(tmp) / path.name)
                    meta = {"run_hash": _run_hash(run_dir), "run_dir": str(run_dir), "step": step, "trial": trial_id}
                    (Path(tmp) / START).write_text(json.dumps(meta))
                    api.report(report, checkpoint=api.Checkpoint.from_directory(tmp))
            if main:
                _note_reported(run_dir, step)

        def on_eval(step: int, metrics: dict[str, float], path: Path | None) -> None:
            if main:
                _maybe_kill_clone(run_dir, cloned_from)
                _maybe_fail(step, run_dir, before_report=True)
            if replay and path is None and step in reported_steps(run_dir):
                return  # evaluated again after a restart from an earlier checkpoint: Tune has this step already
            send(step, metrics, path)
            if main:
                _maybe_fail(step, run_dir)

        if replay and init_from is None:
            # Tune's history gets every evaluation once: those written but never reported (a signal or a fault
            # between the two) are sent before training goes on; a data-parallel trial's workers report in step,
            # so there only what its next evaluations report reaches Tune
            for step, row, path in unreported(run_dir, cfg.train.steps):
                send(step, {k: v for k, v in row.items() if k != "step"}, path)
        train(cfg, run_dir=run_dir, on_eval=on_eval, init_from=init_from)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def _worker_loop(loop_config: dict[str, Any]) -> None:
    """One Ray Train worker of a data-parallel trial (Accelerate finds the process group Ray Train made)."""
    import ray.train

    main = ray.train.get_context().get_world_rank() == 0
    install(loop_config.get("yardsticks") or {})  # this worker's node scores with the sweep's one yardstick
    _train_with_reports(loop_config["cfg"], Path(loop_config["run_dir"]), ray.train, main, loop_config["trial_id"])


def run_trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """Tune's function trainable (wrapped with ``tune.with_parameters(run_trial, ctx=...)``)."""
    from ray import tune

    from harness.config import to_dict
    from harness.runs.folder import run_dir_for

    trial_id = tune.get_context().get_trial_id()
    cfg = trial_config(ctx, config["trial"], trial_id)
    run_dir = run_dir_for(cfg, world=max(1, ctx.workers))
    if ctx.workers <= 1:
        install(getattr(ctx, "yardsticks", {}))  # this node scores with the sweep's one yardstick
        _train_with_reports(to_dict(cfg), run_dir, tune, True, trial_id, replay=True)
        return
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    resources = {"CPU": ctx.cpu_per_worker, **({"GPU": ctx.gpu_per_worker} if ctx.use_gpu else {})}
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={
            "cfg": to_dict(cfg),
            "run_dir": str(run_dir),
            "trial_id": trial_id,
            "yardsticks": getattr(ctx, "yardsticks", {}),
        },  # fmt: skip
        scaling_config=ScalingConfig(num_workers=ctx.workers, use_gpu=ctx.use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=f"{run_dir.name}-train",
            storage_path=str(Path(ctx.runs_dir).parent / "train"),
            callbacks=[TuneReportCallback()],
        ),
    )
    trainer.fit()
