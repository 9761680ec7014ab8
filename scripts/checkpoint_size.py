"""What a run's checkpoint holds and costs on disk: its file size, and the bytes of each network's weights, of their
optimizer state and of the rest (RNG states, data position, EMA).

    python -m scripts.checkpoint_size runs/<run folder> [...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.runs.checkpoint import list_checkpoints

MB = 1e6


def tensor_bytes(obj: Any) -> int:
    """The bytes of every tensor inside ``obj`` (nested dicts, lists and tuples)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def breakdown(path: Path) -> dict[str, float]:
    """MB of the file, of each network's weights (``weights/<net>``), of the optimizer state and of the rest."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    method = state.get("method", {})
    nets = {f"weights/{k}": tensor_bytes(v) / MB for k, v in method.get("nets", {}).items()}
    optimizer = tensor_bytes(method.get("opts", {})) / MB
    total = tensor_bytes(state) / MB
    return {"file": path.stat().st_size / MB, **nets, "optimizer state": optimizer,
            "other": total - sum(nets.values()) - optimizer}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.checkpoint_size", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    args = parser.parse_args(argv)
    for run in args.runs:
        found = [path for _, path in list_checkpoints(run / "checkpoints")]
        if not found:
            print(f"{run}: no checkpoint", file=sys.stderr)
            return 1
        parts = breakdown(found[-1])
        shown = ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
        print(f"{run.name}: {len(found)} checkpoints kept; the newest, {found[-1].name} (MB): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
