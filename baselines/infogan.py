"""InfoGAN (Chen et al. 2016): a categorical code of K classes (and optional continuous codes) whose
mutual information with G's output is maximised through a Q head on D's trunk features.

``baselines.mi_trains_d_trunk``:

* true (the original InfoGAN): Q and D share the trunk; the MI term enters D's update (trunk, head and
  Q move together) and G's update (G only).
* false (PyTorch-StudioGAN's choice): D's update has no MI term; the MI term trains G and the Q head
  only, with D's trunk frozen.
"""

from __future__ import annotations

import torch
from accelerate import Accelerator
from torch import nn

from baselines.losses import categorical_code_loss, gaussian_nll
from harness.config import Config
from harness.methods import adversarial
from harness.methods.gan import DataInfo, GANMethod, frozen


class InfoGAN(GANMethod):
    argmax_tag = "q"

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        b = cfg.baselines
        self.code_dim = b.cont_dim
        super().__init__(cfg, info, accelerator, generator)
        self.trunk_mode = b.mi_trains_d_trunk
        self.add_heads()
        self.prepare()

    def add_heads(self) -> None:
        """The Q head on D's trunk features (subclasses add their own networks here, before ``prepare``)."""
        b = self.cfg.baselines
        feat = self.nets["D"].feature_dim
        q = nn.Sequential(
            nn.Linear(feat, b.q_hidden), nn.LeakyReLU(0.2, True), nn.Linear(b.q_hidden, self.classes + 2 * b.cont_dim)
        )
        lr = self.cfg.train.lr_d if self.trunk_mode else self.cfg.train.lr_g
        self.add("Q", q, lr, 0.0)

    def mi_terms(self, q_out: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """``lambda_mi * CE(logits, c) + lambda_cont * NLL(codes)`` and its parts for logging."""
        b, k = self.cfg.baselines, self.classes
        l_cat = categorical_code_loss(q_out[:, :k], c)
        loss, logs = b.lambda_mi * l_cat, {"mi_cat": l_cat.detach()}
        if self.code_dim:
            codes = z[:, self.zn_dim :]
            mu, logvar = q_out[:, k : k + self.code_dim], q_out[:, k + self.code_dim :]
            l_cont = gaussian_nll(mu, logvar.clamp(-10, 10), codes)
            loss = loss + b.lambda_cont * l_cont
            logs["mi_cont"] = l_cont.detach()
        return loss, logs

    def d_extra(self, fake_feats, z, c, logs):
        if not self.trunk_mode:
            return None, "D"
        loss, parts = self.mi_terms(self.nets["Q"](fake_feats.float()).float(), z, c)
        logs.update({f"d_{k}": v for k, v in parts.items()})
        return loss, ("D", "Q")

    def g_frozen(self) -> tuple[nn.Module, ...]:
        """Networks that G's update reads but does not train."""
        return (self.raw("D"), self.raw("Q")) if self.trunk_mode else (self.raw("D"),)

    def g_loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """G's loss on a fresh batch (adversarial + MI terms) and its parts; runs inside :meth:`g_step`."""
        z, c = self.latent(self.cfg.train.g_batch_size)
        return self.g_terms(self.nets["G"](self.g_input(z, c)).float(), z, c)

    def g_terms(
        self, x: torch.Tensor, z: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Adversarial + MI terms of G's loss for fakes ``x`` made from ``(z, c)``."""
        out, feats = self.raw("D")(x, features=True)
        adv = adversarial.g_loss(self.cfg.train.gan_loss, out.float())
        q = self.raw("Q") if self.trunk_mode else self.nets["Q"]
        mi, parts = self.mi_terms(q(feats.float()).float(), z, c)
        return adv + mi, {"g_adv": adv.detach(), **{f"g_{k}": v for k, v in parts.items()}}

    def g_step(self) -> dict[str, torch.Tensor]:
        with frozen(*self.g_frozen()), self.acc.autocast():
            loss, logs = self.g_loss()
        self.step("G" if self.trunk_mode else ("G", "Q"), loss)
        return logs

    @torch.no_grad()
    def q_logits(self, x: torch.Tensor) -> torch.Tensor:
        with self.acc.autocast():
            _, feats = self.raw("D")(x, features=True)
            return self.raw("Q")(feats.float())[:, : self.classes].float()

    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        """Q's class logits: k-means on them gives eval/acc; their argmax gives eval/acc_q."""
        return self.q_logits(x)

    def predict_class(self, x: torch.Tensor) -> torch.Tensor:
        return self.q_logits(x).argmax(1)
