import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from codegan.losses import nt_xent_loss, supcon_loss
from harness.methods import adversarial


def supcon_by_definition(f, y, tau, base_tau):
    """Khosla et al. eq. 2 (L_out), contrast_mode='all', written as plain loops."""
    n, total, anchors = len(y), 0.0, 0
    for i in range(n):
        others = [a for a in range(n) if a != i]
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            continue
        denom = sum(math.exp(float(f[i] @ f[a]) / tau) for a in others)
        s = sum(math.log(math.exp(float(f[i] @ f[p]) / tau) / denom) for p in positives)
        total += -(tau / base_tau) * s / len(positives)
        anchors += 1
    return total / anchors


def test_supcon_matches_definition():
    g = torch.Generator().manual_seed(0)
    f = F.normalize(torch.randn(12, 5, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 1, 2, 0, 1, 3] * 2)  # two views; class 2 and 3 have only their other view
    for tau in (0.07, 0.5):
        got = supcon_loss(f, y, tau, base_tau=0.07).double()
        assert math.isclose(float(got), supcon_by_definition(f.double(), y.tolist(), tau, 0.07), rel_tol=1e-5)


class Products(TorchDispatchMode):
    """The dtypes of every matrix product the ops inside the block compute."""

    OPS = {"aten.mm", "aten.bmm", "aten.addmm", "aten.matmul"}

    def __init__(self):
        super().__init__()
        self.dtypes: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if str(func.overloadpacket) in self.OPS:
            self.dtypes.add(out.dtype)
        return out


@pytest.mark.parametrize("loss", ["supcon", "nt_xent"])
@pytest.mark.parametrize("features_dtype", [torch.float32, torch.bfloat16])
def test_contrastive_losses_are_computed_in_fp32_under_bf16_autocast(loss, features_dtype):
    """L_c and NT-Xent inside a bf16 autocast (as every mixed-precision step calls them): the logits' product is
    fp32 and the loss equals the fp32 loss exactly (in bf16 it was 1.1e-3 off for 256 features at tau = 0.07)."""
    g = torch.Generator().manual_seed(0)
    f = F.normalize(torch.randn(256, 120, generator=g), dim=1).to(features_dtype)
    y = torch.randint(0, 10, (128,), generator=g).repeat(2)

    def fn(x):
        return supcon_loss(x, y, 0.07) if loss == "supcon" else nt_xent_loss(x, 0.5)

    with Products() as fp32:
        want = fn(f)
    with torch.autocast("cpu", dtype=torch.bfloat16), Products() as mixed:
        got = fn(f)
    assert fp32.dtypes == mixed.dtypes == {torch.float32}
    assert got.dtype == torch.float32 and torch.equal(got, want)


def test_supcon_skips_anchors_without_positives():
    f = F.normalize(torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), dim=1)
    y = torch.tensor([0, 0, 1, 2])
    expected = supcon_by_definition(f, y.tolist(), 0.1, 0.07)
    assert math.isclose(float(supcon_loss(f, y, 0.1)), expected, rel_tol=1e-5, abs_tol=1e-6)  # fp32 inside


def test_gradient_penalty_is_fp32_and_exact_for_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # |grad| = 5 everywhere -> penalty (5 - 1)^2 = 16
    critic = lambda x: x.flatten(1) @ w  # noqa: E731
    real = torch.randn(6, 1, 1, 2).half()
    fake = torch.randn(6, 1, 1, 2).half()
    gp = adversarial.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert gp.dtype == torch.float32
    assert math.isclose(float(gp), 16.0, rel_tol=1e-6)


def test_adversarial_losses():
    r, f = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    assert float(adversarial.d_loss("wgan-gp", r, f)) == -1.0
    assert float(adversarial.d_loss("hinge", r, f)) == (0 + 1) / 2 + (0 + 2) / 2
    assert math.isclose(float(adversarial.g_loss("bce", f)), float(F.softplus(-f).mean()))
