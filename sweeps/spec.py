"""A sweep file: which presets, which search space, which scheduler, which resources.

    name: smoke
    presets: {codegan: codegan/digits, infogan: infogan/digits}
    overrides: {train.steps: 60, train.eval_every: 20}      # every trial
    space:                                                  # one group, or a list of groups (a union)
      - method: [codegan]                                   # a plain list is a grid
        codegan.beta_c: {grid: [1, 10]}
        seed: [0, 1]
      - method: [infogan]
        baselines.lambda_mi: {loguniform: [0.1, 10]}        # random: drawn `samples` times, seeded
    samples: 1
    scheduler: {kind: asha, metric: eval/acc, mode: max, grace_period: 1, reduction_factor: 2}
    resources: {cpu: 1, gpu: 0, workers: 1}
    max_failures: 1
    keep_checkpoints: 0                                     # Tune checkpoints per trial (0: 4 with pbt, else all)
    worst_images: true                                      # the analysis draws each point's worst images
    wandb: {mode: offline, project: codegan-bench}

A path (the sweep file itself and the presets it names) is taken from the working folder when a file is
there, else from the repository root; absolute paths as they are. Every key in ``overrides`` and ``space`` must
be a config key; mistakes are reported with the closest valid key.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.config import PIPE_KEYS, ConfigError, _closest, all_keys, build_config, pipe_allowed, read_yaml_text

REPO = Path(__file__).resolve().parents[1]
TOP_KEYS = {
    "name",
    "presets",
    "overrides",
    "space",
    "samples",
    "scheduler",
    "resources",
    "max_failures",
    "max_concurrent",
    "keep_checkpoints",
    "worst_images",
    "wandb",
    "weight_keys",
}
DISTRIBUTIONS = {"grid", "choice", "uniform", "loguniform", "randint"}
SCHEDULERS = {"none", "asha", "pbt"}


# the disentanglement weight each method's trade-off curve is ordered by
def default_weight_keys() -> dict[str, str]:
    """method -> the loss weight its trade-off curve varies (its registry entry's ``weight_key``)."""
    from harness.config.registry import entries

    return {name: e.weight_key for name, e in entries().items() if e.weight_key}


@dataclass
class Scheduler:
    kind: str = "none"
    metric: str = "eval/acc"
    mode: str = "max"
    grace_period: int = 1
    reduction_factor: int = 2
    perturbation_interval: int = 1
    mutations: dict[str, list[Any]] = field(default_factory=dict)  # PBT: key -> values to resample from


@dataclass
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0
    workers: int = 1  # > 1: data parallel over Ray Train workers (each with cpu/gpu above)


@dataclass
class SweepSpec:
    name: str
    path: Path
    presets: dict[str, Path]
    overrides: dict[str, Any]
    groups: list[dict[str, Any]]
    samples: int = 1
    scheduler: Scheduler = field(default_factory=Scheduler)
    resources: Resources = field(default_factory=Resources)
    max_failures: int = 1
    max_concurrent: int = 0
    keep_checkpoints: int = 0  # Tune checkpoints kept per trial; 0: 4 with PBT (clones start from them), else all
    worst_images: bool = True  # the analysis draws each point's worst images (it loads a checkpoint per point)
    wandb: dict[str, str] = field(default_factory=lambda: {"mode": "offline", "project": "codegan-bench"})
    weight_keys: dict[str, str] = field(default_factory=default_weight_keys)


def _resolve(path: str) -> Path:
    """A path as given (absolute, or relative to the working folder) when it names a file there, else relative to
    the repository (so ``sweeps/smoke.yaml`` and the presets it names work from any folder); always absolute, as
    trials run in other processes and folders."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    return p.resolve() if p.is_file() else REPO / p


def _preset(name_or_path: str) -> Path:
    """A preset file (:func:`_resolve`), or a preset name (``infogan/digits``, a plugin's ``toygan/digits``)."""
    path = _resolve(name_or_path)
    if not path.is_file() and Path(name_or_path).suffix not in (".yaml", ".yml"):
        from harness.config.presets import preset_path

        with contextlib.suppress(ConfigError):
            return preset_path(name_or_path).resolve()
    return path


def _check_key(key: str, where: str) -> None:
    keys = all_keys()
    if key not in keys:
        raise ConfigError(f"{where}: unknown config key '{key}'{_closest(key, sorted(keys))}")


def _check_dimension(key: str, dim: Any, where: str) -> None:
    _check_key(key, where)
    values = dim if isinstance(dim, list) else next(iter(dim.values()), []) if isinstance(dim, dict) else []
    for v in values if isinstance(values, list) else []:
        if key in PIPE_KEYS and str(v).startswith("pipe:") and not pipe_allowed():
            raise ConfigError(f"{where}.{key}: {v!r} would run a shell command; pass --allow-pipe to accept it")
    if isinstance(dim, list):
        return
    if not isinstance(dim, dict) or len(dim) != 1 or next(iter(dim)) not in DISTRIBUTIONS:
        raise ConfigError(f"{where}.{key}: a list (grid) or one of {sorted(DISTRIBUTIONS)} as {{kind: values}}")
    kind, values = next(iter(dim.items()))
    if kind in ("uniform", "loguniform", "randint") and (not isinstance(values, list) or len(values) != 2):
        raise ConfigError(f"{where}.{key}: {kind} needs [low, high], got {values!r}")


def load_spec(path: str | Path) -> SweepSpec:
    p = _resolve(str(path))
    if not p.is_file():
        raise ConfigError(f"sweep file not found: {p}")
    try:
        raw = yaml.safe_load(read_yaml_text(p)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sweep keys")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{p}: unknown sweep key '{key}'{_closest(key, sorted(TOP_KEYS))}")
    for required in ("name", "presets", "space"):
        if required not in raw:
            raise ConfigError(f"{p}: missing '{required}'")
    presets = {m: _preset(str(f)) for m, f in raw["presets"].items()}
    for method, preset in presets.items():
        if not preset.is_file():
            raise ConfigError(f"{p}: presets.{method}: no such file {preset}")
    overrides = dict(raw.get("overrides") or {})
    for key in overrides:
        _check_key(key, f"{p}: overrides")
    groups = raw["space"] if isinstance(raw["space"], list) else [raw["space"]]
    for i, group in enumerate(groups):
        for key, dim in group.items():
            _check_dimension(key, dim, f"{p}: space[{i}]")
        methods = group.get("method", [next(iter(presets))])
        for m in methods if isinstance(methods, list) else methods.get("grid", methods.get("choice", [])):
            if m not in presets:
                raise ConfigError(f"{p}: space[{i}] uses method '{m}' with no entry in presets")
    sched = Scheduler(**(raw.get("scheduler") or {}))
    if sched.kind not in SCHEDULERS:
        raise ConfigError(f"{p}: scheduler.kind '{sched.kind}' is not one of {sorted(SCHEDULERS)}")
    for key in sched.mutations:
        _check_key(key, f"{p}: scheduler.mutations")
    spec = SweepSpec(
        name=raw["name"],
        path=p,
        presets=presets,
        overrides=overrides,
        groups=groups,
        samples=int(raw.get("samples", 1)),
        scheduler=sched,
        resources=Resources(**(raw.get("resources") or {})),
        max_failures=int(raw.get("max_failures", 1)),
        max_concurrent=int(raw.get("max_concurrent", 0)),
        keep_checkpoints=int(raw.get("keep_checkpoints", 0)),
        worst_images=bool(raw.get("worst_images", True)),
        wandb={"mode": "offline", "project": "codegan-bench", **(raw.get("wandb") or {})},
        weight_keys={**default_weight_keys(), **(raw.get("weight_keys") or {})},
    )
    if spec.scheduler.kind == "pbt" and spec.resources.workers > 1:
        raise ConfigError(
            f"{p}: scheduler.kind pbt with resources.workers {spec.resources.workers}: Ray Train hands Tune a trial's"
            " metrics but not its checkpoints, so PBT could not clone such a trial (it would skip every exploit);"
            " run PBT with workers: 1 (a GPU each), or ASHA or no scheduler with several workers"
        )
    for method, preset in presets.items():  # every preset with the common overrides must be a valid run
        build_config(preset, values={**overrides, "method": method})
    return spec
