"""Starting the real entry point in subprocesses, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Bit-identity (a resumed run, a second launch of one config) holds on CPUs, and on CUDA only with
# train.deterministic=true: the tests that assert it ask for that mode where a GPU runs them.
BIT_IDENTICAL = ["train.deterministic=true"] if torch.cuda.is_available() else []
# Two real gloo ranks on CPUs, also on a machine with GPUs (CUDA_VISIBLE_DEVICES= in cpu_env(); one GPU
# cannot hold two NCCL ranks; scripts/gpu_check.sh runs NCCL where there are two).
CPU_DDP = [
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
]


def env(**extra: str) -> dict[str, str]:
    e = {**os.environ, "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1", **extra}
    e.pop("WANDB_DIR", None)
    return e


def cpu_env(**extra: str) -> dict[str, str]:
    """:func:`env` with no GPU visible: for the CPU_DDP launches."""
    return env(CUDA_VISIBLE_DEVICES="", **extra)


def launch(
    args: list[str], accelerate: list[str] | None = None, timeout: float = 600, module: bool = False, **extra: str
):
    """``accelerate launch [accelerate flags] harness/run.py args`` (or ``python -m harness.run``); with
    ``module`` the args start with ``-m <module>`` instead of the entry point."""
    entry = [] if module else (["-m", "harness.run"] if accelerate is None else ["harness/run.py"])
    if accelerate is None:
        cmd = [sys.executable, *entry, *args]
    else:
        cmd = [str(BIN / "accelerate"), "launch", *accelerate, *entry, *args]
    environ = cpu_env(**extra) if accelerate == CPU_DDP else env(**extra)
    return subprocess.run(cmd, cwd=REPO, env=environ, capture_output=True, text=True, timeout=timeout)


def start(args: list[str], **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.run", *args],
        cwd=REPO,
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_folder(log_root: Path) -> Path:
    (folder,) = [p for p in log_root.iterdir() if p.is_dir()]
    return folder


def tiny_run(data_root: object, log_root: object, *more: str) -> list[str]:
    """Overrides for an in-process digits run of a few steps with no W&B, bar or extra k-means seeds."""
    return [
        f"data.root={data_root}",
        f"log.root={log_root}",
        "log.wandb=disabled",
        "log.progress=false",
        "train.steps=4",
        "train.log_every=2",
        "eval.kmeans_seeds=1",
        "eval.kmeans_n_init=1",
        *more,
    ]
