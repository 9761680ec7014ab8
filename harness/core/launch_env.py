"""The launcher's environment variables (``accelerate launch``, torchrun and Ray Train set them), read in one
place: each one that is set must be a whole number, else one line naming it (exit 2)."""

from __future__ import annotations

import os

from harness.core.errors import ConfigError

INT_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_PORT")


def launch_int(name: str, default: int) -> int:
    """The integer launcher variable ``name`` (``default`` when unset or empty); WORLD_SIZE is at least 1."""
    raw = os.environ.get(name, "")
    value = raw.strip()
    if not value:
        return default
    least = 1 if name == "WORLD_SIZE" else 0
    if not (value.isascii() and value.isdigit() and int(value) >= least):
        raise ConfigError(
            f"environment: {name}={raw!r} is not an integer >= {least} (launchers such as accelerate launch or"
            " torchrun set it; left from another launch? unset it to run one process)"
        )
    return int(value)


def check_launch_env() -> None:
    """Every launcher variable that is set is well formed (one line, exit 2, otherwise)."""
    for name in INT_VARS:
        launch_int(name, 0)


CPUS_ENV = "CODEGAN_CPUS"  # the CPUs a scheduler reserved for this process (a Ray trial or Train worker sets it)


def reserved_cpus() -> int | None:
    """The CPUs reserved for this process (``CODEGAN_CPUS``, at least 1), or None when no scheduler said."""
    raw = os.environ.get(CPUS_ENV, "").strip()
    try:
        return max(1, int(float(raw))) if raw else None
    except ValueError:
        raise ConfigError(f"environment: {CPUS_ENV}={raw!r} is not a number of CPUs") from None
