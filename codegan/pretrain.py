"""Self-supervised pre-training of E_c ("CoDeGAN (self)"): SimCLR on real images with the very encoder
architecture the preset's CoDeGAN uses, run by the same Trainer as every method (``stage=pretrain``)."""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator

from codegan import artifacts
from codegan.augment import random_hflip, random_resized_crop, second_view
from codegan.losses import nt_xent_loss
from codegan.method import build_encoders, encoder_signature
from codegan.stage import pretrain_config  # noqa: F401 - where stage configs were found before
from harness.config import Config
from harness.methods.gan import DataInfo, GANMethod


class EncoderStage(GANMethod):
    """A pre-training stage of E_c (SimCLR's, MAML's): no generator; E_c's features are scored by k-means, and its
    weights are the artifact CoDeGAN loads."""

    generates = False
    enc_name = ""

    @classmethod
    def stage_config(cls, cfg: Config) -> Config:
        return cfg  # a stage's config is its own pre-training stage

    def features(self, x: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
        out = net(x)
        return out[0] if isinstance(out, tuple) else out

    @torch.no_grad()
    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        with self.acc.autocast():
            return self.features(x, self.raw(self.enc_name)).float()

    def artifact(self) -> dict:
        """What CoDeGAN loads: E_c's weights and the architecture they fit."""
        state = {k: v.detach().cpu() for k, v in self.raw(self.enc_name).state_dict().items()}
        return {"state": state, "signature": encoder_signature(self.cfg, self.shape)}

    def save_artifact(self, run_dir: Path, result: dict[str, float]) -> Path:
        """``encoder.pt`` in the run folder and its copy in the cache, where ``codegan.pretrain`` finds it."""
        return artifacts.save_artifact(run_dir, self.artifact(), self.cfg, result)


class SimCLR(EncoderStage):
    """NT-Xent on two augmented views of each real image; E_c's features are scored by k-means."""

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        super().__init__(cfg, info, accelerator, generator)  # no G or D: it does not generate
        encoders = build_encoders(self.family, self.shape, cfg)
        self.enc_name = next(iter(encoders))
        self.add(self.enc_name, encoders[self.enc_name], cfg.pretrain.lr, cfg.pretrain.weight_decay)
        self.prepare()

    def view(self, x: torch.Tensor) -> torch.Tensor:
        p = self.cfg.pretrain
        if x.shape[1] == 3:  # crop, flip, colour jitter and grey, as SimCLR does on CIFAR
            return second_view(x, "color", tuple(p.crop_scale), self.rng)
        out = random_resized_crop(x, tuple(p.crop_scale), self.rng)
        return random_hflip(out, self.rng) if p.flip else out

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        with self.acc.autocast():
            feats = self.features(torch.cat([self.view(real), self.view(real)]), self.nets[self.enc_name])
            loss = nt_xent_loss(feats.float(), self.cfg.pretrain.tau)
        self.step(self.enc_name, loss)
        self.update_scale()
        return {"nt_xent": loss.detach()}
