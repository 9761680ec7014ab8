"""Train and evaluate one run (``codegan-run``; ``harness/run.py`` for ``accelerate launch``).

    accelerate launch harness/run.py [--config FILE] [--resume RUN_DIR] [key=value ...]
    accelerate launch -m harness.run ...     (from any folder)
    codegan-run ...                          (one process)

With no ``--config`` the digits preset (codegan/configs/digits.yaml) is used, or on shards the harness did not
build the preset whose networks take their images (:mod:`harness.data.preset_choice`). ``--help`` lists every
config key with its value (with ``--config``, that preset's). Failures end in one line: exit 2 for a
configuration mistake, 1 for a data or I/O error, 130 when stopped (``--debug`` shows tracebacks).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.commands.cli import add_plugin_option, run_command
from harness.config import PIPE_ENV, Config, ConfigError, all_keys, build_config, get, help_text, registry, to_dict
from harness.config.presets import preset_names
from harness.runs.folder import CONFIG, config_for_resume, read_summary
from harness.runs.identity import device_type, launch_settings
from harness.runs.identity_versions import folder_identity, locate
from harness.runs.results import pm as plus_minus

DEFAULT = "digits"  # the CoDeGAN preset of the embedded default dataset


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options and overrides; ``--help`` lists every key with the value the chosen preset gives it."""
    parser = argparse.ArgumentParser(
        prog="codegan-run" if Path(sys.argv[0]).name == "codegan-run" else "accelerate launch -m harness.run",
        description="Train a disentangling GAN and evaluate it (ACC/purity/NMI/ARI, FID/KID/IS).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help (with --config: its values)")
    parser.add_argument(
        "--config", default=None, help=f"preset name (fashion-mnist, infogan/digits, ...) or YAML (default: {DEFAULT})"
    )
    parser.add_argument("--resume", type=Path, default=None, help="continue the run in this run folder")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--allow-pipe", action="store_true", help="accept pipe: shard roots from config files")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    add_plugin_option(parser)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    args = parser.parse_intermixed_args(argv)  # key=value overrides before or after the options
    if args.help:
        cfg = build_config(args.config or DEFAULT, args.overrides) if args.config or args.overrides else None
        which = f"values of {args.config or DEFAULT}" if cfg is not None else "defaults"
        print(parser.format_help())
        print(f"presets: {', '.join(preset_names())}\n\nconfig keys ({which}; set as key=value):")
        print(help_text(build_config(DEFAULT) if cfg is None else cfg))
        raise SystemExit(0)
    return args


