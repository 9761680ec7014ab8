"""The training-health guard: a run whose optimizer state overflows, or whose weights stop changing though their
optimizer steps, trains nothing while every loss stays finite; it stops with one line at the next sync point (exit
1), on one process and on two ranks, fp32 and bf16, and writes no checkpoint and no result."""

import pytest
import torch

from harness.training.health import Health, optimizer_state_problem
from scripts.bench_step import EAGER
from tests.launch import CPU_DDP, launch
from tests.test_step_options import _method

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(tmp_path, digits_shards, *more: str, accelerate=None):
    args = [f"data.root={digits_shards.parent}", f"log.root={tmp_path / 'runs'}", "log.wandb=disabled",
            "log.progress=false", "train.steps=40", "train.log_every=10", "train.ckpt_every=10", "eval.quality=[]",
            "eval.kmeans_seeds=1", "eval.pixel_baseline=false", *more]  # fmt: skip
    proc = launch(args, accelerate=accelerate, OMP_NUM_THREADS="1")
    lines = proc.stderr.strip().splitlines()
    return proc, lines


@pytest.mark.parametrize("overflow", [["codegan.beta_c=1e20"], ["codegan.beta_c=1e38", "train.mixed_precision=bf16"]])
def test_an_overflowing_optimizer_stops_the_run_with_one_line(overflow, tmp_path, digits_shards):
    proc, lines = _run(tmp_path, digits_shards, *overflow)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert lines[-1].startswith("error: the optimizer state of G (exp_avg_sq) became NaN or infinite by step 10")
    assert not list((tmp_path / "runs").rglob("*.pt")) and not list((tmp_path / "runs").rglob("summary.json"))


def test_weights_that_stop_changing_stop_the_run(tmp_path, digits_shards):
    """A learning rate whose updates are below G's weights' resolution: Adam steps, nothing changes."""
    proc, lines = _run(tmp_path, digits_shards, "train.lr_g=1e-40")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert lines[-1].startswith("error: the weights of G have not changed from step 10 to step 20 though its optimizer")
    assert "step-00000010.pt" in {p.name for p in (tmp_path / "runs").rglob("*.pt")}  # the healthy one only


def test_two_ranks_both_stop_with_one_line_each(tmp_path, digits_shards):
    proc, lines = _run(tmp_path, digits_shards, "codegan.beta_c=1e20", accelerate=CPU_DDP)
    assert proc.returncode != 0
    ours = [line for line in lines if "optimizer state of G (exp_avg_sq) became NaN or infinite by step 10" in line]
    assert {line.split("]")[0] for line in ours} == {"[rank 0", "[rank 1"}, proc.stderr[-3000:]


def test_the_checks_see_a_poisoned_state_and_a_frozen_network():
    m = _method("codegan", *EAGER)
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    m.train_step(real, 0)
    health = Health(m)
    assert health.check(1) == (0, "") and optimizer_state_problem(m.optimizers()) is None
    m.train_step(real, 1)
    assert health.check(2) == (0, "")  # every network moved
    for group in m.optimizers()["D"].param_groups:
        group["lr"] = 0.0  # D's optimizer steps, its weights stay
    m.train_step(real, 2)
    code, message = health.check(3)
    assert code == 2 and message.startswith("the weights of D have not changed from step 2 to step 3")
    next(iter(m.optimizers()["G"].state.values()))["exp_avg_sq"].fill_(float("inf"))
    assert optimizer_state_problem(m.optimizers()) == "G (exp_avg_sq)" and health.check(4)[0] == 1
