"""``codegan-extractor train <dataset> [--size N] [--steps N] [--root DIR]``: train (or find cached) the domain
classifier whose features and logits give a dataset's FID, KID and IS (:mod:`harness.metrics.domain`)."""

from __future__ import annotations

import sys

from harness.commands.cli import command_parser, run_command


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-extractor", "harness.commands.extractor", __doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or find cached) the domain classifier of a dataset")
    t.add_argument("dataset")
    t.add_argument("--size", type=int, default=0, help="image side it sees (default: the card's)")
    t.add_argument("--steps", type=int, default=0, help="training steps at batch 128 (default: 3 epochs, >= 600)")
    t.add_argument("--root", default="", help="data root holding the shards")
    args = parser.parse_args(argv)
    # torch only when a classifier is trained (--help stays fast)
    from harness.data.build import ensure_built
    from harness.metrics.domain import train_extractor

    location = str(ensure_built(args.dataset, args.root))
    path, info = train_extractor(location, args.size, args.steps)
    print(f"{path}: test accuracy {info.test_acc:.4f} after {info.steps} steps ({info.seconds:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
