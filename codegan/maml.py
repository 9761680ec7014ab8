"""CoDeGAN (meta): E_c meta-learned by MAML (Finn et al., 2017) on N-way K-shot episodes of the few labelled
images, the pre-training stage of ``codegan.pretrain=maml`` (docs/method.md, "CoDeGAN (meta)").

Each episode gets a fresh N-way linear head, zero-initialised, on E_c's L2-normalised features; the inner loop
takes SGD steps on the support set (all of E_c and the head), the outer loop updates E_c's initialisation with
Adam on the query loss after adaptation, through ``torch.func`` (second order unless ``maml_first_order``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from torch.func import functional_call, grad

from codegan.method import build_encoders
from codegan.pretrain import EncoderStage
from harness.config import Config, ConfigError
from harness.methods.gan import DataInfo
from harness.parallel import distributed

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Inner:
    """The inner loop: ``steps`` SGD steps of ``lr`` on the support set; ``first_order`` drops the second-order
    terms of the meta-gradient (FOMAML)."""

    steps: int
    lr: float
    first_order: bool = False


class Episode(NamedTuple):
    support: torch.Tensor
    support_y: torch.Tensor
    query: torch.Tensor
    query_y: torch.Tensor


def draw_episode(
    images: torch.Tensor,
    labels: torch.Tensor,
    classes: torch.Tensor,
    sizes: tuple[int, int, int],
    gen: torch.Generator,
) -> Episode:
    """An episode of ``sizes`` = (way, shot, query): ``way`` of ``classes``, ``shot`` support and ``query`` query
    images of each, disjoint, drawn with ``gen`` on its device without a host sync; the episode's classes are
    relabelled 0..way-1 in drawn order."""
    way, shot, query = sizes
    dev = gen.device
    pick = classes[torch.randperm(len(classes), generator=gen, device=dev)[:way].to(classes.device)]
    keys = torch.rand(way, len(labels), generator=gen, device=dev).to(labels.device)
    keys = torch.where(labels[None] == pick[:, None], keys, 2.0)  # other classes sort last
    idx = keys.argsort(dim=1)[:, : shot + query]
    y = torch.arange(way, device=labels.device)
    s, q = idx[:, :shot].reshape(-1), idx[:, shot:].reshape(-1)
    return Episode(images[s], y.repeat_interleave(shot), images[q], y.repeat_interleave(query))


def fast_features(net: nn.Module, params: Params, x: torch.Tensor) -> torch.Tensor:
    """E_c's L2-normalised class features under ``params`` (the shared encoder's first output)."""
    out = functional_call(net, params, (x,))
    return (out[0] if isinstance(out, tuple) else out).float()


def _loss(net: nn.Module, fast: tuple[Params, Params], x: torch.Tensor, y: torch.Tensor):
    params, head = fast
    logits = F.linear(fast_features(net, params, x), head["weight"], head["bias"])
    return F.cross_entropy(logits, y), logits


def adapt(net: nn.Module, params: Params, ep: Episode, way: int, dim: int, inner: Inner) -> tuple[Params, Params]:
    """E_c's parameters and a zero-initialised ``way``-way head after ``inner.steps`` SGD steps on the support set;
    differentiable in ``params`` under an enclosing ``torch.func.grad`` (to first order with ``first_order``)."""
    head = {"weight": ep.support.new_zeros(way, dim), "bias": ep.support.new_zeros(way)}
    fast = (params, head)
    support_grad = grad(lambda f: _loss(net, f, ep.support, ep.support_y)[0])
    for _ in range(inner.steps):
        g = support_grad(fast)
        fast = tuple(
            {k: p - inner.lr * (g[i][k].detach() if inner.first_order else g[i][k]) for k, p in part.items()}
            for i, part in enumerate(fast)
        )
    return fast


def meta_gradient(
    net: nn.Module, params: Params, episodes: list[Episode], way: int, dim: int, inner: Inner
) -> tuple[Params, torch.Tensor, torch.Tensor]:
    """The mean over ``episodes`` of the gradient of the query loss after adaptation with respect to E_c's
    initialisation ``params``; with the mean query loss and accuracy."""
    start = {k: v.detach() for k, v in params.items()}

    def query_loss(p: Params, ep: Episode) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        loss, logits = _loss(net, adapt(net, p, ep, way, dim, inner), ep.query, ep.query_y)
        return loss, (loss.detach(), (logits.argmax(1) == ep.query_y).float().mean())

    total: Params = {k: torch.zeros_like(v) for k, v in start.items()}
    losses, accs = [], []
    for ep in episodes:
        g, (loss, acc) = grad(query_loss, has_aux=True)(start, ep)
        for k in total:
            total[k] += g[k]
        losses.append(loss)
        accs.append(acc)
    n = len(episodes)
    return {k: v / n for k, v in total.items()}, torch.stack(losses).mean(), torch.stack(accs).mean()


def adapted_accuracy(net: nn.Module, episodes: list[Episode], way: int, dim: int, inner: Inner) -> float:
    """Mean query accuracy after adapting ``net``'s current weights to each episode (how well it few-shot learns)."""
    params = {k: v.detach() for k, v in net.named_parameters()}
    with batch_statistics(net):
        accs = []
        for ep in episodes:
            fast = adapt(net, params, ep, way, dim, inner)
            logits = _loss(net, fast, ep.query, ep.query_y)[1]
            accs.append((logits.argmax(1) == ep.query_y).float().mean())
    return float(torch.stack(accs).mean())


