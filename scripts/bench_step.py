"""Side-by-side timing of one training iteration under each step option, in one process.

Every variant is its own method instance built from the same preset and seed. Rounds interleave the variants and
reverse their order every round; a round times a block of iterations of each variant (wall clock and process CPU
time), then a block of each update (G, E, D) alone. A variant's figure is the median over rounds with the min and
max; its ratio to eager is taken round by round (eager's block time / the variant's from the same round), so a
load that changes between rounds moves both sides of each ratio.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from harness.config import TrainConfig, build_config, registry
from harness.config.cards import load_card
from harness.methods import step_options
from harness.methods.gan import DataInfo, GANMethod
from harness.parallel import determinism
from harness.parallel.accelerator import make_accelerator
from harness.runs.identity import launch_settings

PRESETS = Path(__file__).resolve().parents[1] / "codegan" / "configs"
# Every option off: the plain eager step every variant is compared with.
EAGER = [
    "train.optimizer_impl=default",
    "train.channels_last=false",
    "train.gemm_conv_transpose=false",
    "train.compile=none",
    "train.tf32=false",
    "train.deterministic=false",
]
OPTIONS = {
    "foreach": ["train.optimizer_impl=foreach"],
    "fused": ["train.optimizer_impl=fused"],
    "channels_last": ["train.channels_last=true"],
    "gemm_convt": ["train.gemm_conv_transpose=true"],
    "compile": ["train.compile=default"],
    "reduce-overhead": ["train.compile=reduce-overhead"],
    "max-autotune": ["train.compile=max-autotune"],
    "step": ["train.compile=step"],
    "tf32": ["train.tf32=true"],
    "deterministic": ["train.deterministic=true"],
    "bf16": ["train.mixed_precision=bf16"],
}
OPTION_KEYS = ("optimizer_impl", "channels_last", "gemm_conv_transpose", "compile", "tf32", "deterministic")
CPU_VARIANTS = ["eager", "foreach", "fused", "channels_last", "gemm_convt", "compile", "defaults", "bf16",
                "defaults+bf16", "defaults+step"]  # fmt: skip
CUDA_VARIANTS = ["eager", "fused", "channels_last", "tf32", "compile", "reduce-overhead", "defaults", "defaults+bf16",
                 "defaults+step", "defaults+bf16+step"]  # fmt: skip


def variant_overrides(name: str) -> list[str]:
    """``eager``; an option (``fused``), or several joined by ``+`` (``fused+channels_last``), on top of eager;
    ``defaults``: the options as the config's defaults set them, and ``defaults+<option>`` those and one more
    (``defaults+bf16``: the default step in bf16)."""
    if name == "eager":
        return list(EAGER)
    if name == "defaults":
        return []
    if name.startswith("defaults+"):
        extra = name.split("+")[1:]
        if any(p not in OPTIONS for p in extra):
            raise ValueError(f"unknown variant '{name}' (defaults+<option>: {' | '.join(OPTIONS)})")
        return [o for p in extra for o in OPTIONS[p]]
    parts = name.split("+")
    unknown = [p for p in parts if p not in OPTIONS]
    if unknown:
        raise ValueError(f"unknown variant '{unknown[0]}' (eager | defaults | {' | '.join(OPTIONS)}, joined by +)")
    return [*EAGER, *[o for p in parts for o in OPTIONS[p]]]


def option_defaults() -> dict[str, Any]:
    """What the config turns on when nobody sets an option."""
    t = TrainConfig()
    return {k: getattr(t, k) for k in OPTION_KEYS}


class _NoModuleTracking:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks break ``torch.autograd.grad`` (the
    gradient penalty); totals need no per-module attribution."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _NoModuleTracking:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of the matmuls and convolutions (forward and backward) that ``fn`` runs, counted by PyTorch."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracking()
    with counter:
        fn()
    return counter.get_total_flops()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


FAIL_ENV = "CODEGAN_BENCH_FAIL"  # variants (comma-separated) that raise at their first iteration: tests the guard


class InjectedFailure(RuntimeError):
    """The failure ``CODEGAN_BENCH_FAIL`` asks for, as a compilation error of that variant would fail."""


@dataclass
class Variant:
    name: str
    method: GANMethod
    real: torch.Tensor
    fail: bool = False
    step: int = 0
    first_s: float = 0.0  # the first iteration (compilation included)
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    parts_ms: dict[str, list[float]] = field(default_factory=dict)
    parts_cpu_ms: dict[str, list[float]] = field(default_factory=dict)

    def iterate(self) -> None:
        if self.fail:
            raise InjectedFailure(f"variant {self.name} failed on purpose ({FAIL_ENV})")
        self.method.train_step(self.real, self.step)
        self.step += 1

    def activate(self) -> None:
        """The process-wide switches of this variant (``train.deterministic``, ``train.tf32``), set before each of
        its blocks: built last, one variant's would otherwise hold for all."""
        determinism.configure(self.method.cfg.train.deterministic)
        step_options.set_tf32(self.method.cfg.train.tf32)

    @property
    def precision(self) -> str:
        """The variant's own precision, from its config (Accelerate's state is one per process: it reports the
        precision of the Accelerator made last, for every variant)."""
        return launch_settings(self.method.cfg)[1]

    def parts(self) -> dict[str, Callable[[], object]]:
        m = self.method
        out: dict[str, Callable[[], object]] = {"g": m.g_step}
        if hasattr(m, "e_step"):
            out["e"] = m.e_step
        out["d"] = lambda: m.d_step(self.real)
        return out


