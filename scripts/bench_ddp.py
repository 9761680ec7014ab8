"""Two gloo ranks on this CPU: one training iteration of a preset's method under Accelerate's DDP, with the
weights laid out as ``train.channels_last`` lays them out now (``step_options.channels_last``: a weight that is
contiguous in both layouts keeps the standard strides) against a plain ``net.to(memory_format=channels_last)``,
whose ambiguous weights made DDP warn "Grad strides do not match bucket view strides" and copy their gradients on
every step. The two layouts are timed side by side: interleaved rounds, the order reversed every round, the median
step per layout and the ratio round by round; beside each layout, how many gradients came back with other strides than
their parameter (the condition of that warning, which torch gives once per process).

    python -m scripts.bench_ddp [--presets digits fashion-mnist] [--rounds 5] [--iters 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from harness.core.atomic import atomic_write_text
from harness.methods import step_options
from scripts.bench import machine
from scripts.bench_step import build_variant

LAYOUTS = ("plain", "canonical")  # net.to(channels_last) alone; the harness's step_options.channels_last


def _plain_channels_last(net: torch.nn.Module, standard_ambiguous: bool = True) -> torch.nn.Module:
    return net.to(memory_format=torch.channels_last)


def _time_layout(preset: str, layout: str, iters: int) -> tuple[float, int]:
    """Median milliseconds of one training iteration of the preset's method (its G, E and D updates, through
    Accelerate's DDP) after two warm-up iterations, and how many parameters' gradients came back with other strides
    than the parameter's (what DDP warns of, once per process, and copies into its bucket on every step)."""
    canonical = step_options.channels_last
    if layout == "plain":
        step_options.channels_last = _plain_channels_last
    try:
        variant = build_variant(preset, "defaults", [])
        for _ in range(2):
            variant.iterate()
        params = [p for n in variant.method.nets for p in variant.method.raw(n).parameters()]
        mismatched = sum(p.grad is not None and p.grad.stride() != p.stride() for p in params)
        times = []
        for _ in range(iters):
            dist.barrier()
            t = time.perf_counter()
            variant.iterate()
            times.append((time.perf_counter() - t) * 1000)
    finally:
        step_options.channels_last = canonical
    return statistics.median(times), mismatched


def _rank(rank: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank))
    os.environ.update(WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", CUDA_VISIBLE_DEVICES="")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    results: dict[str, Any] = {}
    for preset in args.presets:
        rounds = []
        for r in range(args.rounds):
            order = LAYOUTS if r % 2 == 0 else LAYOUTS[::-1]
            rounds.append({layout: _time_layout(preset, layout, args.iters) for layout in order})
        ms = {layout: [x[layout][0] for x in rounds] for layout in LAYOUTS}
        ratios = [x["plain"][0] / x["canonical"][0] for x in rounds]
        results[preset] = {
            **{f"{layout}_step_ms_median": statistics.median(ms[layout]) for layout in LAYOUTS},
            **{f"{layout}_step_ms_min_max": [min(ms[layout]), max(ms[layout])] for layout in LAYOUTS},
            **{f"{layout}_mismatched_grad_strides": rounds[0][layout][1] for layout in LAYOUTS},
            "plain_over_canonical_median": statistics.median(ratios),
            "plain_over_canonical_min_max": [min(ratios), max(ratios)],
        }
    if rank == 0:
        Path(out).write_text(json.dumps(results))
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["digits", "fashion-mnist"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--out", default="bench/results-ddp-cpu.json")
    args = parser.parse_args(argv)
    info = {**machine(), "world_size": 2, "backend": "gloo", "threads_per_rank": 1}
    with tempfile.TemporaryDirectory() as tmp:
        part = str(Path(tmp) / "rank0.json")
        mp.spawn(_rank, args=(29500 + os.getpid() % 1000, args, part), nprocs=2, join=True)
        results = json.loads(Path(part).read_text())
    info["load_at_end"] = list(os.getloadavg())
    report = {"machine": info, "settings": vars(args), "two_rank_step": results}
    atomic_write_text(Path(args.out), json.dumps(report, indent=1))
    for preset, r in results.items():
        print(f"{preset}: plain {r['plain_step_ms_median']:.1f} ms ({r['plain_mismatched_grad_strides']} gradients"
              f" with other strides than their parameter), canonical {r['canonical_step_ms_median']:.1f} ms"
              f" ({r['canonical_mismatched_grad_strides']});"
              f" plain/canonical {r['plain_over_canonical_median']:.3f}")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
