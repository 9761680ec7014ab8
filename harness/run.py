"""Train and evaluate one run.

    accelerate launch harness/run.py [--config FILE] [--resume RUN_DIR] [key=value ...]
    python -m harness.run ...

With no ``--config`` the digits preset (codegan/configs/digits.yaml) is used. ``--help`` lists every
config key with its default.
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

from harness.config import ConfigError, build_config, help_text  # noqa: E402

DEFAULT_CONFIG = _HERE.parent / "codegan" / "configs" / "digits.yaml"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness/run.py",
        description="Train a disentangling GAN and evaluate it (ACC/purity/NMI/ARI).",
        epilog="config keys (set as key=value after the options):\n" + help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, default=None, help=f"preset YAML (default: {DEFAULT_CONFIG})")
    parser.add_argument("--resume", type=Path, default=None, help="continue the run in this run folder")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    return parser.parse_args(argv)


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.resume is not None:
            from harness.rundir import config_for_resume

            if args.config is not None:
                raise ConfigError("--resume takes the config from the run folder; drop --config")
            cfg = config_for_resume(args.resume, args.overrides)
        else:
            cfg = build_config(args.config or DEFAULT_CONFIG, args.overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        from harness.config import to_dict

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return 0

    import time

    from harness.train import Trainer

    t0 = time.time()
    try:
        trainer = Trainer(cfg, run_dir=args.resume)
        result = trainer.fit()
    except KeyboardInterrupt as exc:
        print(f"\n{exc}" if str(exc) else "\ninterrupted", file=sys.stderr)
        return 130
    if trainer.main:
        print(format_report(result, trainer.run_dir, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
