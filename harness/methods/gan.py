"""What every GAN method shares: the latent code, G and D, the D update, sampling and state.

A method subclasses :class:`GANMethod`, adds its own networks with :meth:`add`, calls
:meth:`prepare` once, and implements ``g_step`` (or ``train_step``). Methods receive the Accelerator and never move
tensors to a device by name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from accelerate import Accelerator
from torch import nn

from harness.config import Config, ConfigError, registry
from harness.methods import adversarial, graph_step, step_options
from harness.methods.contract import DataInfo, Method
from harness.nets.init import init_weights

__all__ = ["DataInfo", "GANMethod", "frozen"]


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Parameters of ``modules`` need no gradient inside the block (saves their backward)."""
    if torch.compiler.is_compiling():  # train.compile=step: each update asks for its own gradients only
        yield
        return
    flags = [[p.requires_grad for p in m.parameters()] for m in modules]
    for m in modules:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m, fl in zip(modules, flags, strict=True):
            for p, f in zip(m.parameters(), fl, strict=True):
                p.requires_grad_(f)


class GANMethod(Method):
    """Shared plumbing; ``self.nets``/``self.opts`` hold the prepared (possibly DDP-wrapped) objects.

    The latent vector is ``[z_n, codes, onehot(c)]``: ``z_n ~ N(0, noise_std^2)`` of ``model.zn_dim``,
    ``code_dim`` continuous codes ~ U(-1, 1) (InfoGAN's; none by default), and the class code ``c``.
    """

    code_dim = 0
    noise_std = 1.0

    def __init__(self, cfg: Config, info: DataInfo, accelerator: Accelerator, generator: torch.Generator):
        super().__init__(cfg, info, accelerator, generator)
        self.zn_dim = cfg.model.zn_dim
        self.family = registry.arch(cfg.model.arch)
        self.opts: dict[str, torch.optim.Optimizer] = {}
        if self.generates:
            self.build_gan()

    def build_gan(self) -> None:
        """G and D with their optimizers (every method that generates has them)."""
        cfg, t = self.cfg, self.cfg.train
        g_in = self.zn_dim + self.code_dim + self.classes
        self.add("G", self.family.generator(g_in, self.shape, cfg.model), t.lr_g, t.weight_decay)
        self.add("D", self.family.discriminator(self.shape, cfg.model), t.lr_d, 0.0)

    def add(
        self, name: str, net: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float] | None = None
    ) -> None:
        """Register a network (initialised by ``model.init``; the layout and layer options of ``train`` apply) and
        its Adam (``train.betas`` unless given; ``train.optimizer_impl``)."""
        t = self.cfg.train
        net = init_weights(net, self.cfg.model.init)
        if t.channels_last:  # an encoder's first convolution meets G's channels-last images, and its gradient comes
            # back channels-last: standard strides there would cost 5 % of a Fashion-MNIST step (scripts/bench_ddp.py)
            net = step_options.channels_last(net, standard_ambiguous=name in ("G", "D"))
        if t.gemm_conv_transpose:
            net = step_options.gemm_conv_transpose(net)
        self.nets[name] = net
        betas = betas or tuple(t.betas)
        self.opts[name] = step_options.adam(net.parameters(), lr, betas, weight_decay, t.optimizer_impl)

    def prepare(self) -> None:
        """Hand every network and optimizer to Accelerate in one call, then compile them (``train.compile``)."""
        names = list(self.nets)
        prepared = self.acc.prepare(*[self.nets[n] for n in names], *[self.opts[n] for n in names])
        for net in prepared[: len(names)]:
            # Accelerate wraps each forward in autocast; methods open autocast themselves, and the gradient
            # penalty must be able to close it (fp32), so the wrapper goes.
            self.acc.unwrap_model(net, keep_fp32_wrapper=False)
        t = self.cfg.train
        step_options.set_tf32(t.tf32)
        nets = zip(names, prepared[: len(names)], strict=True)
        self.nets = {n: step_options.compile_net(net, t.compile, self.device) for n, net in nets}
        self.opts = dict(zip(names, prepared[len(names) :], strict=True))
        self._new_graph_step = step_options.uses_cuda_graphs(t.compile, self.device)
        # unwrapped once: Accelerate's unwrap_model and its optimizer wrapper cost host time on every call, and a
        # step calls raw() and the optimizers several times (the wrapper adds nothing without gradient accumulation,
        # which the harness never asks it for; loss scaling goes through the scaler itself, in step())
        self._eager = {n: self.acc.unwrap_model(net, keep_torch_compile=False) for n, net in self.nets.items()}
        self._inner = {n: getattr(o, "optimizer", o) for n, o in self.opts.items()}
        self._graph = t.compile == graph_step.STEP_MODE
        if self._graph:
            if self.acc.scaler is not None:
                raise ConfigError(
                    "train.compile=step cannot use fp16 loss scaling (the scaler is not traceable); "
                    "use train.mixed_precision=bf16 or no"
                )
            # the graph averages gradients over ranks itself (graph_step.update): DDP's hooks would never fire
            self.nets = dict(self._eager)
            for opt in self._inner.values():
                graph_step.prepare_adam(opt)
            self.train_step = graph_step.GraphStep(self, self.train_step, self.device)

    def raw(self, name: str) -> nn.Module:
        """The eager network without its DDP or compile wrapper (for forwards that must not synchronise, and for
        the gradient penalty's double backward)."""
        eager = getattr(self, "_eager", {}).get(name)
        return eager if eager is not None else self.acc.unwrap_model(self.nets[name], keep_torch_compile=False)

    # latent codes ------------------------------------------------------------------------
    def latent(
        self, n: int, class_index: torch.Tensor | int | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = [z_n, codes]`` and class codes ``c`` (uniform, or the given ones), drawn on the device."""
        gen = generator or self.rng
        z = torch.randn(n, self.zn_dim, device=self.device, generator=gen)
        if self.noise_std != 1.0:
            z = z * self.noise_std
        if self.code_dim:
            codes = torch.rand(n, self.code_dim, device=self.device, generator=gen) * 2 - 1
            z = torch.cat([z, codes], dim=1)
        if class_index is None:
            c = torch.randint(0, self.classes, (n,), device=self.device, generator=gen)
        else:
            c = torch.as_tensor(class_index, device=self.device).expand(n).long()
        return z, c

    def g_input(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``[z, onehot(c)]``; the one-hot by comparison, since ``one_hot`` reads the codes' range on the host."""
        onehot = c[:, None] == torch.arange(self.classes, device=c.device)
        return torch.cat([z, onehot.to(z.dtype)], dim=1)

    # updates ---------------------------------------------------------------------------------
    def set_lr_scale(self, scale: float) -> None:
        """Every optimizer's learning rate = its configured rate x ``scale`` (for schedules)."""
        for opt in self.opts.values():
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
                group["lr"] = group["base_lr"] * scale
            if getattr(self, "_graph", False):
                graph_step.sync_lr(opt)

    def step(self, names: str | tuple[str, ...], loss: torch.Tensor) -> None:
        """One backward of ``loss`` and a step of the named optimizer(s).

        With fp16 loss scaling, each optimizer unscales its gradients with the scale the backward used and is
        skipped when they overflowed; the scale itself changes once per iteration, in :meth:`update_scale`
        (Accelerate's optimizer wrapper would update it after every optimizer: the second optimizer of one
        backward would unscale with another scale, and the scale would grow once per optimizer step)."""
        inner = getattr(self, "_inner", None)  # the optimizers unwrapped at prepare() (else Accelerate's wrappers)
        keys = (names,) if isinstance(names, str) else names
        opts = [inner[n] for n in keys] if inner else [self.opts[n] for n in keys]
        if getattr(self, "_graph", False):  # train.compile=step: gradients and Adam as traceable functions
            graph_step.update(opts, loss)
            return
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        scaler = self.acc.scaler
        if inner:
            (loss if scaler is None else scaler.scale(loss)).backward()
        else:
            self.acc.backward(loss)
        for opt in opts:
            if scaler is None:
                opt.step()
            else:
                scaler.step(getattr(opt, "optimizer", opt))
                self._scaled_steps = True
        if getattr(self, "_new_graph_step", False):  # CUDA graphs: the next update may overwrite their outputs
            torch.compiler.cudagraph_mark_step_begin()

    def update_scale(self) -> None:
        """The loss scale's one update per iteration (fp16), from every optimizer's overflow check since the
        last; a no-op without loss scaling. ``train_step`` ends with it (so must a method's own)."""
        if self.acc.scaler is not None and getattr(self, "_scaled_steps", False):
            self.acc.scaler.update()
            self._scaled_steps = False

    def d_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One critic update on a real batch and as many fresh fakes; GP (fp32) for wgan-gp.

        Methods that add a term to D's update (InfoGAN's MI) override :meth:`d_extra`.
        """
        kind = self.cfg.train.gan_loss
        with torch.no_grad(), self.acc.autocast():
            z, c = self.latent(real.shape[0])
            fake = self.raw("G")(self.g_input(z, c)).float()
        with self.acc.autocast():
            out, feats = self.nets["D"](torch.cat([real, fake]), features=True)
        out_real, out_fake = out.float().split([real.shape[0], fake.shape[0]])
        loss = adversarial.d_loss(kind, out_real, out_fake)
        logs = {"d_loss": loss.detach(), "d_real": out_real.mean().detach(), "d_fake": out_fake.mean().detach()}
        if kind == "wgan-gp":
            gp = adversarial.gradient_penalty(self.raw("D"), real, fake, self.rng)
            loss = loss + self.cfg.train.gp_weight * gp
            logs["gp"] = gp.detach()
        extra, names = self.d_extra(feats[real.shape[0] :], z, c, logs)
        self.step(names, loss + extra if extra is not None else loss)
        return logs

    def d_extra(
        self, fake_feats: torch.Tensor, z: torch.Tensor, c: torch.Tensor, logs: dict
    ) -> tuple[torch.Tensor | None, str | tuple[str, ...]]:
        """(a term added to D's loss from D's trunk features of the fakes, the optimizers it steps)."""
        return None, "D"

    # sampling and state ----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, z: torch.Tensor, c: torch.Tensor, generator_net: nn.Module | None = None) -> torch.Tensor:
        """Images in [0, 1] for given codes; G (or the EMA copy passed in) runs in eval mode."""
        net = generator_net or self.raw("G")
        was_training = net.training
        net.eval()
        try:
            with self.acc.autocast():
                return net(self.g_input(z, c)).float()
        finally:
            net.train(was_training)

    def generator_net(self) -> nn.Module | None:
        return self.raw("G") if "G" in self.nets else None

    def networks(self) -> dict[str, nn.Module]:
        return {n: self.raw(n) for n in self.nets}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        inner = getattr(self, "_inner", None)
        return dict(inner) if inner else {n: getattr(o, "optimizer", o) for n, o in self.opts.items()}

    def state_dict(self) -> dict:
        return {
            "nets": {n: self.raw(n).state_dict() for n in self.nets},
            "opts": {n: graph_step.state_dict(o) for n, o in self.opts.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        for n in self.nets:
            self.raw(n).load_state_dict(state["nets"][n])
            self.opts[n].load_state_dict(state["opts"][n])
            if getattr(self, "_graph", False):
                graph_step.prepare_adam(self._inner[n])

    def g_step(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def after_g_step(self, step: int) -> dict[str, torch.Tensor]:
        """Updates that follow each G update (CoDeGAN's encoder step); none by default."""
        return {}

    def train_step(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """One iteration: when ``step % critic == 0`` the G update (and what follows it), then the D update."""
        logs: dict[str, torch.Tensor] = {}
        if step % self.cfg.train.critic == 0:  # merged, not dict.update: torch 2.11's dynamo breaks the graph on it
            logs = {**self.g_step(), **self.after_g_step(step)}
        logs = {**logs, **self.d_step(real)}
        self.update_scale()
        return logs
