"""Atomic, resumable checkpoints: one file per saved step, written to a temporary name and renamed.

A kill during a write leaves only a ``.tmp`` file, which is ignored (and removed by the next save),
so the latest complete checkpoint is always loadable; a checkpoint damaged afterwards (a failing disk) is
passed over for the one before it on resume. Files are read with ``weights_only=True``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import ConfigError
from harness.core.atomic import atomic_write_bytes, atomic_write_text, torch_bytes
from harness.core.errors import RunError

if TYPE_CHECKING:
    import torch

_NAME = re.compile(r"^step-(\d{8})\.pt$")


def checkpoint_path(folder: Path, step: int) -> Path:
    return folder / f"step-{step:08d}.pt"


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def atomic_save(final: Path, payload: dict) -> None:
    """Serialise in memory, write to a temporary name in the same folder, fsync, rename, fsync the folder.

    Serialising first keeps the operating system's reason for a failed write (``No space left on
    device``) instead of torch's stream-writer error; the temporary file is removed whatever happens,
    and an earlier checkpoint is never touched.
    """
    data = torch_bytes(payload)
    try:
        atomic_write_bytes(final, data)
    except OSError as exc:
        need = f"{len(data) / 2**20:.1f} MiB"
        raise RunError(
            f"cannot write {final} ({need}): {exc.strerror or exc}; earlier checkpoints are intact"
        ) from None


def save(folder: Path, step: int, payload: dict, keep: int) -> Path:
    """Write ``payload`` for ``step`` atomically, then drop all but the ``keep`` newest checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    final = checkpoint_path(folder, step)
    atomic_save(final, payload)
    for _, old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return final


BEST = "best.pt"


def save_best(folder: Path, payload: dict) -> Path:
    """Write ``payload`` (with its ``best`` entry: metric, value, step) atomically as ``best.pt``, and
    that entry beside it as ``best.json`` so it can be read without loading the weights."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save(folder / BEST, payload)
    atomic_write_text(folder / "best.json", json.dumps(payload["best"]))
    return folder / BEST


def best_info(folder: Path) -> dict | None:
    """The metric, value and step of ``best.pt``, or None when there is none."""
    path = folder / "best.json"
    return json.loads(path.read_text()) if path.is_file() and (folder / BEST).is_file() else None


def load(path: Path, map_location: str | torch.device = "cpu") -> dict:
    import torch  # only to read one: listing a run's checkpoints (codegan-eval --help, tables) needs no torch

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report which file failed, whatever the cause
        text = " ".join(str(exc).split())
        if "weights_only" in text or "Unsupported global" in text or "Unpickler" in text:
            # torch's advice (load it with weights_only=False) is the wrong one for a file that failed a safe load
            found = text.split("Unsupported global:")[-1].split(".")[0].strip() if "Unsupported global" in text else ""
            why = f" (it names {found})" if found else ""
            raise RunError(
                f"cannot load checkpoint {path}: the safe loader refused it{why}: a checkpoint of this harness holds"
                " tensors and plain values only, so this one was altered or is not one; never load it unsafely"
            ) from exc
        raise RunError(f"cannot load checkpoint {path}: {text[:300]}") from exc


DAMAGED = ".damaged"  # a checkpoint that could not be loaded, kept aside under this suffix


def load_latest(folder: Path, warn: Callable[[str], None] = print) -> tuple[Path | None, dict | None, list[Path]]:
    """The newest checkpoint of ``folder`` that loads, with its state, and the newer ones that could not be read (cut
    short by a full or failing disk, altered: each named through ``warn`` and passed over, never deleted; see
    :func:`keep_aside`); (None, None, []) when there is none. When none loads, the newest one's error is raised."""
    first: RunError | None = None
    damaged: list[Path] = []
    for _, path in reversed(list_checkpoints(folder)):
        try:
            return path, load(path), damaged
        except RunError as exc:
            first = first or exc
            damaged.append(path)
            warn(f"warning: {exc}; resuming from the checkpoint before it")
    if first is not None:
        raise first
    return None, None, []


def keep_aside(damaged: list[Path], warn: Callable[[str], None] = print) -> None:
    """Rename checkpoints that could not be loaded ``<name>.damaged`` (by the process that writes the folder, once
    the run goes on from the one before them), so the checkpoint the resumed run writes at their step never replaces
    the evidence."""
    for path in damaged:
        aside = path.with_name(path.name + DAMAGED)
        try:
            path.rename(aside)
            warn(f"{path.name} kept as {aside.name}")
        except OSError:
            pass


def check_checkpoint(path: Path, state: dict, run_dir: Path, run_hash: str, launch: tuple[int, str, str]) -> None:
    """A checkpoint continues only the run it belongs to: same training config, world size, precision and
    device type (a checkpoint that records none was made on a CPU)."""
    if state.get("run_hash", state.get("config_hash")) == run_hash:
        return
    world, precision, device = state.get("world_size"), state.get("mixed_precision"), state.get("device", "cpu")
    if device != launch[2]:
        raise ConfigError(
            f"{run_dir} was trained on {device}, this launch runs on {launch[2]}: resume it on {device}"
            f" ({'CUDA_VISIBLE_DEVICES= for a CPU' if device == 'cpu' else 'a GPU'}); the device type is part of"
            " a run's identity, so this config on this device is a run folder of its own"
        )
    if world is not None and world != launch[0]:
        raise ConfigError(
            f"{run_dir} was trained with {world} process(es), this launch has {launch[0]}: resume it with"
            f" --num_processes {world} (another world size cannot continue the same data streams exactly)"
        )
    if precision is not None and precision != launch[1]:
        raise ConfigError(
            f"{run_dir} was trained with mixed precision '{precision}', this launch uses '{launch[1]}':"
            f" resume it with --mixed_precision {precision}"
        )
    raise ConfigError(f"{path} belongs to run {state.get('run_hash')}, not this config's {run_hash}")
