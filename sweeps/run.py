"""Run a sweep with Ray Tune on a local or existing Ray cluster; resume it after the driver died.

    python -m sweeps.run sweeps/smoke.yaml [--address auto|ray://host:port|host:port] [--resume]
                         [--out runs/sweeps] [--dry-run]

The sweep folder ``<out>/<name>/`` holds Tune's experiment state (``tune/``), every trial's run folder
(``runs/``), ``trials.json`` (the numbered trial list) and, at the end, ``results.csv`` with the
curves, the Pareto set and the table per result identity (see ``sweeps.analyze``), which is also printed.
Tune's live table shows one column per swept key and each trial's step, ``eval/acc`` and FIDs.

Exit status: 0 when every trial completed; 1 naming the trials that ended in ERROR (their results and the
analysis are still written), or when ``--address`` does not answer within ``--connect-timeout`` seconds;
130 when stopped by SIGTERM or Ctrl-C (the state is saved: ``--resume`` continues).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness.commands.cli import command_parser
from harness.config import PIPE_ENV, ConfigError, build_config
from harness.core.errors import RunError
from harness.core.places import at_home, handed_to_trials
from harness.runs.lock import RunLock
from harness.runs.results import short_names
from sweeps.folders import SPEC_COPY
from sweeps.plugins import remember_plugins
from sweeps.space import expand
from sweeps.spec import SweepSpec, load_spec
from sweeps.trainable import TrialContext, run_trial
from sweeps.yardsticks import prepare

TUNE_DIR = "tune"
CLONES_DIR = "clones"  # what PBT clones start from (sweeps.pbt)


def local_ray_env() -> None:
    """No usage stats and no log deduplication; nothing that would keep a node from joining a cluster."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")


CONNECT_TIMEOUT_S = 30.0


def _probe(address: str, timeout: float) -> None:
    """A TCP connection to a ``host:port`` or ``ray://host:port`` cluster address, or one line saying why not."""
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address}: expected auto, host:port or ray://host:port")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise RunError(f"no Ray cluster at --address {address}: {exc.strerror or exc}") from None


