"""The whole training iteration as one compiled graph (``train.compile=step``).

An eager step does three things ``torch.compile`` cannot put in one graph: ``loss.backward()`` into ``.grad``,
``Optimizer.step`` (which breaks the graph on purpose), and draws from an explicit ``torch.Generator``. In this
mode a method's ``train_step`` runs unchanged, but each update takes its gradients from ``torch.autograd.grad``
(traced), Adam is PyTorch's functional ``adam`` on the optimizer's own state (the state a checkpoint holds, so a
run resumes in either mode), and the draws come from the default generator of the device, loaded with the
method's generator state before the call and copied back after it. On CUDA the graph is compiled with
``reduce-overhead``, which captures it as a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.optim.adam import adam as functional_adam

from harness.core.errors import ConfigError

STEP_MODE = "step"
MIN_TORCH = (2, 11)  # the oldest torch the whole-step graph is tested on (tests/torch_matrix)
RECOMPILE_LIMIT = 6
BACKEND: Any = "inductor"  # the compiler; tests hand in one that inspects the graph


def prepare_adam(opt: torch.optim.Optimizer) -> None:
    """Every parameter's Adam state as the capturable form keeps it (created if missing: the first update then
    equals eager Adam's first), and each group's learning rate as a tensor of its own on the parameters' device, so
    that a schedule changes a value in place rather than a constant of the graph. Each of these tensors is updated
    in place by the graph, so each is marked a static address: inductor then captures the step as a CUDA graph
    (it refuses one whose inputs are mutated at addresses it may not keep). Call again after ``load_state_dict``:
    a checkpoint's tensors arrive on the CPU, and its learning-rate tensors are never saved (:func:`state_dict`)."""
    for group in opt.param_groups:
        device = group["params"][0].device
        for p in group["params"]:
            state = opt.state[p]
            if not state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            else:
                state["step"] = torch.as_tensor(state["step"], dtype=torch.float32).to(p.device)
            for key in ("step", "exp_avg", "exp_avg_sq"):
                torch._dynamo.mark_static_address(state[key])
        lr = group.get("lr_tensor")
        if not isinstance(lr, torch.Tensor) or lr.device != device:
            lr = torch.zeros((), dtype=torch.float32, device=device)
            group["lr_tensor"] = lr
        lr.fill_(float(group["lr"]))
        torch._dynamo.mark_static_address(lr)


def state_dict(opt: torch.optim.Optimizer) -> dict:
    """The optimizer's state for a checkpoint, without the graph's learning-rate tensors (a value of ``lr``, rebuilt
    on the parameters' device by :func:`prepare_adam`; saved, it would come back as a CPU tensor)."""
    out = opt.state_dict()
    out["param_groups"] = [{k: v for k, v in g.items() if k != "lr_tensor"} for g in out["param_groups"]]
    return out


def sync_lr(opt: torch.optim.Optimizer) -> None:
    """Copy each group's ``lr`` (set by a schedule) into its tensor."""
    for group in opt.param_groups:
        group["lr_tensor"].fill_(float(group["lr"]))


def update(opts: Sequence[torch.optim.Optimizer], loss: torch.Tensor) -> None:
    """One Adam update of every parameter of ``opts`` from the gradients of ``loss`` (parameters ``loss`` does
    not reach are left alone, as eager Adam leaves a parameter without a gradient)."""
    params = [p for opt in opts for group in opt.param_groups for p in group["params"]]
    grads = _mean_over_ranks(list(torch.autograd.grad(loss, params, allow_unused=True)))
    found = dict(zip(params, grads, strict=True))
    with torch.no_grad():
        for opt in opts:
            for group in opt.param_groups:
                _adam_group(opt, group, found)


