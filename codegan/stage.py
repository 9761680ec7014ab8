"""The stage a CoDeGAN config pre-trains its E_c with (SimCLR, or MAML for ``codegan.pretrain=maml``): a config
transformation (no torch)."""

from __future__ import annotations

import copy

from codegan.config import MAML_KEYS
from harness.config import Config


def _encoder_stage(cfg: Config, method: str, seed: int) -> Config:
    """What every pre-training stage of ``cfg``'s E_c keeps: data, nets, E_c's shape, evaluation and logging."""
    out = Config()
    out.data, out.model = copy.deepcopy(cfg.data), copy.deepcopy(cfg.model)
    out.model.init = "default"
    out.eval, out.log = copy.deepcopy(cfg.eval), copy.deepcopy(cfg.log)
    out.codegan.fc_dim, out.codegan.encoders = cfg.codegan.fc_dim, cfg.codegan.encoders
    out.name, out.method, out.stage, out.seed = f"{cfg.name}-{method}", method, "pretrain", seed
    out.train.log_every, out.train.ckpt_every = cfg.train.log_every, cfg.train.ckpt_every
    out.train.mixed_precision = cfg.train.mixed_precision
    out.eval.quality = []
    return out


def pretrain_config(cfg: Config) -> Config:
    """The pre-training run of ``cfg``'s E_c: method ``simclr`` with the ``pretrain`` section's budget.

    Only what the stage depends on is kept (data, nets, E_c's shape, the pre-training and evaluation
    settings), so every CoDeGAN config with the same encoder shares one stage run and one artifact. The
    stage always starts from PyTorch's default initialisation: ``model.init`` is the GAN's setting, and
    the artifact (keyed by architecture and pre-training settings) serves both.
    """
    p = cfg.pretrain
    out = _encoder_stage(cfg, "simclr", p.seed)
    out.pretrain = copy.deepcopy(p)
    out.train.steps, out.train.batch_size, out.train.lr_e = p.steps, p.batch_size, p.lr
    return out


def maml_config(cfg: Config) -> Config:
    """The meta-learning run of ``cfg``'s E_c (``codegan.pretrain=maml``): method ``maml`` with the
    ``codegan.maml_*`` settings, on the ``codegan.few_labels`` images that ``cfg``'s own seed draws.

    It keeps ``cfg``'s seed, so it meta-learns on exactly the labelled images the CoDeGAN run then joins to its
    L_c batch (one stage per seed: a shared stage would show a seed other labels than its own). The stream's
    batch is one episode's worth of images; MAML itself reads only the labelled set.
    """
    c = cfg.codegan
    out = _encoder_stage(cfg, "maml", cfg.seed)
    for key in MAML_KEYS:
        name = key.split(".", 1)[1]
        setattr(out.codegan, name, getattr(c, name))
    out.codegan.few_labels, out.codegan.pretrain = c.few_labels, "none"
    out.train.steps, out.train.lr_e = c.maml_steps, c.maml_lr
    out.train.batch_size = c.maml_way * (c.maml_shot + c.maml_query)
    out.train.trace = cfg.train.trace  # every rank's weight digest: the ranks step together
    return out
