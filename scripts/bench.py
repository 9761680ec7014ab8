"""Throughput benchmarks, written as JSON beside the machine they ran on.

    python -m scripts.bench [--presets digits fashion-mnist] [--variants eager fused ...] [--rounds 5]
                            [--threads N] [--precisions no bf16] [--sections step tar pipeline quality] [key=value ...]

Every figure is measured in this run, on this machine; nothing is divided by a figure from another program or day.

* ``step``: one training iteration of each preset (G, E, D updates) at its batch sizes, on synthetic real batches
  (data loading excluded), under each variant of the step: ``eager`` (every option off), one option
  (``foreach``, ``fused``, ``channels_last``, ``compile``, ``reduce-overhead``, ``max-autotune``, ``tf32``),
  options joined by ``+``, and ``defaults`` (the options the config turns on). Variants are timed side by side
  (scripts/bench_step.py): interleaved rounds, order reversed every round, median and min/max over rounds, and each
  variant's speed-up over eager taken round by round. Also per update (G, E, D) alone, real images/s, GFLOP per
  iteration counted by ``torch.utils.flop_counter`` (matmuls and convolutions, forward and backward, the gradient
  penalty's double backward included) and achieved GFLOP/s, the first iteration's time (compilation included),
  and with ``--profile`` the ops that take the most time.
* ``tar``: reading one digits shard with Python's tarfile (webdataset's reader) against the harness's reader,
  interleaved rounds as above.
* ``pipeline``: decoded training images/s from a dataset's shards through the real input pipeline with 0, 1 and 2
  DataLoader workers, and its ratio to what that dataset's step consumes (measured above, in this run).
* ``quality``: wall time of a 10,000-sample FID/KID/IS with the digits domain extractor (generation included), and,
  for Inception, the per-image cost of clean-fid's resize to 299 and of an Inception-v3 forward (untrained weights
  of the same architecture), from which a 10,000-sample Inception FID is estimated.

The machine is recorded with the results: device, CPU model and vector extensions, threads, versions, and the load
average before and after each measurement (a busy machine slows every variant; compare ratios, not times).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import torch

from harness.config import build_config, registry
from harness.core.atomic import atomic_write_text
from harness.methods.gan import DataInfo
from harness.parallel.accelerator import make_accelerator
from harness.runs.folder import versions
from scripts.bench_step import (
    CPU_VARIANTS,
    CUDA_VARIANTS,
    PRESETS,
    bench_variants,
    matmul_rate,
    option_defaults,
    verdicts,
)

SECTIONS = ("step", "host", "tar", "pipeline", "quality")
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def _cpu_model() -> tuple[str, list[str]]:
    """The CPU's model name and which of the vector extensions that matter here it has (Linux)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model, [f for f in CPU_FLAGS if f in flags]


def machine() -> dict[str, Any]:
    model, flags = _cpu_model()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    f32, bf16 = torch.float32, torch.bfloat16
    info: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu_model": model,
        "cpu_flags": flags,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": {**versions(), "cuda": torch.version.cuda or "", "cudnn": str(torch.backends.cudnn.version())},
        "load_at_start": list(os.getloadavg()),
        "matmul_gflop_per_s": {k: matmul_rate(device, dtype) for k, dtype in (("fp32", f32), ("bf16", bf16))},
    }
    if torch.cuda.is_available():
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_capability"] = list(torch.cuda.get_device_capability(0))
    return info


def _median_ms(fn, iters: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_tar(root: str, rounds: int = 5, reads: int = 10) -> dict:
    from harness.data.build import ensure_built
    from harness.data.tarstream import iter_members

    path = ensure_built("digits", root, progress=False) / "train-000000.tar"
    data = path.read_bytes()

    def with_tarfile() -> int:
        with tarfile.open(path, mode="r|*") as tf:
            return sum(1 for m in tf if m.isreg() and tf.extractfile(m).read() is not None)

    def with_harness() -> int:
        return sum(1 for _ in iter_members(data, str(path)))

    n = with_harness()
    fns = {"tarfile": with_tarfile, "harness": with_harness}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds):
        for name in list(fns) if r % 2 == 0 else list(fns)[::-1]:
            t = time.perf_counter()
            for _ in range(reads):
                fns[name]()
            times[name].append((time.perf_counter() - t) * 1e6 / reads / n)
    ratios = [a / b for a, b in zip(times["tarfile"], times["harness"], strict=True)]
    return {
        "members": n,
        "tarfile_us_per_member": statistics.median(times["tarfile"]),
        "harness_us_per_member": statistics.median(times["harness"]),
        "ratio": statistics.median(ratios),
        "ratio_min_max": [min(ratios), max(ratios)],
        "load": list(os.getloadavg()),
    }