def _mean_over_ranks(grads: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """The gradients averaged over the process group (DDP's job in an eager step; its hooks never fire without
    ``backward``): one traceable all-reduce of them all, flattened."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return grads
    from torch.distributed import _functional_collectives as funcol

    live = [g for g in grads if g is not None]
    if not live:
        return grads
    flat = funcol.all_reduce(torch.cat([g.reshape(-1) for g in live]), "sum", dist.group.WORLD)
    parts = iter((flat / dist.get_world_size()).split([g.numel() for g in live]))
    return [None if g is None else next(parts).view_as(g) for g in grads]


def _adam_group(opt: torch.optim.Optimizer, group: dict, found: dict) -> None:
    live = [p for p in group["params"] if found[p] is not None]
    if not live:
        return
    states = [opt.state[p] for p in live]
    beta1, beta2 = group["betas"]
    # in the graph the capturable form (tensor steps and learning rate); called eagerly (an update timed alone),
    # the CPU form, which PyTorch allows only with a plain learning rate
    capturable = torch.compiler.is_compiling() or live[0].device.type != "cpu"
    functional_adam(
        live,
        [found[p] for p in live],
        [s["exp_avg"] for s in states],
        [s["exp_avg_sq"] for s in states],
        [],
        [s["step"] for s in states],
        foreach=True,
        capturable=capturable,
        differentiable=False,
        fused=None,
        grad_scale=None,
        found_inf=None,
        has_complex=False,
        amsgrad=False,
        beta1=beta1,
        beta2=beta2,
        lr=group["lr_tensor"] if capturable else float(group["lr"]),
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
    )


def _default_generator(device: torch.device) -> torch.Generator:
    if device.type == "cuda":
        return torch.cuda.default_generators[device.index or 0]
    return torch.default_generator


class GraphStep:
    """``train_step`` compiled whole (``fullgraph``: a graph break is an error, never a silent second graph); called
    like it. ``method.rng`` is None while the graph runs (every draw then falls to the default generator, which holds
    the method's generator state for the call).

    Compilations: the first step's graph, then one with the step counter symbolic, and one more for each branch a
    schedule takes later (a G update every ``train.critic`` steps, CoDeGAN's ``chain_step``, InfoGAN-CR's start):
    at most :data:`RECOMPILE_LIMIT`, past which the run stops with one line instead of falling back to eager."""

    def __init__(self, method: object, train_step: Callable, device: torch.device):
        check_torch()
        self.method, self.device = method, device
        # one compiled step per process: frames an earlier method (another config) left would make this one's
        # sizes symbolic on recompiling, which the generator-free draws cannot take
        torch._dynamo.reset()
        kwargs: dict[str, Any] = {"fullgraph": True, "backend": BACKEND}
        if BACKEND == "inductor":
            # fallback_random: the graph draws with aten's own random ops, the numbers an eager step would draw from
            # the same generator state, so the compiled step trains on the same codes, crops and interpolates
            kwargs["options"] = {"fallback_random": True, "triton.cudagraphs": device.type == "cuda"}
        compiled = torch.compile(train_step, **kwargs)
        # autograd.grad traced into the graph (the gradient penalty's double backward included); without it
        # AOTAutograd refuses the double backward
        patch = torch._dynamo.config.patch(
            trace_autograd_ops=True, recompile_limit=RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True
        )
        self.compiled = patch(compiled)

    def __call__(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        gen = self.method.rng
        default = _default_generator(self.device)
        saved = default.get_state()
        default.set_state(gen.get_state())
        self.method.rng = None
        try:
            if self.device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            try:
                logs = self.compiled(real, step)
            except (torch._dynamo.exc.Unsupported, torch._dynamo.exc.FailOnRecompileLimitHit) as exc:
                reason = " ".join(str(exc).strip().splitlines()[0].split())[:200]
                raise ConfigError(
                    f"train.compile=step: torch {torch.__version__} cannot run this step as one graph at step"
                    f" {step} ({reason}); train.compile=none runs it eagerly"
                ) from None
            if self.device.type == "cuda":  # outputs of a CUDA graph are overwritten by its next replay
                logs = {k: v.clone() for k, v in logs.items()}
            return logs
        finally:
            self.method.rng = gen
            gen.set_state(default.get_state())
            default.set_state(saved)


def check_torch() -> None:
    """``train.compile=step`` needs the torch versions it is tested on (:data:`MIN_TORCH` and later)."""
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2] if p.isdigit())
    if version < MIN_TORCH:
        raise ConfigError(
            f"train.compile=step needs torch >= {'.'.join(map(str, MIN_TORCH))} (this is torch {torch.__version__}):"
            " its dynamo cannot trace the whole step as one graph; use train.compile=none or default"
        )
