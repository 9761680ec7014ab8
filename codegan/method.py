"""CoDeGAN's training step: G (adversarial + beta_c L_c + beta_z L_z), then E, then D.

Order per real batch (docs/reference.md, section 1): when ``step % critic == 0`` update G, then the
encoder(s), then update D every step. ``codegan.encoders=shared`` is one trunk with two heads (the 28x28
models): E_c (L2-normalised class feature) and E_z (z_n regression), trained on ``L_c + (beta_z / beta_c) L_z``
from ``chain_step`` on. ``separate`` is two networks (the 32x32 models): E_c (backbone + MLP projection head)
trained on L_c from ``chain_step`` on, E_z trained on L_z from the start (as the reference code), each on its
own fresh batch. ``codegan.detach_view``, ``crop_mode``, ``crop_per_sample`` and ``color_per_sample`` select
the reference code's second view (docs/method.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn

from codegan import artifacts
from codegan.augment import second_view
from codegan.losses import noise_loss, supcon_loss
from codegan.stage import maml_config, pretrain_config
from harness.config import Config
from harness.config.cards import load_card
from harness.methods import adversarial
from harness.methods.gan import DataInfo, GANMethod, frozen


class TwoHeadEncoder(nn.Module):
    """A shared trunk whose output splits into E_c (normalised, ``fc_dim``) and E_z (``zn_dim``)."""

    def __init__(self, trunk: nn.Module, fc_dim: int):
        super().__init__()
        self.trunk, self.fc_dim = trunk, fc_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.trunk(x).float()
        return F.normalize(out[:, : self.fc_dim], dim=1), out[:, self.fc_dim :]


class ProjectionEncoder(nn.Module):
    """E_c alone: a backbone ending in ``hidden`` units, then ReLU -> Linear(hidden -> fc_dim), L2-normalised."""

    def __init__(self, backbone: nn.Module, hidden: int, fc_dim: int):
        super().__init__()
        self.backbone, self.proj = backbone, nn.Sequential(nn.ReLU(), nn.Linear(hidden, fc_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.backbone(x)).float(), dim=1)


def build_encoders(family, shape: tuple[int, int, int], cfg: Config) -> dict[str, nn.Module]:
    """``{"E": two-head encoder}`` (encoders=shared) or ``{"Ec": ..., "Ez": ...}`` (separate); the first
    entry is E_c, whose L2-normalised features are the class features (and what SimCLR pre-trains)."""
    c, m = cfg.codegan, cfg.model
    if c.encoders == "shared":
        return {"E": TwoHeadEncoder(family.encoder(shape, c.fc_dim + m.zn_dim, m), c.fc_dim)}
    ec = ProjectionEncoder(family.encoder(shape, m.hidden, m), m.hidden, c.fc_dim)
    return {"Ec": ec, "Ez": family.encoder(shape, m.zn_dim, m)}


def chain_step(cfg: Config) -> int:
    """``codegan.chain_step`` as an iteration: an integer as given; ``auto`` = a third of ``train.steps`` when
    E_c is pre-trained (the reference freezes it for 200 of 600 epochs on Fashion-MNIST, 1,500 of 4,500 on
    COIL-20), else 0."""
    value = cfg.codegan.chain_step
    if value != "auto":
        return int(value)
    return cfg.train.steps // 3 if cfg.codegan.pretrain != "none" else 0


def encoder_signature(cfg: Config, shape: tuple[int, int, int]) -> dict:
    """Everything that fixes E_c's architecture: an artifact loads only where this matches."""
    c, m = cfg.codegan, cfg.model
    sig = {"model.arch": m.arch, "model.e_width": m.e_width, "codegan.fc_dim": c.fc_dim, "image_shape": list(shape)}
    sig["codegan.encoders"] = c.encoders
    sig.update({"model.zn_dim": m.zn_dim} if c.encoders == "shared" else {"model.hidden": m.hidden})
    return sig


