"""Self-supervised pre-training of E_c ("CoDeGAN (self)"): SimCLR on real images with the very encoder
architecture the preset's CoDeGAN uses, run by the same Trainer as every method (``stage=pretrain``)."""

from __future__ import annotations

import copy

import torch
from accelerate import Accelerator

from codegan.losses import nt_xent_loss
from codegan.method import build_encoders, encoder_signature
from harness import registry
from harness.augment import random_hflip, random_resized_crop, second_view
from harness.config import Config
from harness.gan import DataInfo, GANMethod
from harness.registry import register_method


def pretrain_config(cfg: Config) -> Config:
    """The pre-training run of ``cfg``'s E_c: method ``simclr`` with the ``pretrain`` section's budget.

    Only what the stage depends on is kept (data, nets, E_c's shape, the pre-training and evaluation
    settings), so every CoDeGAN config with the same encoder shares one stage run and one artifact. The
    stage always starts from PyTorch's default initialisation: ``model.init`` is the GAN's setting, and
    the artifact (keyed by architecture and pre-training settings) serves both.
    """
    p = cfg.pretrain
    out = Config()
    out.data, out.model, out.pretrain = copy.deepcopy(cfg.data), copy.deepcopy(cfg.model), copy.deepcopy(p)
    out.model.init = "default"
    out.eval, out.log = copy.deepcopy(cfg.eval), copy.deepcopy(cfg.log)
    out.codegan.fc_dim, out.codegan.encoders = cfg.codegan.fc_dim, cfg.codegan.encoders
    out.name, out.method, out.stage, out.seed = f"{cfg.name}-simclr", "simclr", "pretrain", p.seed
    out.train.steps, out.train.batch_size, out.train.lr_e = p.steps, p.batch_size, p.lr
    out.train.log_every, out.train.ckpt_every = cfg.train.log_every, cfg.train.ckpt_every
    out.train.mixed_precision = cfg.train.mixed_precision
    out.eval.quality = []
    return out


@register_method("simclr")
class SimCLR(GANMethod):
    """NT-Xent on two augmented views of each real image; E_c's features are scored by k-means."""

    generates = False
    pretrain_stage = staticmethod(lambda cfg: cfg)  # a SimCLR config is its own pre-training stage

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        self.cfg, self.acc, self.rng = cfg, accelerator, generator
        self.classes, self.shape, self.zn_dim = info.classes, info.shape, cfg.model.zn_dim
        self.nets, self.opts = {}, {}
        encoders = build_encoders(registry.arch(cfg.model.arch), self.shape, cfg)
        self.enc_name = next(iter(encoders))
        self.add(self.enc_name, encoders[self.enc_name], cfg.pretrain.lr, cfg.pretrain.weight_decay)
        self.prepare()

    def view(self, x: torch.Tensor) -> torch.Tensor:
        p = self.cfg.pretrain
        if x.shape[1] == 3:  # crop, flip, colour jitter and grey, as SimCLR does on CIFAR
            return second_view(x, "color", tuple(p.crop_scale), self.rng)
        out = random_resized_crop(x, tuple(p.crop_scale), self.rng)
        return random_hflip(out, self.rng) if p.flip else out

    def features(self, x: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
        out = net(x)
        return out[0] if isinstance(out, tuple) else out

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        with self.acc.autocast():
            feats = self.features(torch.cat([self.view(real), self.view(real)]), self.nets[self.enc_name])
            loss = nt_xent_loss(feats.float(), self.cfg.pretrain.tau)
        self.step(self.enc_name, loss)
        self.update_scale()
        return {"nt_xent": loss.detach()}

    @torch.no_grad()
    def class_features(self, x: torch.Tensor) -> torch.Tensor:
        with self.acc.autocast():
            return self.features(x, self.raw(self.enc_name)).float()

    def artifact(self) -> dict:
        """What CoDeGAN loads: E_c's weights and the architecture they fit."""
        state = {k: v.detach().cpu() for k, v in self.raw(self.enc_name).state_dict().items()}
        return {"state": state, "signature": encoder_signature(self.cfg, self.shape)}