def bench_pipeline(dataset: str, root: str, workers: list[int], batches: int, batch: int) -> dict:
    from harness.data.build import ensure_built
    from harness.data.manifest import read_manifest
    from harness.data.stream import ShardStream, make_loader

    location = str(ensure_built(dataset, root, progress=False))
    man = read_manifest(location)
    rates = {}
    for n in workers:
        it = iter(make_loader(ShardStream(location, man, "train", batch, seed=0, streams=4), n))
        for _ in range(max(4, 2 * n)):  # start the workers and fill their queues
            next(it)
        t = time.perf_counter()
        for _ in range(batches):
            next(it)
        rates[str(n)] = batches * batch / (time.perf_counter() - t)
        del it
    return {"dataset": dataset, "batch": batch, "img_per_s_by_workers": rates, "load": list(os.getloadavg())}


def bench_quality(root: str, samples: int) -> dict:
    import numpy as np
    from cleanfid.resize import build_resizer
    from torchvision.models import inception_v3

    from harness.data.build import ensure_built
    from harness.data.manifest import read_manifest
    from harness.data.stream import load_split
    from harness.metrics.quality import QualityEvaluator

    cfg = build_config(PRESETS / "digits.yaml", ["log.wandb=disabled", f"eval.fid_samples={samples}"])
    acc = make_accelerator(cfg)
    location = str(ensure_built("digits", root, progress=False))
    man = read_manifest(location)
    real = load_split(location, man, "train")
    evaluator = QualityEvaluator(cfg, acc, location, man, 8, real)
    torch.manual_seed(0)
    method = registry.method("codegan")(cfg, DataInfo(10, (1, 8, 8)), acc, torch.Generator(acc.device).manual_seed(0))
    t = time.perf_counter()
    evaluator(method)
    domain_s = time.perf_counter() - t
    resize = build_resizer("clean")
    img = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    resize_ms = _median_ms(lambda: resize(img), 20, 2, torch.device("cpu"))
    net = inception_v3(weights=None, aux_logits=False, init_weights=False).eval().to(acc.device)
    batch = torch.rand(16, 3, 299, 299, device=acc.device)
    with torch.no_grad():
        fwd_ms = _median_ms(lambda: net(batch), 3, 1, acc.device) / 16
    return {
        "samples": samples,
        "domain_fid_kid_is_s": domain_s,
        "inception_resize_ms_per_image": resize_ms,
        "inception_forward_ms_per_image": fwd_ms,
        "inception_fid_estimate_s": samples * (resize_ms + fwd_ms) / 1000,
        "load": list(os.getloadavg()),
    }


def _fmt_spread(s: dict[str, float], unit: str = "") -> str:
    return f"{s['median']:.1f}{unit} ({s['min']:.1f}-{s['max']:.1f})"


def _fmt_ratio(s: dict[str, float]) -> str:
    return f"{s['median']:.2f}x ({s['min']:.2f}-{s['max']:.2f})"


GOALS = {  # what the README states beside the measurements
    ("cuda", "fashion-mnist"): "goal on one H100: >= 20,000 real img/s",
    ("cpu", "fashion-mnist"): "goal: as close to the machine's fp32 matmul rate as the convolutions allow",
}


