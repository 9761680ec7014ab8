"""InfoGAN-CR (Lin et al., ICML 2020): InfoGAN plus a contrastive regulariser (CR). A separate CR head sees a
pair of generated images stacked along channels and predicts which latent factor the pair shares; the CR
head learns that by cross-entropy, and G adds ``cr_weight`` times the same cross-entropy to its loss (G
makes the shared factor easy to see).

Choices the CoDeGAN paper leaves open (docs/method.md, "InfoGAN-CR"), after the authors' code:

* Factors: the categorical class code (factor 0) and each of the ``baselines.cont_dim`` continuous codes
  (factors 1..cont_dim); at least one continuous code is needed, or the only factor is always the shared one.
  In a pair the shared factor takes one value in both latents, the other factors are drawn independently
  (``cr_gap`` > 0 forces them apart), and the noise z_n is the same in both images.
* CR head: D's trunk architecture (own weights, 2x the image channels) and a Linear layer to the factor
  logits; its own Adam (``cr_lr``, by default D's learning rate as the authors; betas 0.5 / 0.999).
* Schedule: off (no CR work at all, exactly InfoGAN) before ``cr_start`` x ``train.steps``, then on at
  ``cr_weight`` with a fresh CR head: the authors' step from 0, with the CR head re-initialised.
* Per G update: G's loss gets the CR term on freshly sampled pairs (one G forward for the InfoGAN batch and
  both halves of the pairs), then the CR head takes one step on the same pairs, detached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from baselines.infogan import InfoGAN
from harness.config import Config, ConfigError, ModelConfig
from harness.methods.gan import DataInfo


@dataclass
class Pairs:
    """Latents of ``n`` pairs: ``z = [z_n, codes]`` and class codes per half, and the shared factor's index."""

    z1: torch.Tensor
    z2: torch.Tensor
    c1: torch.Tensor
    c2: torch.Tensor
    shared: torch.Tensor  # 0 = the class code, 1 + i = continuous code i


def _apart(n: int, d: int, gap: float, gen: torch.Generator, device: torch.device):
    """Two draws of ``d`` codes in [-1, 1] per row; with ``gap`` > 0 each pair of values differs by at least
    ``gap`` (drawn in [-1 + gap/2, 1 - gap/2], then pushed apart by gap/2 each, as the authors do)."""
    u = torch.rand(2, n, d, device=device, generator=gen)
    a, b = (1 - gap / 2) * (2 * u - 1)
    if gap > 0:
        sign = torch.where(a > b, 1.0, -1.0)
        a, b = a + sign * gap / 2, b - sign * gap / 2
    return a, b


def sample_pairs(
    n: int,
    zn_dim: int,
    cont_dim: int,
    classes: int,
    generator: torch.Generator,
    device: torch.device,
    gap: float = 0.0,
    noise_std: float = 1.0,
) -> Pairs:
    """``n`` pairs sharing z_n and one factor drawn uniformly from ``1 + cont_dim`` factors (module doc)."""
    shared = torch.randint(0, 1 + cont_dim, (n,), device=device, generator=generator)
    zn = torch.randn(n, zn_dim, device=device, generator=generator) * noise_std
    c1 = torch.randint(0, classes, (n,), device=device, generator=generator)
    if gap > 0:  # another class
        c2 = (c1 + torch.randint(1, classes, (n,), device=device, generator=generator)) % classes
    else:
        c2 = torch.randint(0, classes, (n,), device=device, generator=generator)
    c2 = torch.where(shared == 0, c1, c2)
    a, b = _apart(n, cont_dim, gap, generator, device)
    same = torch.rand(n, cont_dim, device=device, generator=generator) * 2 - 1
    is_shared = shared[:, None] == torch.arange(1, cont_dim + 1, device=device)[None]
    a, b = torch.where(is_shared, same, a), torch.where(is_shared, same, b)
    return Pairs(torch.cat([zn, a], 1), torch.cat([zn, b], 1), c1, c2, shared)


