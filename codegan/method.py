"""CoDeGAN's training step: G (adversarial + beta_c L_c + beta_z L_z), then E, then D.

Order per real batch (REFERENCE.md section 1): when ``step % critic == 0`` update G, then the
encoder (from ``chain_step`` on), then update D every step. The encoder is one trunk with two heads
for the dcgan family: E_c (L2-normalised class feature) and E_z (z_n regression).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from codegan.losses import noise_loss, supcon_loss
from harness import adversarial
from harness.augment import random_resized_crop
from harness.config import Config
from harness.gan import DataInfo, GANMethod, frozen
from harness.registry import register_method


class TwoHeadEncoder(nn.Module):
    """A shared trunk whose output splits into E_c (normalised, ``fc_dim``) and E_z (``zn_dim``)."""

    def __init__(self, trunk: nn.Module, fc_dim: int):
        super().__init__()
        self.trunk, self.fc_dim = trunk, fc_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.trunk(x).float()
        return F.normalize(out[:, : self.fc_dim], dim=1), out[:, self.fc_dim :]


@register_method("codegan")
class CoDeGAN(GANMethod):
    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        super().__init__(cfg, info, accelerator, generator)
        c = cfg.codegan
        trunk = self.family.encoder(self.shape, c.fc_dim + self.zn_dim, cfg.model)
        self.add("E", TwoHeadEncoder(trunk, c.fc_dim), cfg.train.lr_e, cfg.train.weight_decay)
        self.prepare()

    def _views(self, x: torch.Tensor) -> torch.Tensor:
        """The image and its RandomResizedCrop view, stacked view-major."""
        c = self.cfg.codegan
        return torch.cat([x, random_resized_crop(x, tuple(c.crop_scale), self.rng, per_sample=c.crop_per_sample)])

    def _encoder_losses(self, enc: nn.Module, x: torch.Tensor, z: torch.Tensor, c: torch.Tensor):
        feats, z_hat = enc(self._views(x))
        l_c = supcon_loss(feats, c.repeat(2), self.cfg.codegan.tau, self.cfg.codegan.base_tau)
        l_z = noise_loss(z_hat[: x.shape[0]], z)
        return l_c, l_z

    def g_step(self) -> dict[str, torch.Tensor]:
        cg = self.cfg.codegan
        z, c = self.latent(self.cfg.train.g_batch_size)
        with frozen(self.raw("D"), self.raw("E")), self.acc.autocast():
            x = self.nets["G"](self.g_input(z, c)).float()
            adv = adversarial.g_loss(self.cfg.train.gan_loss, self.raw("D")(x).float())
            l_c, l_z = self._encoder_losses(self.raw("E"), x, z, c)
            loss = adv + cg.beta_c * l_c + cg.beta_z * l_z
        self.step("G", loss)
        return {"g_adv": adv.detach(), "g_lc": l_c.detach(), "g_lz": l_z.detach()}

    def e_step(self) -> dict[str, torch.Tensor]:
        """Encoder update on fresh fakes: ``L_c + (beta_z / beta_c) L_z`` (``beta_z`` alone if beta_c = 0)."""
        cg = self.cfg.codegan
        z, c = self.latent(cg.e_batch_size)
        with torch.no_grad(), self.acc.autocast():
            x = self.raw("G")(self.g_input(z, c)).float()
        with self.acc.autocast():
            l_c, l_z = self._encoder_losses(self.nets["E"], x, z, c)
        ratio = cg.beta_z / cg.beta_c if cg.beta_c > 0 else cg.beta_z
        loss = l_c + ratio * l_z
        self.step("E", loss)
        return {"e_lc": l_c.detach(), "e_lz": l_z.detach()}

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        logs: dict[str, torch.Tensor] = {}
        if step % self.cfg.train.critic == 0:
            logs.update(self.g_step())
            if step >= self.cfg.codegan.chain_step:
                logs.update(self.e_step())
        logs.update(self.d_step(real))
        return logs

    @torch.no_grad()
    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        """E_c's L2-normalised features: what k-means clusters at evaluation."""
        with self.acc.autocast():
            return self.raw("E")(x)[0].float()
