"""How every command of the harness ends: one line per failure and an exit code that says which kind.

* ``ConfigError`` (a key, value, preset or name at fault): exit 2.
* ``DataError``, ``RunError`` and ``OSError`` (a shard, checkpoint, lock or disk at fault): exit 1.
* ``KeyboardInterrupt`` (Ctrl-C, SIGTERM: a checkpoint was written): exit 130.

The message names the file, key or value; the traceback is shown only with ``--debug`` or
``CODEGAN_DEBUG=1``. In a multi-process run each rank prefixes its line with its rank.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable

from harness.core.errors import ConfigError, DataError, RunError
from harness.core.launch_env import check_launch_env

DEBUG_ENV = "CODEGAN_DEBUG"


def debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _prefix() -> str:
    world = os.environ.get("WORLD_SIZE", "1").strip()
    several = world.isdigit() and int(world) > 1  # a malformed WORLD_SIZE is itself the error being reported
    return f"[rank {os.environ.get('RANK', '0')}] " if several else ""


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (OSError with its file name and reason)."""
    if isinstance(exc, OSError) and not isinstance(exc, (DataError, RunError)):
        where = f" {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror or exc}{':' if where else ''}{where}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def run_cli(
    main: Callable[[list[str]], int],
    argv: list[str] | None = None,
    prepare: Callable[[list[str]], list[str]] | None = None,
) -> int:
    """Call ``main(argv)`` and turn the harness's failures into one line on stderr and an exit code; ``prepare``
    takes the options every command shares out of ``argv`` first (:func:`harness.commands.cli.run_command`: the
    plugins), inside the same handling."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    # a library that cannot write its own log file (W&B's debug.log on a full disk) would print a traceback per
    # record; the failure that matters is reported below, once
    logging.raiseExceptions = False
    try:
        check_launch_env()
        return main(prepare(argv) if prepare else argv)
    except BrokenPipeError:  # the reader went away (``codegan-run --help | head``): nothing more to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        print(f"\n{_prefix()}{exc}" if str(exc) else f"\n{_prefix()}interrupted", file=sys.stderr)
        return 130
    except ConfigError as exc:
        code, kind = 2, "config error"
        err: BaseException = exc
    except (DataError, RunError, OSError) as exc:
        code, kind, err = 1, "error", exc
    if debug:
        traceback.print_exception(err)
    hint = "" if debug else f" (--debug or {DEBUG_ENV}=1 shows the traceback)"
    print(f"{_prefix()}{kind}: {one_line(err)}{hint if code == 1 else ''}", file=sys.stderr)
    return code
