"""A trained run's method as one of its checkpoints left it, loaded the way ``codegan-eval`` loads it (the figures'
shared start: :mod:`scripts.embedding`, :mod:`scripts.worst_samples`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.commands.rescore import launch_identity, run_and_checkpoint
from harness.config import ConfigError, registry, training_config
from harness.runs.folder import config_for_resume


def quality(*extractors: str) -> list[str]:
    """The overrides of a figure that needs only ``extractors`` (none: no image metric at all), whatever evaluation
    protocol the run was scored under (a protocol's extractors are what its numbers need, not what a figure does)."""
    return ["eval.protocol=", f"eval.quality=[{','.join(extractors)}]"]


@contextmanager
def loaded(target: Path, overrides: Sequence[str] = (), best: bool = False) -> Iterator[Any]:
    """The :class:`~harness.training.trainer.Trainer` of the run folder (or checkpoint) ``target`` with its latest
    (``best``: its best) checkpoint loaded and nothing written; ``overrides``: evaluation and logging keys. The run
    folder stays locked until the block ends."""
    from harness.training.trainer import Trainer  # torch only once a figure is drawn

    run_dir, ckpt = run_and_checkpoint(Path(target), best)
    cfg = config_for_resume(run_dir, ["log.progress=false", *overrides], rescore=True)
    trainer = Trainer(cfg, run_dir=run_dir, checkpoint_path=ckpt, identity=launch_identity(run_dir, ckpt))
    try:
        if not trainer.method.generates:
            raise ConfigError(f"{run_dir}: method '{cfg.method}' generates no images")
        yield trainer
    finally:
        trainer.release()


def generator_net(trainer: Any) -> Any:
    """What the evaluation samples from: G's EMA copy where the run keeps one, else None (G itself)."""
    return trainer.ema.net if trainer.ema is not None else None


def describe(trainer: Any) -> str:
    """``<method label> <dataset> seed <s>, step <n>``."""
    cfg = trainer.cfg
    method = registry.label(training_config(cfg))
    return f"{method} {Path(cfg.data.dataset).stem} seed {cfg.seed}, step {trainer.start:,}"