@contextlib.contextmanager
def batch_statistics(net: nn.Module) -> Iterator[None]:
    """Batch norm layers normalise by each batch's statistics and leave their running statistics alone inside the
    block (transductive, as MAML's episodes; a functional transform cannot update buffers in place)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    flags = [m.track_running_stats for m in norms]
    mode = net.training
    net.train()
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, flag in zip(norms, flags, strict=True):
            m.track_running_stats = flag
        net.train(mode)


def _average_over_ranks(tensors: list[torch.Tensor]) -> None:
    if distributed.active():
        world = torch.distributed.get_world_size()
        for t in tensors:
            torch.distributed.all_reduce(t)
            t.div_(world)


class MAML(EncoderStage):
    """Meta-learns E_c's initialisation on episodes of the few labelled images; E_c's features are scored by
    k-means, as SimCLR's (the "MAML + k-means" row)."""

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        super().__init__(cfg, info, accelerator, generator)
        c = cfg.codegan
        if c.few_labels == 0:
            raise ConfigError("method maml meta-learns E_c on labelled images: set codegan.few_labels (> 0)")
        encoders = build_encoders(self.family, self.shape, cfg)
        self.enc_name = next(iter(encoders))
        self.add(self.enc_name, encoders[self.enc_name], c.maml_lr, 0.0, betas=(0.9, 0.999))
        self.prepare()
        self.inner = Inner(c.maml_inner_steps, c.maml_inner_lr, c.maml_first_order)
        net = self.raw(self.enc_name)
        self.has_norms = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
        self.labelled: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def labelled_count(self) -> int:
        return self.cfg.codegan.few_labels

    def set_labelled(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """The few labelled images, refused when they cannot fill an episode."""
        c = self.cfg.codegan
        counts = torch.bincount(labels.cpu())
        counts = counts[counts > 0]
        least = int(counts.min()) if len(counts) else 0
        if len(counts) < c.maml_way or least < c.maml_shot + c.maml_query:
            raise ConfigError(
                f"codegan.maml_way={c.maml_way}, maml_shot={c.maml_shot}, maml_query={c.maml_query}: an episode needs"
                f" {c.maml_way} classes of {c.maml_shot + c.maml_query} labelled images; codegan.few_labels="
                f"{c.few_labels} gives {len(counts)} classes, the smallest with {least}"
            )
        classes = torch.bincount(labels.cpu()).nonzero().flatten().to(labels.device)
        self.labelled = (images, labels, classes)

    def episodes(self) -> list[Episode]:
        """``maml_tasks`` episodes of this rank's stream."""
        c = self.cfg.codegan
        assert self.labelled is not None, "the Trainer hands the labelled images over before training"
        sizes = (c.maml_way, c.maml_shot, c.maml_query)
        return [draw_episode(*self.labelled, sizes, self.rng) for _ in range(c.maml_tasks)]

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """One outer step on ``maml_tasks`` episodes per rank (the real batch is not used); the meta-gradient is
        averaged over ranks, so every rank takes the same Adam step."""
        c, net = self.cfg.codegan, self.raw(self.enc_name)
        params = dict(net.named_parameters())
        eps = self.episodes()
        with batch_statistics(net):
            grads, loss, acc = meta_gradient(net, params, eps, c.maml_way, c.fc_dim, self.inner)
        _average_over_ranks(list(grads.values()))
        opt = self._inner[self.enc_name]
        for k, p in params.items():
            p.grad = grads[k]
        opt.step()
        opt.zero_grad(set_to_none=True)
        if self.has_norms:  # running statistics of the updated initialisation, for evaluation and for CoDeGAN
            with torch.no_grad():
                net(torch.cat([torch.cat([e.support, e.query]) for e in eps]))
            _average_over_ranks([b for b in net.buffers() if b.is_floating_point()])
        return {"query_loss": loss, "query_acc": acc}
