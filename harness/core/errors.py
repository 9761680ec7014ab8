"""The harness's failures: a configuration mistake (exit 2); a run that cannot go on (locks, checkpoints, disks,
diverged losses) and a dataset fault (exit 1)."""

from __future__ import annotations

MAX_YAML_BYTES = 1 << 20  # presets, sweep files and cards are a few KB; nothing larger is parsed


class ConfigError(ValueError):
    """A configuration mistake: the message names the key, file or value at fault."""


class DataError(RuntimeError):
    """A dataset problem; the message names the file, shard or sample at fault."""


class RunError(RuntimeError):
    """A run cannot go on (folder locked, checkpoint unwritable, another rank failed); the message says why."""


class NonFiniteError(RunError):
    """A loss or weight became NaN or infinite; nothing was written over the last good checkpoint."""
