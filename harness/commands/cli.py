"""How every console script starts and ends: ``--plugin MODULE`` options loaded into the registry, then the command,
its failures one line each (:func:`harness.core.exits.run_cli`)."""

from __future__ import annotations

from collections.abc import Callable

from harness.config.registry import take_plugins
from harness.core.exits import run_cli


def run_command(main: Callable[[list[str]], int], argv: list[str] | None = None) -> int:
    """``main`` with the plugins of ``argv`` loaded first; the exit code its failures (or success) give."""
    return run_cli(main, argv, prepare=take_plugins)