def print_steps(steps: list[dict[str, Any]], machine_info: dict[str, Any] | None = None) -> None:
    """One table per preset and precision: every variant beside eager, from the same rounds."""
    kind = "cpu" if (machine_info or {}).get("device", "cpu") == "cpu" else "cuda"
    for s in steps:
        if "variants" not in s:  # stopped before its first round: the compile times it measured
            first = ", ".join(f"{k} {v:.1f} s" for k, v in s.get("first_iteration_s", {}).items())
            print(f"\n{s['preset']}: stopped before its first round (first iterations: {first or 'none'})")
            continue
        fl = s["gflop_per_iter"]
        parts = ", ".join(f"{k} {v:.1f}" for k, v in fl.items() if k != "step")
        precision = "fp32" if s["mixed_precision"] == "no" else s["mixed_precision"]
        print(
            f"\n{s['preset']} ({precision}), {fl['step']:.2f} GFLOP/iter" + (f" ({parts})" if parts else "")
            + f"; {s.get('rounds_done', s['rounds'])} of {s['rounds']} rounds x {s['iters_per_round']} iter;"
            f" load {s['load_before'][0]:.2f} ->"
            f" {s['load_after'][0]:.2f}"
        )  # fmt: skip
        cpu = "  CPU ms/iter, vs eager" if s["variants"]["eager"]["cpu_ms_per_iter"] else ""
        print(f"  {'variant':<16} {'ms/iter (min-max)':>24} {'vs eager (min-max)':>20} {'img/s':>7} {'GFLOP/s':>7}"
              f"  {'parts ms':<22}{cpu}")  # fmt: skip
        for name, v in s["variants"].items():
            parts_ms = " ".join(f"{k} {p['median']:.0f}" for k, p in v["parts_ms"].items())
            line = (
                f"  {name:<16} {_fmt_spread(v['ms_per_iter']):>24} {_fmt_ratio(v['speedup_vs_eager']):>20}"
                f" {v['real_img_per_s']:>7.0f} {v['gflop_per_s']:>7.1f}  {parts_ms:<22}"
            )
            if v["cpu_ms_per_iter"]:
                line += f"  {v['cpu_ms_per_iter']['median']:.1f}, {_fmt_ratio(v['cpu_time_speedup_vs_eager'])}"
            print(line)
        for name, text in verdicts(s).items():
            print(f"    {name}: {text}")
        for name, error in s.get("failed_variants", {}).items():
            print(f"    {name}: FAILED, {error}")
        name, best = max(s["variants"].items(), key=lambda kv: kv[1]["real_img_per_s"])
        best_precision = best.get("mixed_precision", s["mixed_precision"])
        frac = best["fraction_of_matmul_rate"]
        mm = s.get("matmul_gflop_per_s_by_precision", {}).get(best_precision, s["matmul_gflop_per_s"])
        print(
            f"    fastest: {name}, {best['real_img_per_s']:.0f} real img/s, {best['gflop_per_s']:.1f} GFLOP/s ="
            f" {100 * frac['median']:.0f}% ({100 * frac['min']:.0f}-{100 * frac['max']:.0f}%) of a"
            f" {'fp32' if best_precision == 'no' else best_precision} matmul's rate in the same"
            f" rounds ({mm['median']:.0f} GFLOP/s)"
        )
        if "bf16_vs_fp32_defaults" in s:  # the same step in both precisions, round by round
            print(f"    defaults+bf16 against the fp32 defaults: {_fmt_ratio(s['bf16_vs_fp32_defaults'])}")
        if (kind, s["preset"]) in GOALS:
            print(f"    {GOALS[kind, s['preset']]}")
        for name, v in s["variants"].items():
            if v["options"]["compile"] != "none":
                print(f"    {name}: first iteration {v['first_iteration_s']:.1f} s (compilation included)")
        for which in ("eager", "defaults", "defaults+bf16"):
            top = s.get(f"profile_{which}")
            if top:
                ops = ", ".join(f"{r['op'].removeprefix('aten::')} {r['self_ms_per_iter']:.1f}" for r in top[:8])
                print(f"    {which} profile, self ms/iter: {ops}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["digits", "fashion-mnist"])
    parser.add_argument("--variants", nargs="+", default=None, help="default: a CPU or a CUDA set (bench_step.py)")
    parser.add_argument("--precisions", nargs="+", default=["no"], help="train.mixed_precision values to measure")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=None, help="iterations per block; default: about --block-s")
    parser.add_argument("--block-s", type=float, default=1.0, help="target seconds of one eager block")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no-parts", action="store_true", help="skip the per-update (G, E, D) timings")
    parser.add_argument("--profile", action="store_true", help="add torch.profiler's top ops of eager and defaults")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--host-presets", nargs="+", default=["fashion-mnist"], help="presets of the host section")
    parser.add_argument("--data-root", default="")
    parser.add_argument("--pipeline-dataset", default="fashion-mnist", help="shards for the input-pipeline figure")
    parser.add_argument("--pipeline-batches", type=int, default=200)
    parser.add_argument("--quality-samples", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results-<cpu|cuda>.json)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides applied to every preset")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    names = args.variants or (CUDA_VARIANTS if cuda else CPU_VARIANTS)
    result: dict[str, Any] = {
        "machine": machine(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "argv": list(argv) if argv is not None else sys.argv[1:],
        "option_defaults": option_defaults(),
    }
    out = args.out or Path("bench") / f"results-{'cuda' if cuda else 'cpu'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if "step" in args.sections:
        result["steps"] = []
        for precision in args.precisions:
            for preset in args.presets:
                overrides = [*args.overrides, f"train.mixed_precision='{precision}'"]
                done = list(result["steps"])

                def partial(step: dict[str, Any], done: list = done) -> None:  # what is measured survives a kill
                    result["steps"] = [*done, step]
                    atomic_write_text(out, json.dumps(result, indent=1))

                try:
                    step = bench_variants(
                        preset, names, overrides, args.rounds, args.iters, args.warmup, args.block_s,
                        not args.no_parts, args.profile, progress=partial,
                    )  # fmt: skip
                    result["steps"] = [*done, step]
                except Exception as exc:  # noqa: BLE001 - a preset that cannot run leaves the others
                    result["steps"] = done
                    error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
                    result.setdefault("failed_steps", []).append(
                        {"preset": preset, "mixed_precision": precision, "error": error}
                    )
                    print(f"{preset} ({precision}) failed: {error}", file=sys.stderr)
                atomic_write_text(out, json.dumps(result, indent=1))  # what is done survives a timeout
    if "host" in args.sections:
        from scripts.bench_host import bench_host

        result["host"] = [bench_host(p, args.overrides) for p in args.host_presets]
        atomic_write_text(out, json.dumps(result, indent=1))
    if "tar" in args.sections:
        result["tar"] = bench_tar(args.data_root)
    if "pipeline" in args.sections:
        result["pipeline"] = bench_pipeline(args.pipeline_dataset, args.data_root, [0, 1, 2], args.pipeline_batches, 64)
        step = next((s for s in result.get("steps", []) if s["preset"] == args.pipeline_dataset), None)
        if step:
            consumed = step["variants"].get("defaults", step["variants"]["eager"])["real_img_per_s"]
            rates = result["pipeline"]["img_per_s_by_workers"]
            result["pipeline"]["step_real_img_per_s"] = consumed
            result["pipeline"]["ratio_to_step"] = {k: v / consumed for k, v in rates.items()}
    if "quality" in args.sections:
        result["quality"] = bench_quality(args.data_root, args.quality_samples)
    result["load_at_end"] = list(os.getloadavg())
    atomic_write_text(out, json.dumps(result, indent=1))
    m = result["machine"]
    print(
        f"\n{m['device']} | {m['cpu_model']} ({', '.join(m['cpu_flags'])}) | {m['torch_threads']} threads |"
        f" torch {m['versions']['torch']} | load at start {m['load_at_start'][0]:.2f}"
    )
    print("options on by default: " + ", ".join(f"{k}={v}" for k, v in result["option_defaults"].items()))
    mm = m["matmul_gflop_per_s"]
    print(f"matmul at the start: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s")
    print_steps(result.get("steps", []), m)
    for h in result.get("host", []):
        ms = h["host_ms_per_iter"]
        print(
            f"\nhost, {h['preset']} at tiny sizes: {h['aten_calls_per_iter']} aten calls/iter,"
            f" {ms['median']:.1f} ms/iter ({ms['min']:.1f}-{ms['max']:.1f}), {100 * h['accelerate_share']:.0f}% in"
            f" Accelerate; through its wrappers on every use {h['with_wrappers_ms_per_iter']['median']:.1f} ms"
            f" ({100 * h['accelerate_share_with_wrappers']:.0f}% in Accelerate),"
            f" {_fmt_ratio(h['wrappers_over_direct'])} slower; eager ceiling"
            f" {h['eager_ceiling_img_per_s']:,.0f} real img/s at batch {h['preset_batch']}; the whole step as one"
            f" graph {h['step_graph_ms_per_iter']['median']:.1f} ms ({_fmt_ratio(h['defaults_over_step_graph'])}"
            f" less; {_fmt_ratio(h['wrappers_over_step_graph'])} less than through the wrappers), ceiling"
            f" {h['step_graph_ceiling_img_per_s']:,.0f} img/s"
        )
    if "tar" in result:
        t = result["tar"]
        lo, hi = t["ratio_min_max"]
        print(f"\ntar reader: {t['ratio']:.1f}x faster than tarfile ({lo:.1f}-{hi:.1f})")
    if "pipeline" in result:
        pipe = result["pipeline"]
        rates = "  ".join(f"{k} workers {v:.0f}" for k, v in pipe["img_per_s_by_workers"].items())
        ratio = "  ".join(f"{v:.0f}x" for v in pipe.get("ratio_to_step", {}).values())
        print(f"input pipeline ({pipe['dataset']}, img/s): {rates}" + (f"  (vs the step: {ratio})" if ratio else ""))
    if "quality" in result:
        q = result["quality"]
        print(
            f"{q['samples']}-sample FID/KID/IS: domain {q['domain_fid_kid_is_s']:.1f} s; Inception estimated"
            f" {q['inception_fid_estimate_s']:.0f} s ({q['inception_resize_ms_per_image']:.1f} ms resize +"
            f" {q['inception_forward_ms_per_image']:.1f} ms forward per image)"
        )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
