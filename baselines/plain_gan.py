"""A plain unconditional GAN (the ClusterGAN paper's baselines, rows of the CoDeGAN paper's Fashion-MNIST table):
G's loss is the adversarial term alone. G still reads the GAN base's latent ``[z_n, onehot(c)]``, but nothing ties
``c`` to a class, so ``c`` is one more source of noise. Two ways to cluster real images with it:

* ``gan-disc`` (GAN with Disc. phi): k-means on D's trunk features.
* ``gan-bp`` (GAN with bp): k-means on latent codes recovered by gradient descent on ``||G(v) - x||^2`` with G
  frozen (Adam, ``baselines.bp_steps`` steps at ``baselines.bp_lr`` from ``baselines.bp_restarts`` starts, the one
  with the lowest error kept per image).

What bp recovers is G's whole input: ``z_n`` and a soft code ``softmax(logits)`` in place of the one-hot. G was
trained on both parts, so fixing the code to any one class would leave images G draws under another code out of
reach; the softmax keeps the code on the simplex whose corners G knows and makes it differentiable. ``z_n`` starts
from the training prior, the logits at zero (the code equally near every corner). The features are ``[z_n, code]``.
Starts come from a generator seeded by ``seed`` alone, so recovery never draws from the training stream and gives
the same codes at every evaluation of the same G. Recovery inverts the trained G (the contract hands
``class_features`` no EMA copy) in fp32, in eval mode (its BatchNorm statistics, not the batch's), and under
``torch.enable_grad``: the evaluation calls it inside ``no_grad``. The bp keys act at evaluation only, yet they
are part of the run's identity (a method section's keys are training keys): another setting is another run, whose
results never pool with this one's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from accelerate import Accelerator
from torch import nn

from harness.config import Config
from harness.core.seeding import derive_seed
from harness.methods import adversarial
from harness.methods.gan import DataInfo, GANMethod, frozen


@contextlib.contextmanager
def eval_mode(net: nn.Module) -> Iterator[nn.Module]:
    """``net`` in eval mode inside the block, its former mode restored after."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


def invert(
    generate: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, start: torch.Tensor, steps: int, lr: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on ``v`` (one row per image, from ``start``) minimising each ``mean((generate(v) - x)^2)``.

    Returns the last ``v`` and its per-image errors. The loss is the sum over images, so each row's gradient is its
    own image's alone and a row's result does not depend on the batch it is in."""
    with torch.enable_grad():
        v = start.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([v], lr=lr)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            errors(generate, v, x).sum().backward()
            opt.step()
    with torch.no_grad():
        return v.detach(), errors(generate, v, x)


def errors(generate: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error of ``generate(v)`` against ``x``."""
    return (generate(v).float() - x.float()).pow(2).flatten(1).mean(1)


class PlainGAN(GANMethod):
    """G and D with the adversarial losses only; subclasses say how real images are clustered."""

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        super().__init__(cfg, info, accelerator, generator)
        self.prepare()

    def g_step(self) -> dict[str, torch.Tensor]:
        z, c = self.latent(self.cfg.train.g_batch_size)
        with frozen(self.raw("D")), self.acc.autocast():
            out = self.raw("D")(self.nets["G"](self.g_input(z, c)).float())
            adv = adversarial.g_loss(self.cfg.train.gan_loss, out.float())
        self.step("G", adv)
        return {"g_adv": adv.detach()}


class GANDisc(PlainGAN):
    """GAN with Disc. phi: k-means on D's trunk features of real images."""

    @torch.no_grad()
    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.raw("D")) as d, self.acc.autocast():
            return d(x, features=True)[1].float()


class GANBackprop(PlainGAN):
    """GAN with bp: k-means on ``[z_n, softmax(logits)]`` recovered from each real image (module docstring)."""

    def generate(self, v: torch.Tensor) -> torch.Tensor:
        """G's images for free parameters ``v = [z_n, logits]``: the code is ``softmax(logits)``."""
        z, logits = v.split([self.zn_dim + self.code_dim, self.classes], dim=1)
        return self.raw("G")(torch.cat([z, logits.softmax(1)], dim=1))

    def recover(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The best of ``bp_restarts`` recoveries of each image: ``[z_n, logits]`` (N, zn + K) and its errors (N,)."""
        b, n = self.cfg.baselines, x.shape[0]
        gen = torch.Generator(device=self.device).manual_seed(derive_seed(self.cfg.seed, "bp"))
        z, _ = self.latent(n * b.bp_restarts, generator=gen)
        start = torch.cat([z, z.new_zeros(z.shape[0], self.classes)], dim=1)
        with frozen(self.raw("G")), eval_mode(self.raw("G")):
            v, err = invert(self.generate, x.float().repeat(b.bp_restarts, 1, 1, 1), start, b.bp_steps, b.bp_lr)
        best = err.view(b.bp_restarts, n).argmin(0)  # restart r of image i is row r * n + i
        rows = best * n + torch.arange(n, device=x.device)
        return v[rows], err[rows]

    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        v, _ = self.recover(x)
        z, logits = v.split([self.zn_dim + self.code_dim, self.classes], dim=1)
        return torch.cat([z, logits.softmax(1)], dim=1)