def connect(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Join the cluster at ``address`` (bounded: a probe, then ``ray.init`` under a watchdog that ends the
    process with one line when no cluster answered within ``timeout_s``), or start a local instance."""
    import ray

    from harness.config.registry import PLUGINS_ENV

    local_ray_env()
    if ray.is_initialized():
        return
    # trial workers load the same --plugin methods as the driver (installed ones they find themselves), and write
    # runs and shards where the driver would (Ray starts each trial in a folder of its own)
    env = {PLUGINS_ENV: os.environ[PLUGINS_ENV]} if os.environ.get(PLUGINS_ENV) else {}
    runtime_env = {"env_vars": {**env, **handed_to_trials()}}
    if not address:  # a new local instance: never join a cluster another process left running on this machine
        ray.init(address="local", include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        return
    t0 = time.monotonic()
    if address != "auto":
        _probe(address, timeout_s / 3)

    def give_up() -> None:
        print(f"error: no Ray cluster answered at --address {address} within {timeout_s:g} s", file=sys.stderr)
        os._exit(1)  # ray.init blocks in native code; nothing has been written yet

    watchdog = threading.Timer(max(1.0, timeout_s - (time.monotonic() - t0)), give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
    finally:
        watchdog.cancel()


def scheduler(spec: SweepSpec, folder: Path) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    from sweeps.pbt import KeepingPBT

    s = spec.scheduler
    if s.kind == "asha":
        return ASHAScheduler(
            time_attr="training_iteration", grace_period=s.grace_period, reduction_factor=s.reduction_factor
        )
    if s.kind == "pbt":
        mutations = {"trial": {k: list(v) for k, v in s.mutations.items()}}
        return KeepingPBT(
            folder / CLONES_DIR,
            time_attr="training_iteration",
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=mutations,
        )
    return None


def resumed_scheduler_line(kind: str) -> str:
    """What a resumed sweep keeps of its scheduler: Ray Tune saves the trials (their reports and checkpoints) and
    the searcher, and rebuilds the scheduler as the sweep first made it."""
    if kind == "asha":
        return (
            "resumed: ASHA's rungs start empty (Ray Tune does not save a scheduler's state): each trial keeps its"
            " reports, checkpoint and iteration count, and is compared at its next rung only with scores reported"
            " from now on, so fewer trials may be stopped than in an unbroken sweep"
        )
    if kind == "pbt":
        return (
            "resumed: PBT's record of the population starts empty (Ray Tune does not save a scheduler's state): each"
            " trial keeps its reports, checkpoint and current values, and exploits resume once trials report scores"
            " after this point; clones already made keep their copied checkpoints"
        )
    return ""


def reporter(spec: SweepSpec, trials: list[dict[str, Any]]) -> Any:
    """Tune's live table: one column per swept key (short names) and the trials' ``step``, ``eval/acc``
    and ``eval/fid_<extractor>`` for each extractor the sweep measures."""
    from ray.tune import CLIReporter

    keys = list(dict.fromkeys(k for trial in trials for k in trial))
    names = short_names(keys)
    fids: list[str] = []
    for trial in trials:
        cfg = build_config(spec.presets[trial["method"]], values={**spec.overrides, **trial}, trusted_values=True)
        fids += [f"eval/fid_{q}" for q in cfg.eval.quality if f"eval/fid_{q}" not in fids]
    metrics = {"step": "step", "eval/acc": "eval/acc", **{f: f for f in fids}}
    return CLIReporter(
        parameter_columns={f"trial/{k}": names[k] for k in keys},  # Tune looks "a/b" up as config["a"]["b"]
        metric_columns=metrics,
        max_column_length=24,
        max_report_frequency=30,
        # always the trials' table: left unset, Tune decides from the verbosity the previous sweep in this
        # process left behind, so a second sweep printed only the status header
        print_intermediate_tables=True,
    )


def build_tuner(spec: SweepSpec, folder: Path, resume: bool, yardsticks: dict[str, bytes] | None = None):
    from ray import tune

    # Ray 2.60's default output ignores a progress reporter; the classic one shows the columns asked for
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

    ctx = TrialContext(
        sweep=spec.name,
        presets={m: str(p) for m, p in spec.presets.items()},
        overrides=spec.overrides,
        runs_dir=str(folder / "runs"),
        wandb_mode=spec.wandb["mode"],
        wandb_project=spec.wandb["project"],
        workers=spec.resources.workers,
        use_gpu=spec.resources.gpu > 0,
        cpu_per_worker=spec.resources.cpu,
        gpu_per_worker=spec.resources.gpu,
        yardsticks=yardsticks or {},
    )
    resources = {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu}
    if spec.resources.workers > 1:  # the trial only drives; its Ray Train workers hold the resources
        resources = {"cpu": 0.01, "gpu": 0}
    trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), resources)
    storage = str((folder / TUNE_DIR).resolve())
    if resume and tune.Tuner.can_restore(os.path.join(storage, spec.name)):
        return tune.Tuner.restore(os.path.join(storage, spec.name), trainable, resume_errored=True)
    trials = expand(spec)
    sched = scheduler(spec, folder)
    tune_config = tune.TuneConfig(
        metric=spec.scheduler.metric if sched is not None else None,
        mode=spec.scheduler.mode if sched is not None else None,
        scheduler=sched,
        max_concurrent_trials=spec.max_concurrent or None,
    )
    run_config = tune.RunConfig(
        name=spec.name,
        storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=tune.CheckpointConfig(
            # without PBT every Tune checkpoint is kept: a driver killed between Tune deleting an old one and
            # recording the new one resumed the trial from the deleted one and lost it
            num_to_keep=spec.keep_checkpoints or (4 if spec.scheduler.kind == "pbt" else None)
        ),
        progress_reporter=reporter(spec, trials),
        verbose=1,
    )
    return tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(trials)},
        tune_config=tune_config,
        run_config=run_config,
    )


class _Stop:
    """SIGTERM to the driver: while Tune runs, it stops the way it does on Ctrl-C (the experiment state saved)
    and the sweep then exits 130; before or after, SIGTERM is a KeyboardInterrupt (exit 130). (Left to Ray,
    SIGTERM aborted the driver with a native stack dump, exit 134.)"""

    def __init__(self) -> None:
        self.in_fit = False
        self.signalled = False

    def __call__(self, signum: int, frame: Any) -> None:
        if not self.in_fit or self.signalled:
            raise KeyboardInterrupt("stopped (SIGTERM); --resume continues the sweep")
        self.signalled = True
        signal.raise_signal(signal.SIGUSR1)  # Tune's own handler: end the loop, save the experiment state


def failed_trials(grid: Any) -> list[str]:
    """One ``<trial id> (<swept values>): <first line of its error>`` per trial that ended in ERROR."""
    out = []
    for result in grid:
        if result.error is None:
            continue
        trial = (result.config or {}).get("trial", {})
        cause = getattr(result.error, "cause", None)  # a RayTaskError carries the trial's own exception
        if isinstance(cause, BaseException):
            first = " ".join(f"{type(cause).__name__}: {cause}".split())
        else:
            first = next((ln for ln in str(result.error).splitlines() if ln.strip()), type(result.error).__name__)
        # the trial's own id from its folder: a PBT clone's last metrics are its donor's (trial id, run folder)
        folder = Path(result.path).name if result.path else "?"
        found = re.search(r"_([0-9a-f]{5}_\d{5})_", folder)
        where = found.group(1) if found else folder
        run_dir = str((result.metrics or {}).get("run_dir", ""))
        swept = ", ".join(f"{k}={v}" for k, v in trial.items())
        out.append(f"trial {where} ({swept}{', ' + run_dir if where in run_dir else ''}): {first[:300]}")
    return out


def resources_line(r: Any) -> str:
    """What each trial holds, in one line (a fraction of a GPU is honoured: Ray packs trials or workers onto one)."""
    gpu = f" and {r.gpu:g} GPU" if r.gpu else ""
    shared = " (a fraction: several share one GPU)" if 0 < r.gpu < 1 else ""
    if r.workers > 1:
        return f"each trial: {r.workers} Ray Train workers of {r.cpu:g} CPU{gpu} each{shared}"
    return f"each trial: {r.cpu:g} CPU{gpu}{shared}"


def run(
    spec_path: str,
    address: str | None = None,
    resume: bool = False,
    out: str = "runs/sweeps",
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> Path:
    """Run (or resume) a sweep; returns its folder, which holds results.csv and the analysis files. Raises
    :class:`RunError` naming them when any trial ended in ERROR (after the analysis is written), and
    KeyboardInterrupt when stopped by SIGTERM (Tune's state saved: ``resume`` continues it)."""
    spec = load_spec(spec_path)
    folder = at_home(out).resolve() / spec.name
    connect(address, connect_timeout_s)  # writes nothing: a cluster that does not answer leaves no folder behind
    folder.mkdir(parents=True, exist_ok=True)
    lock = RunLock(folder, "sweep folder").acquire()  # one driver per sweep: a second start is refused, naming it
    try:
        return _run(spec, folder, resume)
    finally:
        lock.release()


def _run(spec: SweepSpec, folder: Path, resume: bool) -> Path:
    from sweeps.analyze import aggregate_markdown, analyze

    if not resume and (folder / TUNE_DIR / spec.name).exists():
        raise ConfigError(
            f"{folder} already holds this sweep: --resume continues it (finished trials are kept, not counted twice);"
            " to start over, pass another --out or remove the folder"
        )
    (folder / "trials.json").write_text(json.dumps(expand(spec), indent=1))
    (folder / SPEC_COPY).write_text(spec.path.read_text())
    remember_plugins(folder)
    presets = {m: str(p) for m, p in spec.presets.items()}
    yardsticks = prepare(presets, spec.overrides, expand(spec))  # one yardstick for every trial
    if yardsticks:
        print(f"the sweep's yardstick: {len(yardsticks)} extractor and statistics files, handed to every trial")
    tuner = build_tuner(spec, folder, resume, yardsticks)
    print(resources_line(spec.resources))
    if resume and (line := resumed_scheduler_line(spec.scheduler.kind)):
        print(line)
    stop = _Stop()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None  # after ray.init, which sets its own
    try:
        stop.in_fit = True
        grid = tuner.fit()
    finally:
        stop.in_fit = False
        if callable(previous) or previous in (signal.SIG_DFL, signal.SIG_IGN):
            signal.signal(signal.SIGTERM, previous)
    if stop.signalled:
        raise KeyboardInterrupt(f"stopped (SIGTERM); the sweep's state is saved: --resume continues {folder}")
    failed = failed_trials(grid)
    analysis = analyze(folder, spec, worst=spec.worst_images)
    print(aggregate_markdown(analysis["aggregate"]))
    sync = sync_line(folder)
    if sync:
        print(sync)
    if failed:
        print(f"sweep folder: {folder}\nresults: {folder / 'results.csv'}")
        raise RunError(
            f"{len(failed)} of {len(grid)} trials ended in ERROR after {spec.max_failures} retries: "
            + "; ".join(failed[:5])
            + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        )
    return folder


def sync_line(folder: Path) -> str:
    """The one command that sends every offline W&B run of the sweep (trials, analysis); empty when there are none."""
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    if not runs:
        return ""
    return f"W&B (offline, {len(runs)} runs): wandb sync {folder / 'wandb'}/offline-run-*"


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-sweep", "sweeps.run", __doc__)
    parser.add_argument("sweep", help="sweep YAML (sweeps/<name>.yaml)")
    parser.add_argument("--address", default=None, help="Ray cluster: auto, host:port or ray://host:port")
    parser.add_argument("--resume", action="store_true", help="continue the sweep's Tune experiment")
    parser.add_argument("--out", default="runs/sweeps", help="parent folder of sweep folders")
    parser.add_argument("--dry-run", action="store_true", help="print the trials and exit")
    parser.add_argument("--allow-pipe", action="store_true", help="accept pipe: shard roots from the sweep file")
    parser.add_argument(
        "--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, help="seconds to wait for --address to answer"
    )
    args = parser.parse_args(argv)
    if args.allow_pipe:
        os.environ[PIPE_ENV] = "1"
    if args.dry_run:
        for i, trial in enumerate(expand(load_spec(args.sweep))):
            print(i, json.dumps(trial))
        return 0
    folder = run(args.sweep, args.address, args.resume, args.out, args.connect_timeout)
    print(f"sweep folder: {folder}\nresults: {folder / 'results.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.commands.cli import run_command

    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