class CRHead(nn.Module):
    """D's trunk architecture, with its own weights, over a pair stacked along channels -> factor logits."""

    def __init__(self, family, shape: tuple[int, int, int], factors: int, cfg: ModelConfig):
        super().__init__()
        c, h, w = shape
        body = family.discriminator((2 * c, h, w), cfg)
        self.trunk = body.trunk
        self.out = nn.Linear(body.feature_dim, factors)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(torch.cat([x1, x2], 1)))


class InfoGANCR(InfoGAN):
    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        if cfg.baselines.cont_dim < 1:
            raise ConfigError(
                "baselines.cont_dim: infogan-cr needs at least one continuous code (with the class code alone"
                " the shared factor is always the same one)"
            )
        super().__init__(cfg, info, accelerator, generator)
        self.cr_start = int(cfg.baselines.cr_start * cfg.train.steps)
        self.cr_active = False
        self.pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def factors(self) -> int:
        return 1 + self.code_dim

    def add_heads(self) -> None:
        super().add_heads()
        head = CRHead(self.family, self.shape, self.factors, self.cfg.model)
        self.add("CR", head, self.cfg.baselines.cr_lr or self.cfg.train.lr_d, 0.0, betas=(0.5, 0.999))

    def cr_weight(self, step: int) -> float:
        """The CR term's weight at iteration ``step`` (0-based): 0 before ``cr_start``, then ``cr_weight``."""
        return self.cfg.baselines.cr_weight if step >= self.cr_start else 0.0

    def pairs(self, n: int) -> Pairs:
        gap = self.cfg.baselines.cr_gap
        return sample_pairs(n, self.zn_dim, self.code_dim, self.classes, self.rng, self.device, gap, self.noise_std)

    def g_frozen(self) -> tuple[nn.Module, ...]:
        return (*super().g_frozen(), self.raw("CR"))

    def g_loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """InfoGAN's terms, plus ``cr_weight`` x the CR head's cross-entropy on fresh pairs once CR is on."""
        if not self.cr_active:
            loss, logs = super().g_loss()
            return loss, {**logs, "cr_weight": torch.zeros((), device=self.device)}
        n = self.cfg.train.g_batch_size
        z, c = self.latent(n)
        p = self.pairs(n)
        x = self.nets["G"](self.g_input(torch.cat([z, p.z1, p.z2]), torch.cat([c, p.c1, p.c2]))).float()
        x, x1, x2 = x.split([n, n, n])
        loss, logs = self.g_terms(x, z, c)
        cr = F.cross_entropy(self.raw("CR")(x1, x2).float(), p.shared)
        # Copies, not views: under CUDA graphs (train.compile=reduce-overhead) G's output lives in graph memory
        # that the next replay overwrites, and the CR head reads this pair after G's step.
        self.pending = (x1.detach().clone(), x2.detach().clone(), p.shared)
        weight = self.cfg.baselines.cr_weight
        logs.update({"g_cr": cr.detach(), "cr_weight": torch.full((), weight, device=self.device)})
        return loss + weight * cr, logs

    def after_g_step(self, step: int) -> dict[str, torch.Tensor]:
        """The CR head's update on the pairs G just saw (detached), while CR is on."""
        if self.pending is None:
            return {}
        x1, x2, shared = self.pending
        self.pending = None
        with self.acc.autocast():
            logits = self.nets["CR"](x1, x2).float()
        loss = F.cross_entropy(logits, shared)
        self.step("CR", loss)
        acc = (logits.detach().argmax(1) == shared).float().mean()
        return {"cr_loss": loss.detach(), "cr_acc": acc}

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        self.cr_active = step >= self.cr_start
        return super().train_step(real, step)

    @torch.no_grad()
    def cr_logits(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """The CR head's factor logits for image pairs (evaluation)."""
        with self.acc.autocast():
            return self.raw("CR")(x1, x2).float()

    def state_dict(self) -> dict:
        """Networks and optimizers, and the iteration the regulariser starts (kept on resume)."""
        return {**super().state_dict(), "cr_start": self.cr_start}

    def load_state_dict(self, state: dict) -> None:
        """Resuming keeps the start resolved at the run's first launch, so a changed ``train.steps`` never
        switches the regulariser off again or moves it."""
        super().load_state_dict(state)
        self.cr_start = int(state.get("cr_start", self.cr_start))
