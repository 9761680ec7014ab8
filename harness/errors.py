"""Failures of a run that are neither configuration nor data: locks, checkpoints, disks, diverged losses."""

from __future__ import annotations


class RunError(RuntimeError):
    """A run cannot go on (folder locked, checkpoint unwritable, another rank failed); the message says why."""


class NonFiniteError(RunError):
    """A loss or weight became NaN or infinite; nothing was written over the last good checkpoint."""
