"""train.deterministic: what a CPU can prove of it. L_c's continuous crop as matrix products computes what
grid_sample computes; with it, a training step of every method uses no op that has no deterministic CUDA kernel
(those raise under torch.use_deterministic_algorithms on a GPU); the switches are set and cleared per run."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from codegan.augment import random_resized_crop
from harness.config import build_config, registry
from harness.methods.gan import DataInfo
from harness.parallel import determinism
from harness.parallel.accelerator import make_accelerator
from tests.test_step_options import NEEDS, SMALL_BATCHES, TINY

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def nondeterministic_afterwards():
    yield
    determinism.configure(False)


@pytest.mark.parametrize("shape", [(16, 1, 8, 8), (8, 1, 28, 28), (8, 3, 32, 32), (4, 2, 12, 20)])
@pytest.mark.parametrize("per_sample", [True, False])
def test_the_matrix_product_crop_is_grid_samples_crop(shape, per_sample):
    """The same boxes (same draws), the same bilinear weights and border padding: equal to rounding in fp32, to
    1e-12 in fp64, and so are the gradients with respect to the images (L_c back-propagates through the view)."""
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        x = torch.rand(shape, dtype=dtype, generator=torch.Generator().manual_seed(0), requires_grad=True)
        outs, grads = [], []
        for matmul in (False, True):
            gen = torch.Generator().manual_seed(3)
            out = random_resized_crop(x, (0.08, 1.0), gen, per_sample=per_sample, matmul=matmul)
            (grad,) = torch.autograd.grad((out * out).sum(), x)
            outs.append(out.detach())
            grads.append(grad)
        assert (outs[0] - outs[1]).abs().max() <= tol
        assert (grads[0] - grads[1]).abs().max() <= 10 * tol


class Ops(TorchDispatchMode):
    """The names of every aten op run inside the block, forward and backward."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


VARIANTS = {
    "codegan": ("codegan", [], (1, 8, 8)),
    "codegan-color": ("codegan", ["codegan.augment=color"], (3, 8, 8)),
    "codegan-resnet": (
        "codegan",
        ["model.arch=resnet", "codegan.encoders=separate", "codegan.augment=color"],
        (3, 32, 32),
    ),  # fmt: skip
    "infogan": ("infogan", [], (1, 8, 8)),
    "infogan-cr": ("infogan-cr", ["baselines.cr_start=0"], (1, 8, 8)),
    "clustergan": ("clustergan", [], (1, 8, 8)),
    "simclr": ("simclr", [], (1, 8, 8)),
}


def _step_ops(variant: str, deterministic: bool) -> set[str]:
    name, more, shape = VARIANTS[variant]
    overrides = [f"method={name}", *TINY, *SMALL_BATCHES, *NEEDS.get(name, []), *more]
    cfg = build_config("codegan/configs/digits.yaml", [*overrides, f"train.deterministic={deterministic}"])
    torch.manual_seed(0)
    m = registry.method(name)(cfg, DataInfo(10, shape), make_accelerator(cfg), torch.Generator().manual_seed(0))
    real = torch.rand(16, *shape, generator=torch.Generator().manual_seed(1))
    with Ops() as seen:
        m.train_step(real, 0)
    return seen.names


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_deterministic_step_uses_only_ops_with_deterministic_cuda_kernels(variant):
    assert not _step_ops(variant, True) & determinism.CUDA_NONDETERMINISTIC


def test_the_check_can_fail_without_deterministic_mode():
    """grid_sample's backward: what CoDeGAN's default step runs, and what raises on CUDA in deterministic mode."""
    assert "aten.grid_sampler_2d_backward" in _step_ops("codegan", False) & determinism.CUDA_NONDETERMINISTIC


def test_the_switches_are_set_and_cleared_per_run(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    make_accelerator(build_config("digits", ["train.deterministic=true"]))
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    make_accelerator(build_config("digits"))
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    assert torch.backends.cudnn.benchmark  # fixed shapes: cuDNN picks its fastest algorithms


def test_the_key_is_part_of_the_run_identity_only_when_set():
    from harness.config import training_hash

    base = build_config("digits")
    assert training_hash(build_config("digits", ["train.deterministic=false"])) == training_hash(base) == "19399cfe"
    assert training_hash(build_config("digits", ["train.deterministic=true"])) != training_hash(base)
