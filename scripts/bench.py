"""Throughput benchmarks, written as JSON with the device and versions.

    python -m scripts.bench [--presets digits fashion-mnist] [--iters 20] [--out bench/results-cpu.json]

* ``step``: one full CoDeGAN iteration (G, E, D updates) and each part alone, at the preset's batch
  sizes, on synthetic real batches of the preset's image shape (data loading excluded), in ms and
  real images/s. Timings are medians over ``--iters`` after ``--warmup`` iterations.
* ``tar``: reading one digits shard with Python's tarfile (webdataset's reader) against the
  harness's reader, per sample; the ratio justifies the hand-written reader.
* ``quality``: wall time of a 10,000-sample FID/KID/IS with the digits domain extractor (generation
  included), and, for Inception, the per-image cost of clean-fid's resize to 299 and of an
  Inception-v3 forward (torchvision's architecture with untrained weights: the real weights cannot be
  fetched offline, the cost is the same), from which a 10,000-sample Inception FID is estimated.
* ``pipeline``: decoded training images/s from a dataset's shards (default Fashion-MNIST) through the
  real input pipeline with 0, 1 and 2 DataLoader workers, and its ratio to the training step's
  consumption (real images/s of the same dataset's preset step measured above).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tarfile
import time
from pathlib import Path

import torch

from harness import registry
from harness.config import build_config
from harness.data.cards import load_card
from harness.gan import DataInfo
from harness.rundir import versions
from harness.runtime import make_accelerator

PRESETS = Path(__file__).resolve().parents[1] / "codegan" / "configs"
# Measured with the reference implementation on the 2-core CPU described in docs/reference.md, section 6.
REFERENCE_CPU_MS = {"fashion-mnist": {"step": 1949.0, "g": 308.0, "e": 1116.0, "d": 505.0}}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(fn, iters: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_step(preset: str, iters: int, warmup: int, overrides: list[str]) -> dict:
    cfg = build_config(PRESETS / f"{preset}.yaml", ["log.wandb=disabled", *overrides])
    card = load_card(cfg.data.dataset)
    size = cfg.data.image_size or card.shape[1]
    acc = make_accelerator(cfg)
    torch.manual_seed(0)
    rng = torch.Generator(device=acc.device).manual_seed(0)
    method = registry.method(cfg.method)(cfg, DataInfo(card.classes, (card.shape[0], size, size)), acc, rng)
    real = torch.rand(cfg.train.batch_size, card.shape[0], size, size, device=acc.device)
    step = iter(range(10**9))
    parts = {
        "step": lambda: method.train_step(real, next(step)),
        "g": method.g_step,
        "e": method.e_step,
        "d": lambda: method.d_step(real),
    }
    ms = {name: _median_ms(fn, iters, warmup, acc.device) for name, fn in parts.items()}
    out = {
        "preset": preset,
        "image_shape": [card.shape[0], size, size],
        "batch": {"d": cfg.train.batch_size, "g": cfg.train.g_batch_size, "e": cfg.codegan.e_batch_size},
        "ms": ms,
        "real_img_per_s": cfg.train.batch_size * 1000 / ms["step"],
        "mixed_precision": acc.mixed_precision,
    }
    ref = REFERENCE_CPU_MS.get(preset)
    if ref and acc.device.type == "cpu" and not overrides:
        out["reference_cpu_ms"] = ref
        out["speedup_vs_reference"] = {k: ref[k] / ms[k] for k in ref}
    return out


def bench_tar(root: str) -> dict:
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
    t_tar = _median_ms(with_tarfile, 20, 2, torch.device("cpu"))
    t_own = _median_ms(with_harness, 20, 2, torch.device("cpu"))
    return {
        "members": n,
        "tarfile_us_per_member": 1000 * t_tar / n,
        "harness_us_per_member": 1000 * t_own / n,
        "ratio": t_tar / t_own,
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
    return {"dataset": dataset, "batch": batch, "img_per_s_by_workers": rates}


def bench_quality(root: str, samples: int) -> dict:
    import numpy as np
    from cleanfid.resize import build_resizer
    from torchvision.models import inception_v3

    from harness.data.build import ensure_built
    from harness.data.manifest import read_manifest
    from harness.data.stream import load_split
    from harness.evaluate.quality_eval import QualityEvaluator

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
    }


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["digits", "fashion-mnist"])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--data-root", default="")
    parser.add_argument("--pipeline-dataset", default="fashion-mnist", help="shards for the input-pipeline figure")
    parser.add_argument("--pipeline-batches", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results-<cpu|cuda>.json)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides applied to every preset")
    args = parser.parse_args(argv)
    result = {
        "device": device_name(),
        "versions": versions(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "steps": [bench_step(p, args.iters, args.warmup, args.overrides) for p in args.presets],
        "tar": bench_tar(args.data_root),
        "pipeline": bench_pipeline(args.pipeline_dataset, args.data_root, [0, 1, 2], args.pipeline_batches, 64),
        "quality": bench_quality(args.data_root, 10_000),
    }
    step = {s["preset"]: s for s in result["steps"]}.get(args.pipeline_dataset)
    if step:
        rates = result["pipeline"]["img_per_s_by_workers"]
        result["pipeline"]["step_real_img_per_s"] = step["real_img_per_s"]
        result["pipeline"]["ratio_to_step"] = {k: v / step["real_img_per_s"] for k, v in rates.items()}
    out = args.out or Path("bench") / f"results-{'cuda' if torch.cuda.is_available() else 'cpu'}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for s in result["steps"]:
        parts = "  ".join(f"{k} {v:.1f} ms" for k, v in s["ms"].items())
        print(f"{s['preset']:>14}: {parts}  ({s['real_img_per_s']:.0f} real img/s)")
    print(f"tar reader: {result['tar']['ratio']:.1f}x faster than tarfile")
    pipe = result["pipeline"]
    rates = "  ".join(f"{k} workers {v:.0f}" for k, v in pipe["img_per_s_by_workers"].items())
    ratio = "  ".join(f"{v:.0f}x" for v in pipe.get("ratio_to_step", {}).values())
    print(
        f"input pipeline ({pipe['dataset']}, img/s): {rates}" + (f"  (vs the training step: {ratio})" if ratio else "")
    )
    q = result["quality"]
    print(
        f"10,000-sample FID/KID/IS: domain {q['domain_fid_kid_is_s']:.1f} s; Inception estimated"
        f" {q['inception_fid_estimate_s']:.0f} s ({q['inception_resize_ms_per_image']:.1f} ms resize +"
        f" {q['inception_forward_ms_per_image']:.1f} ms forward per image)"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
