"""Result files of a run folder: ``summary.json`` (the training run's final result) and ``eval-<tag>.json``
(a re-scoring, or an earlier final result of a run trained further; the tag is ``<eval hash>-step<N>``), each
carrying the result identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config import Config, digest
from harness.config.registry import label, plugin_modules
from harness.data.manifest import Manifest
from harness.runs.folder import git_state, read_summary, versions, write_json
from harness.runs.identity import eval_hash, eval_settings, result_identity, result_key


def eval_tag(settings: dict[str, Any], step: int) -> str:
    """The file tag of an evaluation, ``<eval hash>-step<N>``: the ``eval_hash`` its record carries (the
    digest of its settings) and the step it scored."""
    return f"{digest(settings)}-step{step}"


def result_record(
    cfg: Config,
    run_dir: Path,
    run_hash: str,
    launch: tuple[int, str] | tuple[int, str, str],
    manifest: Manifest,
    splits: list[str],
    step: int,
    metrics: dict[str, float],
    lineage: list[dict[str, Any]] | None = None,
    extractors: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What every result file carries: the result's identity (and its key), seed, metrics, provenance.
    ``launch``: world size, precision and device type (``cpu`` when not given); ``extractors``: the yardstick of each
    image metric (weights, resize, input size)."""
    world, precision, device = (*launch, "cpu")[:3]
    identity = result_identity(cfg, world, precision, step, manifest.digest(splits), lineage, device, extractors)
    return {
        "run": run_dir.name,
        "run_dir": str(run_dir),
        "run_hash": run_hash,
        "method": cfg.method,
        "method_label": label(identity["train"]),  # tables name a plugin's result without loading the plugin
        "plugins": list(plugin_modules()),
        "dataset": manifest.dataset,
        "seed": cfg.seed,
        "step": step,
        "world_size": world,
        "mixed_precision": precision,
        "eval_hash": eval_hash(cfg),
        "identity": identity,
        "result_key": result_key(identity),
        "metrics": metrics,
        "versions": versions(),
        "git": git_state(),
    }


def write_eval(run_dir: Path, cfg: Config, record: dict[str, Any], checkpoint: str) -> Path:
    """A re-scoring's record as ``eval-<eval hash>-step<N>.json``."""
    path = run_dir / f"eval-{eval_tag(eval_settings(cfg), record['step'])}.json"
    write_json(path, {**record, "kind": "eval", "checkpoint": checkpoint})
    return path


def keep_earlier_result(run_dir: Path) -> None:
    """A complete run trained further: its earlier final result stays a record (``eval-<tag>.json``) of
    its step, so tables keep both steps apart instead of losing the first."""
    done = read_summary(run_dir)
    if not done or done.get("status") != "complete" or "identity" not in done:
        return
    path = run_dir / f"eval-{eval_tag(done['identity']['eval'], done['step'])}.json"
    if not path.exists():
        write_json(path, {**done, "kind": "eval", "checkpoint": f"step {done['step']} (trained further since)"})
