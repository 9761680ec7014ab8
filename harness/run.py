"""Train and evaluate one run.

    accelerate launch harness/run.py [--config FILE] [--resume RUN_DIR] [key=value ...]
    python -m harness.run ...

With no ``--config`` the digits preset (codegan/configs/digits.yaml) is used. ``--help`` lists every
config key with its value (with ``--config``, that preset's). Failures end in one line: exit 2 for a
configuration mistake, 1 for a data or I/O error, 130 when stopped (``--debug`` shows tracebacks).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, Python puts harness/ itself on sys.path, where harness/evaluate would shadow the
# Hugging Face "evaluate" package; keep only the repository root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import os  # noqa: E402

from harness.config import PIPE_ENV, ConfigError, build_config, help_text  # noqa: E402

DEFAULT = "digits"  # the CoDeGAN preset of the embedded default dataset


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options and overrides; ``--help`` lists every key with the value the chosen preset gives it."""
    parser = argparse.ArgumentParser(
        prog="harness/run.py",
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
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    args = parser.parse_args(argv)
    if args.help:
        from harness.presets import preset_names

        cfg = build_config(args.config or DEFAULT, args.overrides) if args.config or args.overrides else None
        which = f"values of {args.config or DEFAULT}" if cfg is not None else "defaults"
        print(parser.format_help())
        print(f"presets: {', '.join(preset_names())}\n\nconfig keys ({which}; set as key=value):")
        print(help_text(build_config(DEFAULT) if cfg is None else cfg))
        raise SystemExit(0)
    return args


def format_report(result: dict[str, float], run_dir: Path, wall: float) -> str:
    def pm(prefix: str, name: str) -> str:
        return f"{result[prefix + name]:.3f} ± {result[prefix + name + '_std']:.3f}"

    names = ("acc", "purity", "nmi", "ari")
    lines = [f"run folder: {run_dir}", f"wall time:  {wall:.1f} s"]
    if "eval/acc" in result:
        lines.append("class features + k-means: " + "   ".join(f"{n.upper()} {pm('eval/', n)}" for n in names))
    for tag in ("q", "enc"):
        if f"eval/acc_{tag}" in result:
            scores = "   ".join(f"{n.upper()} {result[f'eval/{n}_{tag}']:.3f}" for n in names)
            lines.append(f"argmax of the code head ({tag}): {scores}")
    if "baseline/pixels_acc" in result:
        lines.append("raw pixels   + k-means: " + "   ".join(f"{n.upper()} {pm('baseline/pixels_', n)}" for n in names))
    quality = [k for k in result if k.startswith(("eval/fid_", "eval/kid_", "eval/is_")) and not k.endswith("_std")]
    if quality:
        lines.append("image quality: " + "   ".join(f"{k[5:].upper()} {result[k]:.4g}" for k in sorted(quality)))
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.allow_pipe:
        os.environ[PIPE_ENV] = "1"
    if args.resume is not None:
        from harness.rundir import config_for_resume

        if args.config is not None:
            raise ConfigError("--resume takes the config from the run folder; drop --config")
        cfg = config_for_resume(args.resume, args.overrides)
    else:
        cfg = build_config(args.config or DEFAULT, args.overrides)
    if args.print_config:
        import yaml

        from harness.config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return 0

    import time

    from harness.train import Trainer

    t0 = time.time()
    trainer = Trainer(cfg, run_dir=args.resume)
    result = trainer.fit()
    if trainer.main:
        print(format_report(result, trainer.run_dir, time.time() - t0))
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.cli import run_cli

    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
