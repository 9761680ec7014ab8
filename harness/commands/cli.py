"""How every console script starts and ends: ``--plugin MODULE`` options loaded into the registry, then the command,
its failures one line each (:func:`harness.core.exits.run_cli`); and the parser every command's ``--help`` shares."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from harness.config.registry import take_plugins
from harness.core.exits import run_cli

PLUGIN_HELP = (
    "import MODULE first: its methods, presets, sections and metrics join the registry (repeatable; launch ranks"
    " and sweep trials get it too, and a sweep folder remembers it for its analysis)"
)


def run_command(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """``main`` with the plugins of ``argv`` loaded first; the exit code its failures (or success) give."""
    return run_cli(main, argv, prepare=take_plugins)


def prog_name(console: str, module: str) -> str:
    """The name usage lines show: the console script when it started this process, else ``python -m module``."""
    return console if Path(sys.argv[0]).name == console else f"python -m {module}"


def add_plugin_option(parser: argparse.ArgumentParser) -> None:
    """``--plugin MODULE`` in the help (:func:`run_command` has taken and loaded it before the parser runs)."""
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE", help=PLUGIN_HELP)


def command_parser(console: str, module: str, description: str | None, **kwargs: object) -> argparse.ArgumentParser:
    """A command's parser: its usage named as it was started, its description kept as written, ``--plugin``."""
    parser = argparse.ArgumentParser(
        prog=prog_name(console, module),
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,  # type: ignore[arg-type]
    )
    add_plugin_option(parser)
    return parser
