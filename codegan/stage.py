"""The SimCLR stage a CoDeGAN config pre-trains its E_c with: a config transformation (no torch)."""

from __future__ import annotations

import copy

from harness.config import Config


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
