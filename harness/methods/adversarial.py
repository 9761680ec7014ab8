"""Adversarial losses shared by every GAN method, and the WGAN-GP gradient penalty (always fp32)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def d_loss(kind: str, out_real: torch.Tensor, out_fake: torch.Tensor) -> torch.Tensor:
    """Critic/discriminator loss on raw outputs (before any penalty)."""
    if kind == "wgan-gp":
        return out_fake.mean() - out_real.mean()
    if kind == "hinge":
        return F.relu(1.0 - out_real).mean() + F.relu(1.0 + out_fake).mean()
    if kind == "bce":
        return F.softplus(-out_real).mean() + F.softplus(out_fake).mean()
    raise ValueError(f"unknown GAN loss '{kind}'")


def g_loss(kind: str, out_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss (non-saturating for bce)."""
    if kind in ("wgan-gp", "hinge"):
        return -out_fake.mean()
    if kind == "bce":
        return F.softplus(-out_fake).mean()
    raise ValueError(f"unknown GAN loss '{kind}'")


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """Gulrajani et al.'s penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` on random interpolates, in fp32.

    The gradient with respect to the interpolates is ``torch.func.grad`` of the critic's summed output: the same
    numbers as ``autograd.grad`` of a ``requires_grad_`` input with ``create_graph=True`` (still differentiable with
    respect to the critic's weights), and traceable into one graph by every supported torch (``train.compile=step``;
    torch 2.11's dynamo breaks the graph on ``requires_grad_``). Call it with the unwrapped critic: its forward must
    not run through DDP; the final backward of the total loss still reaches DDP's gradient hooks once per parameter.
    """
    with torch.autocast(device_type=real.device.type, enabled=False):
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
        x_hat = alpha * real.float() + (1 - alpha) * fake.float()
        grad = torch.func.grad(lambda x: critic(x).sum())(x_hat)
        return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
