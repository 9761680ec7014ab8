"""Mixed precision, tested rather than assumed: bf16 runs and resumes on CPU with the gradient penalty in fp32, and
fp16 without CUDA is refused in one line."""

import json
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from harness.config import build_config
from harness.methods import adversarial
from harness.runs import checkpoint
from harness.training.trainer import train
from tests.launch import BIT_IDENTICAL, launch, run_folder, tiny_run
from tests.test_step_options import _method

pytestmark = pytest.mark.usefixtures("one_thread")


class FloatDtypes(TorchDispatchMode):
    """The dtypes of every floating-point tensor the ops inside the block produce."""

    def __init__(self):
        super().__init__()
        self.seen: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.seen.add(t.dtype)
        return out


def test_the_gradient_penalty_is_computed_in_fp32_under_bf16_autocast():
    m = _method("codegan", "train.mixed_precision=bf16")
    assert m.acc.mixed_precision == "bf16"
    critic = m.raw("D")
    real, fake = torch.rand(16, 1, 8, 8), torch.rand(16, 1, 8, 8)
    with m.acc.autocast():
        with FloatDtypes() as control:
            critic(real)
        with FloatDtypes() as penalty:
            gp = adversarial.gradient_penalty(critic, real, fake, m.rng)
    assert torch.bfloat16 in control.seen  # autocast is on around the penalty
    assert penalty.seen == {torch.float32} and gp.dtype == torch.float32
    with FloatDtypes() as backward:  # the double backward the penalty built runs in fp32 too
        gp.backward()
    assert backward.seen == {torch.float32}
    with FloatDtypes() as step:
        logs = m.d_step(real)
    assert torch.bfloat16 in step.seen  # the critic's own forward does run in bf16
    assert logs["gp"].dtype == torch.float32 and math.isfinite(float(logs["gp"]))


def test_one_process_makes_accelerators_of_each_precision_in_turn():
    for precision in ("bf16", "no", "bf16"):
        m = _method("codegan", f"train.mixed_precision='{precision}'")
        assert m.acc.mixed_precision == precision
        with FloatDtypes() as seen, m.acc.autocast():
            m.raw("D")(torch.rand(4, 1, 8, 8))
        assert (torch.bfloat16 in seen.seen) is (precision == "bf16")


def _final_weights(run: object) -> dict[str, torch.Tensor]:
    state = checkpoint.load(checkpoint.latest(run / "checkpoints"), map_location="cpu")
    return {f"{n}.{k}": v for n, sd in state["method"]["nets"].items() for k, v in sd.items()}


def test_a_bf16_run_finishes_finite_and_its_checkpoint_resumes_to_the_same_weights(digits_shards, tmp_path):
    more = ["train.mixed_precision=bf16", "train.ckpt_every=2", "eval.quality=[]", "eval.pixel_baseline=false",
            *BIT_IDENTICAL]  # fmt: skip
    train(build_config("digits", tiny_run(digits_shards.parent, tmp_path / "a", *more)))
    whole = run_folder(tmp_path / "a")
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["mixed_precision"] == "bf16" and summary["step"] == 4
    losses = [v for line in (whole / "metrics.jsonl").read_text().splitlines() for k, v in json.loads(line).items()]
    assert losses and all(math.isfinite(v) for v in losses if isinstance(v, float))

    train(build_config("digits", tiny_run(digits_shards.parent, tmp_path / "b", *more, "train.steps=2")))
    train(build_config("digits", tiny_run(digits_shards.parent, tmp_path / "b", *more)))  # continues from step 2
    stopped = run_folder(tmp_path / "b")
    assert json.loads((stopped / "summary.json").read_text())["resumed_from_step"] == 2
    a, b = _final_weights(whole), _final_weights(stopped)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ"


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is allowed where CUDA is")
def test_fp16_without_cuda_is_refused_in_one_line(tmp_path):
    proc = launch(["train.mixed_precision=fp16", f"log.root={tmp_path}"], timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config error: mixed precision fp16 needs a CUDA GPU; on this machine use bf16 or no"
    ]
    assert not any(tmp_path.iterdir()), "a refused run must leave no run folder"


def test_another_precision_on_a_finished_config_is_a_new_run_not_the_old_result(digits_shards, tmp_path, capsys):
    from harness.config import build_config
    from harness.training.trainer import train
    from tests.launch import tiny_run

    quick = ("train.steps=2", "eval.quality=[]", "eval.pixel_baseline=false")
    overrides = tiny_run(digits_shards.parent, tmp_path, *quick)
    train(build_config("digits", overrides))
    capsys.readouterr()
    train(build_config("digits", [*overrides, "train.mixed_precision=bf16"]))
    assert "already complete" not in capsys.readouterr().out
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert len(folders) == 2, folders  # the run hash covers the precision
    summaries = [json.loads((tmp_path / f / "summary.json").read_text()) for f in folders]
    assert sorted(s["mixed_precision"] for s in summaries) == ["bf16", "no"]


def _scaled_method(name: str, scaler: torch.amp.GradScaler | None):
    """A tiny method whose Accelerator scales its losses as Accelerate's fp16 does (fp16 itself needs CUDA; the
    CPU GradScaler runs the same mechanism on fp32 gradients)."""
    from harness.config import build_config, registry
    from harness.methods.gan import DataInfo
    from harness.parallel.accelerator import make_accelerator
    from tests.test_step_options import NEEDS, SMALL_BATCHES, TINY

    cfg = build_config("codegan/configs/digits.yaml", [f"method={name}", *TINY, *SMALL_BATCHES, *NEEDS.get(name, [])])
    torch.manual_seed(0)
    acc = make_accelerator(cfg)
    acc.scaler = scaler  # before prepare(): the wrapped optimizers take it from the Accelerator
    return registry.method(name)(cfg, DataInfo(10, (1, 8, 8)), acc, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["codegan", "infogan", "clustergan"])
def test_fp16_loss_scaling_updates_the_scale_once_per_iteration(name):
    """CoDeGAN steps three optimizers per iteration (G, E, D), InfoGAN two from one backward (D and Q), ClusterGAN
    G and E together. The scale grows once per iteration (growth_interval=1: doubled each time), every optimizer
    unscales with the scale its backward used, so the weights are bit-identical to training without scaling."""
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1)
    updates = []
    update = scaler.update
    scaler.update = lambda *a, **k: (updates.append(1), update(*a, **k))[1]
    scaled, plain = _scaled_method(name, scaler), _scaled_method(name, None)
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    iterations = 3
    for step in range(iterations):
        for m in (scaled, plain):
            m.train_step(real, step)
    assert len(updates) == iterations and scaler.get_scale() == 2.0 ** (8 + iterations)
    for n in plain.nets:
        a, b = plain.raw(n).state_dict(), scaled.raw(n).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"{name}: {n}'s weights differ with loss scaling"
