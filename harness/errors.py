"""The harness's failures: a configuration mistake (exit 2), and a run that cannot go on (locks, checkpoints,
disks, diverged losses: exit 1). Data faults are :class:`harness.data.cards.DataError`."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration mistake: the message names the key, file or value at fault."""


class RunError(RuntimeError):
    """A run cannot go on (folder locked, checkpoint unwritable, another rank failed); the message says why."""


class NonFiniteError(RunError):
    """A loss or weight became NaN or infinite; nothing was written over the last good checkpoint."""
