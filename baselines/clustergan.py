"""ClusterGAN (Mukherjee et al. 2019): z_n ~ N(0, 0.1^2) with a one-hot class code; a separate encoder
maps images back to (z_n, z_c logits); G and E are updated jointly on the adversarial loss plus
``cluster_beta_n * MSE(z_n) + cluster_beta_c * CE(z_c)``; WGAN-GP in the original."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from baselines.losses import categorical_code_loss
from harness.config import Config
from harness.methods import adversarial
from harness.methods.gan import DataInfo, GANMethod, frozen


class ClusterGAN(GANMethod):
    argmax_tag = "enc"

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        self.noise_std = cfg.baselines.cluster_sigma_n
        super().__init__(cfg, info, accelerator, generator)
        t = cfg.train
        self.add("E", self.family.encoder(self.shape, self.zn_dim + self.classes, cfg.model), t.lr_e, t.weight_decay)
        self.prepare()

    def encoder_losses(self, out: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(MSE of the z_n estimate, cross-entropy of the z_c logits) for encoder outputs ``out``."""
        out = out.float()
        return F.mse_loss(out[:, : self.zn_dim], z.float()), categorical_code_loss(out[:, self.zn_dim :], c)

    def g_step(self) -> dict[str, torch.Tensor]:
        b = self.cfg.baselines
        z, c = self.latent(self.cfg.train.g_batch_size)
        with frozen(self.raw("D")), self.acc.autocast():
            x = self.nets["G"](self.g_input(z, c)).float()
            adv = adversarial.g_loss(self.cfg.train.gan_loss, self.raw("D")(x).float())
            l_n, l_c = self.encoder_losses(self.nets["E"](x), z, c)
        self.step(("G", "E"), adv + b.cluster_beta_n * l_n + b.cluster_beta_c * l_c)
        return {"g_adv": adv.detach(), "e_zn": l_n.detach(), "e_zc": l_c.detach()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        with self.acc.autocast():
            return self.raw("E")(x).float()

    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's whole output [z_n estimate, z_c logits], as ClusterGAN clusters it."""
        return self.encode(x)

    def predict_class(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x)[:, self.zn_dim :].argmax(1)
