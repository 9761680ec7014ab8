"""Run folders as the harness wrote them before the device type joined the run identity (identity version 1)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.config import build_config
from harness.runs import checkpoint
from harness.runs.identity_versions import v1_hash


def as_version_1(folder: Path) -> Path:
    """Rewrite a CPU run folder made now into the one version 1 made for the same launch: named by the version-1
    hash, a ``run.json`` of run hash, world size and precision alone, checkpoints that record no device type,
    result files naming that hash and folder. Returns the renamed folder."""
    info = json.loads((folder / "run.json").read_text())
    assert info["device"] == "cpu"
    cfg = build_config(folder / "config.yaml")
    old = v1_hash(cfg, info["world_size"], info["mixed_precision"], "cpu")
    target = folder.parent / f"{cfg.name}-{old}"
    folder.rename(target)
    run_info = {"run_hash": old, "world_size": info["world_size"], "mixed_precision": info["mixed_precision"]}
    (target / "run.json").write_text(json.dumps(run_info))
    for path in [p for _, p in checkpoint.list_checkpoints(target / "checkpoints")]:
        state = checkpoint.load(path)
        state["run_hash"] = old
        state.pop("device")
        torch.save(state, path)
    for path in [target / "summary.json", *target.glob("eval-*.json")]:
        if path.is_file():
            record = json.loads(path.read_text())
            record.update(run=target.name, run_dir=str(target), run_hash=old)
            path.write_text(json.dumps(record))
    return target
