import math

import torch
import torch.nn.functional as F

from codegan.losses import supcon_loss
from harness import adversarial


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