def format_report(result: dict[str, float], run_dir: Path, wall: float, wandb_run: Path | None = None) -> str:
    """The final report; ``wandb_run``: the offline W&B run folder this command wrote (its sync command is shown)."""

    def pm(prefix: str, name: str) -> str:  # one run: the spread over its k-means seeds
        return plus_minus(result[prefix + name], result.get(prefix + name + "_std"))

    names = ("acc", "purity", "nmi", "ari")
    lines = [f"run folder: {run_dir}", f"wall time:  {wall:.1f} s"]
    if "eval/acc" in result:
        lines.append("class features + k-means: " + "   ".join(f"{n.upper()} {pm('eval/', n)}" for n in names))
    tags = sorted(k.removeprefix("eval/acc_") for k in result if k.startswith("eval/acc_") and k != "eval/acc_std")
    for tag in [t for t in tags if t.startswith("gen_")]:  # the classifier's labels of generated images vs codes
        scores = "   ".join(f"{n.upper()} {result[f'eval/{n}_{tag}']:.3f}" for n in names)
        lines.append(f"generated images, {tag.removeprefix('gen_')} labels vs codes: {scores}")
    for tag in [t for t in tags if not t.startswith("gen_")]:  # a method's argmax head (InfoGAN's q, ClusterGAN's enc)
        if f"eval/acc_{tag}" in result:
            scores = "   ".join(f"{n.upper()} {result[f'eval/{n}_{tag}']:.3f}" for n in names)
            lines.append(f"argmax of the code head ({tag}): {scores}")
    if "baseline/pixels_acc" in result:
        lines.append("raw pixels   + k-means: " + "   ".join(f"{n.upper()} {pm('baseline/pixels_', n)}" for n in names))
    image_metrics = registry.metrics_needing("samples") + registry.metrics_needing("logits")
    prefixes = tuple(f"eval/{k}_" for m in image_metrics for k in m.keys if not k.endswith("_std"))
    quality = [k for k in result if k.startswith(prefixes) and not k.endswith("_std")]

    def value(k: str) -> str:
        return f"{result[k]:.4g}" + (f" ± {result[k + '_std']:.2g}" if k + "_std" in result else "")

    if quality:
        lines.append("image quality: " + "   ".join(f"{k[5:].upper()} {value(k)}" for k in sorted(quality)))
    for k in sorted(x for x in result if x.startswith("eval/collapsed_codes_")):
        name = k.removeprefix("eval/collapsed_codes_")
        worst = result.get(f"eval/code_recall_min_{name}", float("nan"))
        codes = sum(1 for x in result if x.startswith("eval/code_recall_") and x.endswith(f"_{name}")) - 1
        worst_fid = result.get(f"eval/code_fid_max_{name}")
        fid_text = f", the worst code's FID {worst_fid:.4g}" if worst_fid is not None else ""
        lines.append(f"per code ({name}): {int(result[k])} of {codes} codes collapsed, the worst code's recall"
                     f" {worst:.3f}{fid_text}")  # fmt: skip
    for k in sorted(x for x in result if x.startswith("yardstick/") and x.endswith("_floor_fid")):
        name = k.removeprefix("yardstick/").removesuffix("_floor_fid")
        acc = result.get(f"yardstick/{name}_test_acc")
        test = f"test accuracy {acc:.3f}; " if acc is not None else ""
        n = int(result.get(f"yardstick/{name}_floor_n", 0))
        lines.append(f"yardstick {name}: {test}real images score FID {result[k]:.3g} ({n:,} of one split against the"
                     f" other's statistics), the floor of FID_{name.upper()}")  # fmt: skip
    if wandb_run is not None:
        lines.append(f"W&B (offline): wandb sync {_relative(wandb_run)}")
    return "\n".join(lines)


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def print_config(cfg: Config, preset: str, resume: Path | None = None) -> str:
    """The resolved config as YAML, headed by comments: the run folder and run hash this launch would use,
    and every key that differs from the preset (or, with ``--resume``, from the run's saved config)."""
    import json

    import yaml

    world, precision = launch_settings(cfg)
    device = device_type()  # part of the run identity: a GPU launch of a CPU-finished config is another run
    if resume is None:  # this launch's folder, or the one an earlier identity version named for it
        folder, digest, _ = locate(cfg, world, precision, device)
    else:
        folder, (digest, _) = resume, folder_identity(resume, cfg, world, precision, device)
    done = read_summary(folder) or {}
    state = f"complete at step {done.get('step')}" if done.get("status") == "complete" else "exists"
    base_name = f"the run's saved {CONFIG}" if resume is not None else f"the preset {preset}"
    base = build_config(folder / CONFIG) if resume is not None else build_config(preset)
    lines = [
        f"# run folder: {folder} ({state if folder.is_dir() else 'new'})",
        f"# run hash:   {digest} (of the training keys, {world} process{'es' if world > 1 else ''}, precision"
        f" {precision}, device {device})",
    ]
    changed = [k for k in all_keys() if get(cfg, k) != get(base, k)]
    lines.append(f"# keys that differ from {base_name}:" + ("" if changed else " none"))
    there = "saved" if resume is not None else "preset"
    lines += [f"#   {k}: {json.dumps(get(cfg, k))} ({there}: {json.dumps(get(base, k))})" for k in changed]
    return "\n".join(lines) + "\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.allow_pipe:
        os.environ[PIPE_ENV] = "1"
    preset = args.config or DEFAULT
    if args.resume is not None:
        if args.config is not None:
            raise ConfigError("--resume takes the config from the run folder; drop --config")
        cfg = config_for_resume(args.resume, args.overrides)
    else:
        from harness.data.preset_choice import run_preset  # torch, PIL: once a run starts (--help stays fast)

        preset, named = run_preset(args.config, args.overrides, DEFAULT, check=not args.print_config)  # foreign shards
        cfg = build_config(preset, [*args.overrides, *named])
    if args.print_config:
        print(print_config(cfg, preset, args.resume))
        return 0

    import time

    from harness.training.trainer import Trainer  # torch and Accelerate only once a run starts (--help stays fast)

    t0 = time.time()
    trainer = Trainer(cfg, run_dir=args.resume)
    result = trainer.fit()
    if trainer.main:
        print(format_report(result, trainer.run_dir, time.time() - t0, trainer.tracker.offline_path))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(run, argv)


if __name__ == "__main__":
    sys.exit(main())
