"""Re-score a trained run or any of its checkpoints with other evaluation settings, without retraining.

    codegan-eval RUN_DIR|CHECKPOINT [--best] [eval.fid_samples=50000 eval.quality=[inception] ...]
    python -m harness.commands.rescore RUN_DIR ...
    accelerate launch --multi_gpu --num_processes 4 -m harness.commands.rescore RUN_DIR ...   # several processes

The run's saved config is used; only evaluation, logging and data-location keys may be overridden (a key
that changes what was trained is refused). The result goes to ``RUN_DIR/eval-<eval hash>-step<N>.json``
(the result's identity: the run's, the step, these evaluation settings and the data) and to a W&B run of
job type ``eval`` in the training run's group that names the checkpoint it scored as its input. FID samples
are the same images on any number of processes. A requested metric that cannot be computed (Inception
weights that cannot be had) stops it before any work, with one line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from harness.commands.cli import command_parser, run_command
from harness.commands.train import format_report
from harness.config import ConfigError
from harness.runs import checkpoint
from harness.runs.folder import config_for_resume


def run_and_checkpoint(target: Path, best: bool) -> tuple[Path, Path]:
    """(run folder, checkpoint) from a run folder (its latest or best checkpoint) or a checkpoint file."""
    if target.is_file():
        if target.parent.name != "checkpoints":
            raise ConfigError(f"{target}: a checkpoint lives in <run folder>/checkpoints/")
        return target.parent.parent, target
    if not target.is_dir():
        raise ConfigError(f"{target}: no such run folder or checkpoint")
    folder = target / "checkpoints"
    ckpt = folder / checkpoint.BEST if best else checkpoint.latest(folder)
    if ckpt is None or not ckpt.is_file():
        raise ConfigError(f"{target}: no {'best ' if best else ''}checkpoint in {folder}")
    return target, ckpt


def launch_identity(run_dir: Path, ckpt: Path) -> tuple[int, str, str]:
    """The world size, precision and device type the run was trained with (run.json, else the checkpoint;
    a run that records no device type was trained on a CPU)."""
    info = run_dir / "run.json"
    data = json.loads(info.read_text()) if info.is_file() else checkpoint.load(ckpt)
    if "world_size" not in data:
        raise ConfigError(f"{run_dir}: made by an older harness (no world size recorded); it cannot be re-scored")
    return int(data["world_size"]), str(data["mixed_precision"]), str(data.get("device", "cpu"))


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-eval", "harness.commands.rescore", __doc__)
    parser.add_argument("target", type=Path, help="run folder or checkpoint file")
    parser.add_argument("--best", action="store_true", help="score checkpoints/best.pt instead of the latest")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="eval.*, log.*, data.root, ...")
    args = parser.parse_args(argv)
    from harness.training.trainer import Trainer  # torch and Accelerate only once a run starts (--help stays fast)

    run_dir, ckpt = run_and_checkpoint(args.target, args.best)
    cfg = config_for_resume(run_dir, args.overrides, rescore=True)
    t0 = time.time()
    trainer = Trainer(cfg, run_dir=run_dir, checkpoint_path=ckpt, identity=launch_identity(run_dir, ckpt))
    try:
        result = trainer.rescore(ckpt)
    finally:
        trainer.release()
    if trainer.main:
        print(format_report(result, run_dir, time.time() - t0, trainer.tracker.offline_path))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