class CoDeGAN(GANMethod):
    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        super().__init__(cfg, info, accelerator, generator)
        t = cfg.train
        self.shared = cfg.codegan.encoders == "shared"
        for name, net in build_encoders(self.family, self.shape, cfg).items():
            self.add(name, net, t.lr_e, t.weight_decay)
        self.prepare()
        self.labelled: tuple[torch.Tensor, torch.Tensor] | None = None
        self.chain_step = chain_step(cfg)

    @property
    def encoder_names(self) -> tuple[str, ...]:
        return ("E",) if self.shared else ("Ec", "Ez")

    @classmethod
    def stage_config(cls, cfg: Config) -> Config:
        """The config of the run that pre-trains this config's E_c (``stage=pretrain``): MAML's with
        ``codegan.pretrain=maml``, else SimCLR's."""
        return maml_config(cfg) if cfg.codegan.pretrain == "maml" else pretrain_config(cfg)

    @classmethod
    def start_artifact(cls, cfg: Config, run_stage: Callable[[Config], Any]) -> dict[str, Any] | None:
        """``codegan.pretrain``: none, ``simclr`` or ``maml`` (the cached artifact of this config's stage, which
        runs first when nothing is cached) or the path of an ``encoder.pt``."""
        if cfg.codegan.pretrain == "none":
            return None
        card = load_card(cfg.data.dataset)
        size = cfg.data.image_size or card.shape[1]
        signature = encoder_signature(cfg, (card.shape[0], size, size))
        stage = cls.stage_config(cfg) if cfg.codegan.pretrain in ("simclr", "maml") else None
        return artifacts.resolve(cfg, signature, stage, run_stage)

    def load_artifact(self, artifact: dict[str, Any]) -> None:
        """E_c's weights from a pre-training artifact (the whole shared encoder, or E_c alone)."""
        self.raw(self.encoder_names[0]).load_state_dict(artifact["state"])
        if self.acc.is_main_process:
            print(f"E_c initialised from {artifact['path']}")

    def labelled_count(self) -> int:
        return self.cfg.codegan.few_labels

    def set_labelled(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """The few-label set (images in [0, 1] on the device, true classes), joined to every L_c batch."""
        self.labelled = (images, labels)

    def _join_labelled(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.labelled is None:
            return x, c
        return torch.cat([x, self.labelled[0]]), torch.cat([c, self.labelled[1]])

    def _views(self, x: torch.Tensor) -> torch.Tensor:
        """The image and its augmented view, stacked view-major; with ``detach_view`` the augmented view is made
        from a detached copy, so L_c's gradient reaches G through the original view only."""
        c = self.cfg.codegan
        src = x.detach() if c.detach_view else x
        scale = tuple(c.crop_scale)
        det = self.cfg.train.deterministic  # grid_sample's CUDA backward is not deterministic: matrix products
        view = second_view(src, c.augment, scale, self.rng, c.crop_per_sample, c.crop_mode, c.color_per_sample, det)
        return torch.cat([x, view])

    def _lc(self, feats: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        cg = self.cfg.codegan
        return supcon_loss(feats, c.repeat(2), cg.tau, cg.base_tau or cg.tau)

    def _shared_losses(self, enc: nn.Module, x: torch.Tensor, z: torch.Tensor, c: torch.Tensor):
        """L_c over the fakes (and the few-label set), L_z over the fakes."""
        n = x.shape[0]
        x, c = self._join_labelled(x, c)
        feats, z_hat = enc(self._views(x))
        return self._lc(feats, c), noise_loss(z_hat[:n], z)

    def _separate_lc(self, enc_c: nn.Module, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x, c = self._join_labelled(x, c)
        return self._lc(enc_c(self._views(x)), c)

    def _generate(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fresh fakes (no gradient to G) and their codes, for an encoder update."""
        z, c = self.latent(n)
        with torch.no_grad(), self.acc.autocast():
            x = self.raw("G")(self.g_input(z, c)).float()
        return x, z, c

    def g_step(self) -> dict[str, torch.Tensor]:
        cg = self.cfg.codegan
        z, c = self.latent(self.cfg.train.g_batch_size)
        encoders = [self.raw(n) for n in self.encoder_names]
        with frozen(self.raw("D"), *encoders), self.acc.autocast():
            x = self.nets["G"](self.g_input(z, c)).float()
            adv = adversarial.g_loss(self.cfg.train.gan_loss, self.raw("D")(x).float())
            if self.shared:
                l_c, l_z = self._shared_losses(encoders[0], x, z, c)
            else:
                l_c, l_z = self._separate_lc(encoders[0], x, c), noise_loss(encoders[1](x), z)
            loss = adv + cg.beta_c * l_c + cg.beta_z * l_z
        self.step("G", loss)
        return {"g_adv": adv.detach(), "g_lc": l_c.detach(), "g_lz": l_z.detach()}

    def e_step(self, train_ec: bool = True) -> dict[str, torch.Tensor]:
        """Shared: ``L_c + (beta_z / beta_c) L_z`` (``beta_z`` alone if beta_c = 0) on one fresh batch.
        Separate: E_c on L_c (``e_batch_size``; skipped unless ``train_ec``), E_z on L_z (``ez_batch_size``),
        each on its own batch."""
        cg = self.cfg.codegan
        if self.shared:
            x, z, c = self._generate(cg.e_batch_size)
            with self.acc.autocast():
                l_c, l_z = self._shared_losses(self.nets["E"], x, z, c)
            ratio = cg.beta_z / cg.beta_c if cg.beta_c > 0 else cg.beta_z
            self.step("E", l_c + ratio * l_z)
            return {"e_lc": l_c.detach(), "e_lz": l_z.detach()}
        logs = {}
        if train_ec:
            x, z, c = self._generate(cg.e_batch_size)
            with self.acc.autocast():
                l_c = self._separate_lc(self.nets["Ec"], x, c)
            self.step("Ec", l_c)
            logs["e_lc"] = l_c.detach()
        x, z, c = self._generate(cg.ez_batch_size or cg.e_batch_size)
        with self.acc.autocast():
            l_z = noise_loss(self.nets["Ez"](x), z)
        self.step("Ez", l_z)
        return {**logs, "e_lz": l_z.detach()}

    def after_g_step(self, step: int) -> dict[str, torch.Tensor]:
        """The encoder update: E_c from ``chain_step`` on (frozen before: a pre-trained E_c); separate E_z always.
        The shared encoder is one network, so it waits for ``chain_step`` as a whole."""
        if self.shared:
            return self.e_step() if step >= self.chain_step else {}
        return self.e_step(train_ec=step >= self.chain_step)

    def state_dict(self) -> dict:
        """The networks and optimizers, and the chain step in force (``auto`` keeps it on resume)."""
        return {**super().state_dict(), "chain_step": self.chain_step}

    def load_state_dict(self, state: dict) -> None:
        """Resuming keeps the chain step resolved at the run's first launch when ``chain_step`` is auto, so a
        changed ``train.steps`` never freezes an encoder that has already started to learn."""
        super().load_state_dict(state)
        if self.cfg.codegan.chain_step == "auto" and "chain_step" in state:
            self.chain_step = int(state["chain_step"])

    @torch.no_grad()
    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        """E_c's L2-normalised features: what k-means clusters at evaluation."""
        with self.acc.autocast():
            out = self.raw(self.encoder_names[0])(x)
        return (out[0] if self.shared else out).float()
