"""``train.deterministic``: the switches that make a CUDA run bit-identical from launch to launch and across a
resume (CPU runs are without them), and the ops that would defeat them.

What it sets is process-wide: deterministic algorithms only (an op with none raises instead of running),
cuDNN without autotuning, and cuBLAS's fixed workspace (``CUBLAS_WORKSPACE_CONFIG``, which must be set before
the process's first cuBLAS call: a fresh process, as every launch is). L_c's continuous crop, whose
``grid_sample`` backward has no deterministic CUDA kernel, becomes two matrix products
(:func:`harness.augment.random_resized_crop` with ``matmul=True``).
"""

from __future__ import annotations

import os

import torch

CUBLAS_WORKSPACE = ":4096:8"

# aten ops that raise under torch.use_deterministic_algorithms(True) on CUDA (their CUDA kernels accumulate
# with atomics and have no deterministic form), from torch.use_deterministic_algorithms' documentation.
CUDA_NONDETERMINISTIC = frozenset(
    {
        "aten.grid_sampler_2d_backward",
        "aten.grid_sampler_3d_backward",
        "aten.avg_pool3d_backward",
        "aten._adaptive_avg_pool2d_backward",
        "aten._adaptive_avg_pool3d_backward",
        "aten.adaptive_max_pool2d_backward",
        "aten.adaptive_max_pool3d_backward",
        "aten.fractional_max_pool2d_backward",
        "aten.fractional_max_pool3d_backward",
        "aten.max_unpool2d",
        "aten.max_unpool3d",
        "aten.upsample_linear1d_backward",
        "aten.upsample_bilinear2d_backward",
        "aten._upsample_bilinear2d_aa_backward",
        "aten.upsample_bicubic2d_backward",
        "aten._upsample_bicubic2d_aa_backward",
        "aten.upsample_trilinear3d_backward",
        "aten.reflection_pad1d_backward",
        "aten.reflection_pad2d_backward",
        "aten.reflection_pad3d_backward",
        "aten.nll_loss2d_forward",
        "aten.nll_loss2d_backward",
        "aten._ctc_loss_backward",
        "aten.put_",
        "aten.histc",
        "aten.bincount",
        "aten.median",
    }
)


def configure(enabled: bool) -> None:
    """Turn the deterministic mode on or off for this process (a sequence of runs in one process sets it
    for each); off, cuDNN benchmarks its algorithms (no effect on a CPU)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    # the harness's shapes are fixed for a whole run, so cuDNN's autotuner pays for itself after a few steps;
    # it picks among algorithms by timing, which deterministic mode cannot allow
    torch.backends.cudnn.benchmark = not enabled