def build_variant(preset: str, name: str, overrides: list[str], seed: int = 0) -> Variant:
    cfg = build_config(PRESETS / f"{preset}.yaml", ["log.wandb=disabled", *overrides, *variant_overrides(name)])
    card = load_card(cfg.data.dataset)
    size = cfg.data.image_size or card.shape[1]
    acc = make_accelerator(cfg)
    torch.manual_seed(seed)
    rng = torch.Generator(device=acc.device).manual_seed(seed)
    method = registry.method(cfg.method)(cfg, DataInfo(card.classes, (card.shape[0], size, size)), acc, rng)
    real = torch.rand(cfg.train.batch_size, card.shape[0], size, size, generator=torch.Generator().manual_seed(seed))
    fail = name in os.environ.get(FAIL_ENV, "").split(",")
    return Variant(name, method, real.to(acc.device), fail)


def _failure(stage: str, exc: BaseException) -> str:
    return f"{stage}: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}"


MATMUL_DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 0, repeats: int = 5) -> float:
    """GFLOP/s of a square matmul in ``dtype`` at this thread count: the yardstick for a step's achieved GFLOP/s
    (the machine's practical rate now, not a data-sheet peak). Median of ``repeats`` after one warm-up."""
    n = n or (8192 if device.type == "cuda" else 1024)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    times = [_block(lambda: a @ b, 1, device)[0] for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times) / 1e6


def _block(fn: Callable[[], object], n: int, device: torch.device) -> tuple[float, float]:
    """(wall ms, process CPU ms) per call over ``n`` calls, synchronised at both ends only."""
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    sync(device)
    return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def profile_top(variant: Variant, iters: int = 2, rows: int = 15) -> list[dict[str, Any]]:
    """The ops that took the most time (self time, per iteration) over ``iters`` iterations, by torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    variant.activate()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if variant.real.is_cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(iters):
            variant.iterate()
        sync(variant.real.device)
    device_attr = "self_device_time_total" if variant.real.is_cuda else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, device_attr), reverse=True)[:rows]
    return [
        {"op": e.key, "self_ms_per_iter": getattr(e, device_attr) / 1000 / iters, "calls_per_iter": e.count / iters}
        for e in events
    ]


def bench_variants(
    preset: str,
    names: list[str],
    overrides: list[str],
    rounds: int,
    iters: int | None,
    warmup: int,
    block_s: float,
    parts: bool,
    profile: bool,
    log: Callable[[str], None] = print,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every variant of ``preset``'s step measured side by side; see the module docstring. A variant that fails
    (to build, to compile at its first iteration, in a later round) is recorded in ``failed_variants`` with its
    error and left out; the others are measured. Without eager there is nothing to compare with: that raises.
    ``progress`` receives the result so far (``"partial": true``) after each variant's first iterations (its compile
    time) and after every round, so a benchmark stopped at a time limit still reports what it measured."""
    if "eager" not in names:
        names = ["eager", *names]
    load_before = os.getloadavg()
    variants, failed = [], {}
    for n in names:
        try:
            variants.append(build_variant(preset, n, overrides))
        except Exception as exc:  # noqa: BLE001 - one variant's failure must not lose the others
            failed[n] = _failure("build", exc)
            log(f"  {preset} {n}: failed to build ({failed[n]})")
    device = variants[0].real.device if variants else torch.device("cpu")
    for v in list(variants):
        try:
            v.activate()
            t = time.perf_counter()
            v.iterate()
            sync(device)
            v.first_s = time.perf_counter() - t
            for _ in range(warmup):
                v.iterate()
                if parts:
                    for fn in v.parts().values():
                        fn()
            sync(device)
        except Exception as exc:  # noqa: BLE001
            failed[v.name] = _failure("first iterations", exc)
            variants.remove(v)
            log(f"  {preset} {v.name}: failed ({failed[v.name]})")
        if progress:
            first = {x.name: x.first_s for x in variants if hasattr(x, "first_s")}
            progress({"preset": preset, "partial": True, "rounds_done": 0, "first_iteration_s": first,
                      "failed_variants": dict(failed)})  # fmt: skip
    if not variants or variants[0].name != "eager":
        raise RuntimeError(f"{preset}: eager failed, nothing to compare with ({failed.get('eager')})")
    eager = variants[0]
    eager.activate()
    if iters is None:  # enough iterations for a block of about block_s on eager
        probe, _ = _block(eager.iterate, 1, device)
        iters = max(1, round(block_s * 1000 / max(probe, 1e-3)))
    flops = {"step": count_flops(eager.iterate)}
    if parts:
        flops.update({k: count_flops(fn) for k, fn in eager.parts().items()})
    log(f"{preset}: {len(variants)} variants x {rounds} rounds x {iters} iterations ({', '.join(names)})")
    # the matmul yardstick in each variant's precision, measured in every round beside it
    rates: dict[str, list[float]] = {v.precision: [] for v in variants}
    for r in range(rounds):
        for p, got in rates.items():
            got.append(matmul_rate(device, MATMUL_DTYPES.get(p, torch.float32)))
        order = list(variants) if r % 2 == 0 else variants[::-1]
        for v in order:
            try:
                v.activate()
                wall, cpu = _block(v.iterate, iters, device)
                v.ms.append(wall)
                v.cpu_ms.append(cpu)
                if parts:
                    for k, fn in v.parts().items():
                        wall, cpu = _block(fn, iters, device)
                        v.parts_ms.setdefault(k, []).append(wall)
                        v.parts_cpu_ms.setdefault(k, []).append(cpu)
            except Exception as exc:  # noqa: BLE001
                if v is eager:
                    raise
                failed[v.name] = _failure(f"round {r + 1}", exc)
                variants.remove(v)
                log(f"  {preset} {v.name}: failed ({failed[v.name]})")
        log(f"  round {r + 1}/{rounds}: " + "  ".join(f"{v.name} {v.ms[-1]:.1f}" for v in variants) + " ms/iter")
        if progress and r + 1 < rounds:
            partial = _summary(preset, eager, variants, failed, flops, rates, rounds, iters, overrides, load_before)
            progress({**partial, "partial": True, "rounds_done": r + 1})
    out = _summary(preset, eager, variants, failed, flops, rates, rounds, iters, overrides, load_before)
    pair = out["variants"].get("defaults"), out["variants"].get("defaults+bf16")
    if all(pair):  # the default step in bf16 against itself in fp32, round by round
        out["bf16_vs_fp32_defaults"] = _spread(
            [a / b for a, b in zip(pair[0]["rounds_ms"], pair[1]["rounds_ms"], strict=True)]
        )
    if profile:
        out["profile_eager"] = profile_top(eager)
        for v in variants:
            if v.name in ("defaults", "defaults+bf16"):
                out[f"profile_{v.name}"] = profile_top(v)
    determinism.configure(False)
    return out


