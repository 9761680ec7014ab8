"""How a training step is executed, without changing what it computes: the Adam implementation, the convolution
memory layout, torch.compile of each network, and TF32 on CUDA.

:class:`harness.gan.GANMethod` applies these to every network and optimizer it is given, so every method gets
them. ``scripts/bench.py`` measures each against the plain eager step, side by side in one run.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from harness.config import ADAM_IMPLS, COMPILE_MODES

CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def adam(
    params: Iterable[nn.Parameter], lr: float, betas: tuple[float, float], weight_decay: float, impl: str
) -> torch.optim.Adam:
    """Adam with PyTorch's implementation choice (``default``: a loop over tensors on CPU, foreach on CUDA), the
    multi-tensor ``foreach`` one, or the single-kernel ``fused`` one; all three compute the same update."""
    if impl not in ADAM_IMPLS:
        raise ValueError(f"unknown Adam implementation '{impl}' ({' | '.join(ADAM_IMPLS)})")
    flags = {"foreach": True} if impl == "foreach" else {"fused": True} if impl == "fused" else {}
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, **flags)


def channels_last(net: nn.Module, standard_ambiguous: bool = True) -> nn.Module:
    """4-D weights in channels-last layout; convolutions then take and give channels-last activations. With
    ``standard_ambiguous``, a weight that is contiguous in both layouts (a size-1 channel dimension: D's first
    convolution of grey images, G's last one) keeps the standard strides: its gradient comes back with them (the
    real images it meets are laid out so), and DDP, which lays its buckets out as the parameters, would otherwise
    copy that gradient on every step ("Grad strides do not match bucket view strides")."""
    net = net.to(memory_format=torch.channels_last)
    for p in net.parameters() if standard_ambiguous else ():
        if p.dim() == 4 and p.is_contiguous() and p.stride() != _standard_strides(p.shape):
            p.data = p.data.clone(memory_format=torch.contiguous_format)
    return net


def _standard_strides(shape: torch.Size) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution computed as one matmul and a fold (col2im) on CPU: the same sum of products as
    oneDNN's kernel, which is several times slower for few output channels (a generator's last layer).
    Parameters and state dict are those of :class:`torch.nn.ConvTranspose2d`; on other devices it is one."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or output_size is not None:
            return super().forward(x, output_size)
        n, cin, h, w = x.shape
        cout, (kh, kw), (sh, sw), (ph, pw) = self.out_channels, self.kernel_size, self.stride, self.padding
        cols = torch.matmul(self.weight.reshape(cin, cout * kh * kw).t(), x.reshape(n, cin, h * w))
        oh, ow = self.output_padding
        size = ((h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow)
        out = F.fold(cols, size, (kh, kw), stride=(sh, sw), padding=(ph, pw))
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


GEMM_MAX_OUT_CHANNELS = 4


def gemm_conv_transpose(net: nn.Module) -> nn.Module:
    """Every plain transposed convolution of ``net`` with at most 4 output channels becomes a
    :class:`GemmConvTranspose2d` (in place; the parameters are kept)."""
    for m in net.modules():
        if type(m) is not nn.ConvTranspose2d or m.out_channels > GEMM_MAX_OUT_CHANNELS:
            continue
        if m.groups == 1 and m.dilation == (1, 1) and m.padding_mode == "zeros":
            m.__class__ = GemmConvTranspose2d
    return net


def compile_mode(mode: str, device: torch.device) -> str:
    """The mode that applies on ``device``: CUDA graphs need CUDA, so on other devices ``reduce-overhead`` compiles
    as ``default`` and ``max-autotune`` as ``max-autotune-no-cudagraphs``."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode '{mode}' ({' | '.join(COMPILE_MODES)})")
    if device.type != "cuda":
        return {"reduce-overhead": "default", "max-autotune": "max-autotune-no-cudagraphs"}.get(mode, mode)
    return mode


def compile_net(net: nn.Module, mode: str, device: torch.device) -> nn.Module:
    """``torch.compile`` of the network's forward (and so its backward); ``none`` returns it as it is.

    The compiled wrapper is only what methods call through ``nets[name]``; ``GANMethod.raw`` gives the eager
    network, which the gradient penalty needs (a compiled graph has no double backward).
    """
    mode = compile_mode(mode, device)
    if mode in ("none", "step"):  # step: the whole iteration is compiled instead (harness/graph_step.py)
        return net
    return torch.compile(net, mode=None if mode == "default" else mode)


def uses_cuda_graphs(mode: str, device: torch.device) -> bool:
    return compile_mode(mode, device) in CUDA_GRAPH_MODES


def set_tf32(enabled: bool) -> None:
    """TF32 for CUDA matmuls and cuDNN convolutions on Ampere and later (on), or strict fp32 (off).

    Process-wide; a no-op without CUDA (CPUs have no TF32).
    """
    if not torch.cuda.is_available():
        return
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
