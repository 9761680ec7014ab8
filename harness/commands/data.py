"""Build, verify and list webdataset shards.

codegan-data build <dataset> [--source PATH_OR_URL] [--out DIR] [--shard-size N] [--force]
codegan-data verify <dir>
codegan-data list
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.commands.cli import command_parser, run_command
from harness.config.cards import available_cards, load_card


def _summary(location: str) -> str:
    # torch and webdataset load only once a command runs, not for --help
    from harness.data.manifest import read_manifest

    man = read_manifest(location)
    parts = [f"{k}: {v.count} in {len(v.shards)} shards" for k, v in sorted(man.splits.items())]
    return f"{man.dataset} {tuple(man.shape)} x {man.classes} classes from {man.source} -> " + ", ".join(parts)


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-data", "harness.commands.data", __doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write train/test shards and manifest.json from a dataset card")
    b.add_argument("dataset", help=f"card name ({', '.join(available_cards())}) or path to a card YAML")
    b.add_argument("--source", help="folder, file or URL of the raw dataset (replaces the card's locations)")
    b.add_argument("--out", type=Path, help="output folder (default: <data root>/<dataset>)")
    b.add_argument(
        "--root",
        default="",
        help="data root (default: $CODEGAN_DATA, else datasets/ of $CODEGAN_HOME or the working folder)",
    )
    b.add_argument("--shard-size", type=int, default=0, help="samples per shard (default: the card's)")
    b.add_argument("--force", action="store_true", help="rebuild even when the shards are up to date")
    v = sub.add_parser("verify", help="re-check a shard folder's counts and sha256 against its manifest")
    v.add_argument("dir")
    sub.add_parser("list", help="the dataset cards this harness knows")
    args = parser.parse_args(argv)
    # torch and webdataset load only once a command runs: --help answers at once
    from harness.data.build import build
    from harness.data.manifest import read_manifest
    from harness.data.verify import verify_contents

    if args.cmd == "build":
        out = build(args.dataset, args.root, args.shard_size, True, args.force, args.source, args.out)
        print(f"{out}: {_summary(str(out))}")
    elif args.cmd == "verify":
        man = read_manifest(args.dir)
        verify_contents(args.dir, man)
        print(f"{args.dir}: OK ({_summary(args.dir)})")
    else:
        for name in available_cards():
            card = load_card(name)
            print(f"{name:>14}: {card.classes} classes, {tuple(card.shape)}, {card.expected}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