def _summary(
    preset: str,
    eager: Any,
    variants: list[Any],
    failed: dict[str, str],
    flops: dict[str, float],
    rates: dict[str, list[float]],
    rounds: int,
    iters: int,
    overrides: list[str],
    load_before: tuple[float, ...],
) -> dict[str, Any]:
    """The result of the rounds measured so far."""
    cfg, device = eager.method.cfg, eager.real.device
    batch = cfg.train.batch_size * eager.method.acc.num_processes
    result_variants = {}
    for v in variants:
        ms = _spread(v.ms)
        ratios = [e / x for e, x in zip(eager.ms, v.ms, strict=True)]
        cpu_ratios = [e / x for e, x in zip(eager.cpu_ms, v.cpu_ms, strict=True)]
        vc = v.method.cfg.train
        result_variants[v.name] = {
            "options": {k: getattr(vc, k) for k in OPTION_KEYS},
            "ms_per_iter": ms,
            "cpu_ms_per_iter": _spread(v.cpu_ms) if device.type == "cpu" else None,
            "speedup_vs_eager": _spread(ratios),
            "cpu_time_speedup_vs_eager": _spread(cpu_ratios) if device.type == "cpu" else None,
            "real_img_per_s": batch * 1000 / ms["median"],
            "gflop_per_s": flops["step"] / 1e6 / ms["median"],
            "mixed_precision": v.precision,
            "fraction_of_matmul_rate": _spread(
                [flops["step"] / 1e6 / x / m for x, m in zip(v.ms, rates[v.precision], strict=False)]
            ),
            "parts_ms": {k: _spread(x) for k, x in v.parts_ms.items()},
            "parts_cpu_ms": {k: _spread(x) for k, x in v.parts_cpu_ms.items()} if device.type == "cpu" else None,
            "first_iteration_s": v.first_s,
            "rounds_ms": v.ms,
        }
    out = {
        "preset": preset,
        "image_shape": list(eager.real.shape[1:]),
        "batch": {"d": cfg.train.batch_size, "g": cfg.train.g_batch_size, "e": cfg.codegan.e_batch_size},
        "mixed_precision": eager.precision,
        "overrides": overrides,
        "rounds": rounds,
        "iters_per_round": iters,
        "gflop_per_iter": {k: f / 1e9 for k, f in flops.items()},
        "matmul_gflop_per_s": _spread(rates[eager.precision]),
        "matmul_gflop_per_s_by_precision": {p: _spread(r) for p, r in rates.items()},
        "variants": result_variants,
        "failed_variants": failed,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
    }
    return out


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    """Per variant: faster / slower in every round, or within the rounds' spread."""
    out = {}
    for name, v in result["variants"].items():
        if name == "eager":
            continue
        s = v["speedup_vs_eager"]
        kind = "faster in every round" if s["min"] > 1 else "slower in every round" if s["max"] < 1 else "mixed"
        out[name] = f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f}) {kind}"
    return out
