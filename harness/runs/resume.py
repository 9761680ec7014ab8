"""Where a run starts: the newest checkpoint of its folder that loads and belongs to this launch, a given checkpoint
(re-scoring), another config's checkpoint (a Tune trial cloned by PBT), or step 0; and each rank's random stream
restored from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.core.errors import ConfigError
from harness.runs import checkpoint


@dataclass
class Start:
    """A run's starting point: the checkpoint it loads (None from scratch), its state and step, and the foreign
    checkpoints the run's weights descend from (part of its results' identity)."""

    path: Path | None = None
    state: dict[str, Any] | None = None
    step: int = 0
    lineage: list[dict[str, Any]] = field(default_factory=list)


def find_start(
    run_dir: Path,
    run_hash: str,
    launch: tuple[int, str, str],
    steps: int,
    checkpoint_path: Path | None = None,
    init_from: Path | None = None,
    warn: Callable[[str], None] = print,
    keep_aside: bool = False,
) -> Start:
    """``checkpoint_path`` if given, else the folder's newest checkpoint that loads (a damaged newer one is named
    through ``warn`` and passed over), else ``init_from`` (another config's), else step 0. A checkpoint of the folder
    must belong to this run and launch (``keep_aside``: a damaged newer one is renamed ``.damaged``, by the process
    that writes the folder); a run past ``steps`` is refused with the three ways on."""
    path, state, damaged = checkpoint_path, None, []
    if path is None:
        path, state, damaged = checkpoint.load_latest(run_dir / "checkpoints", warn)
    foreign = path is None and init_from is not None
    if foreign:
        path = init_from
    if path is None:
        return Start()
    if state is None:
        state = checkpoint.load(path, map_location="cpu")  # tensors are moved by load_state_dict
    if not foreign:
        checkpoint.check_checkpoint(path, state, run_dir, run_hash, launch)
    step = int(state["step"])
    lineage = list(state.get("lineage", []))
    if foreign:  # started from another config's weights: part of what this run's results are
        lineage.append({"run_hash": state.get("run_hash", state.get("config_hash")), "step": step})
    if step > steps and checkpoint_path is None:
        raise ConfigError(
            f"{run_dir} is at step {step}, past train.steps={steps}: raise train.steps to continue it, re-score a"
            f" checkpoint with codegan-eval {path}, or add name=<new name> to train a {steps}-step run in a folder of"
            " its own"
        )
    if keep_aside and damaged:  # the run goes on from an older one: the damaged ones are kept, never overwritten
        checkpoint.keep_aside(damaged, warn)
    return Start(path, state, step, lineage)


def restore_rng(rng: torch.Generator, states: list[torch.Tensor], rank: int, world: int) -> str | None:
    """This rank's generator state from a checkpoint's ``states``; None when restored, else why it cannot continue
    them (a checkpoint of another world size, or of another device type: a CUDA generator's state is not a CPU
    one's), for the caller to reseed and say so."""
    mine = rng.get_state()
    if len(states) != world:
        return f"it holds {len(states)} rank state(s), this launch has {world} process(es)"
    if states[rank].dtype != mine.dtype or states[rank].numel() != mine.numel():
        return (f"its generator state ({states[rank].numel()} bytes) is not a {rng.device.type} generator's"
                f" ({mine.numel()} bytes): made on another device type")  # fmt: skip
    rng.set_state(states[rank].cpu())
    return None
