"""Host time of one training iteration: what the Python side costs when the arithmetic costs nothing.

A preset's step is built with tiny networks and batches (widths 4, batches 8), so an iteration is almost all
dispatch: the aten calls it makes (counted by a ``TorchDispatchMode``), its wall time per iteration, and the share of
that time spent inside Accelerate's wrappers (cProfile, by file). On a GPU the same host time bounds the step from
below whatever the device does, so ``1000 / host ms x batch`` is the eager step's ceiling in images/s.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from harness.config import build_config
from scripts.bench_step import PRESETS, build_variant

TINY = ["model.g_width=4", "model.d_width=4", "model.e_width=4", "model.hidden=8", "model.zn_dim=4",
        "codegan.fc_dim=8", "train.batch_size=8", "train.g_batch_size=8", "codegan.e_batch_size=8"]  # fmt: skip


class _CountAten(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        self.calls += 1
        return func(*args, **(kwargs or {}))


def aten_calls(fn: Any) -> int:
    """aten operator calls ``fn`` dispatches (forward, backward and optimizer)."""
    with _CountAten() as mode:
        fn()
    return mode.calls


def wrapper_share(fn: Any, iters: int) -> dict[str, float]:
    """The share of ``iters`` calls' profiled time spent in Accelerate's own code (its frames' own time)."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(iters):
        fn()
    prof.disable()
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (calls, total calls, own time, cumulative, callers)
    total = sum(v[2] for v in stats.values())
    accelerate = sum(v[2] for k, v in stats.items() if "/accelerate/" in k[0])
    return {"accelerate_share": accelerate / total if total else 0.0, "profiled_s": total}


def _host_ms(variants: list[Any], rounds: int, iters: int) -> dict[str, list[float]]:
    """ms per iteration of each variant, in blocks of ``iters``, taking turns (order reversed every round)."""
    out: dict[str, list[float]] = {v.name: [] for v in variants}
    for r in range(rounds):
        for v in variants if r % 2 == 0 else variants[::-1]:
            t = time.perf_counter()
            for _ in range(iters):
                v.iterate()
            out[v.name].append((time.perf_counter() - t) * 1000 / iters)
    return out


def bench_host(preset: str, overrides: list[str], rounds: int = 7, iters: int = 30) -> dict[str, Any]:
    """aten calls, host ms per iteration (median and range over ``rounds`` blocks of ``iters``) and the wrapper
    share of ``preset``'s default step at tiny sizes; beside it, in the same rounds, the same step calling
    Accelerate's wrappers on every use (``unwrap_model`` in ``raw()``, its optimizer wrapper, ``backward``), as
    before the networks and optimizers were unwrapped once at ``prepare()``, and the whole iteration compiled as
    one graph (``train.compile=step``; on a CPU its ms include the compiled kernels' own work at these sizes)."""
    direct = build_variant(preset, "defaults", [*overrides, *TINY])
    wrapped = build_variant(preset, "defaults", [*overrides, *TINY])
    wrapped.name, wrapped.method._eager, wrapped.method._inner = "wrappers", {}, {}
    graph = build_variant(preset, "defaults+step", [*overrides, *TINY])
    t = time.perf_counter()
    for v in (direct, wrapped, graph):
        for _ in range(3):  # the graph compiles in its first two (the step counter then turns symbolic)
            v.iterate()
    compile_s = time.perf_counter() - t
    ms = _host_ms([direct, wrapped, graph], rounds, iters)
    host_ms = statistics.median(ms["defaults"])
    batch = build_config(PRESETS / f"{preset}.yaml", overrides).train.batch_size  # the real preset's batch
    ratios = [w / d for w, d in zip(ms["wrappers"], ms["defaults"], strict=True)]
    graph_ratios = [d / g for d, g in zip(ms["defaults"], ms["defaults+step"], strict=True)]
    wrapped_ratios = [w / g for w, g in zip(ms["wrappers"], ms["defaults+step"], strict=True)]
    return {
        "preset": preset,
        "tiny_overrides": TINY,
        "threads": torch.get_num_threads(),
        "aten_calls_per_iter": aten_calls(direct.iterate),
        "host_ms_per_iter": _spread(ms["defaults"]),
        "with_wrappers_ms_per_iter": _spread(ms["wrappers"]),
        "wrappers_over_direct": _spread(ratios),
        "accelerate_share": wrapper_share(direct.iterate, iters)["accelerate_share"],
        "accelerate_share_with_wrappers": wrapper_share(wrapped.iterate, iters)["accelerate_share"],
        "preset_batch": batch,
        "eager_ceiling_img_per_s": batch * 1000 / host_ms,
        "step_graph_ms_per_iter": _spread(ms["defaults+step"]),
        "defaults_over_step_graph": _spread(graph_ratios),
        "wrappers_over_step_graph": _spread(wrapped_ratios),
        "step_graph_ceiling_img_per_s": batch * 1000 / statistics.median(ms["defaults+step"]),
        "warmup_with_compile_s": compile_s,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
