"""What the first run on a dataset pays once, measured with an empty cache (each cost is cached afterwards).

    python -m scripts.first_run_costs --dataset fashion-mnist [--simclr-steps 100] [--out bench/first-run-<d>.json]

Measured in order, each alone: building the shards from the source files, training the domain classifier
(FID/KID/IS features), the reference statistics of the FID split, k-means on raw pixels of the evaluation
split (the pixel baseline, with the preset's ``eval.pixel_pca``), and the SimCLR pre-training stage of
CoDeGAN (self) for ``--simclr-steps`` steps (0 = the preset's full ``pretrain.steps``; a shorter measurement
is reported per step next to the preset's step count, never as the full stage's time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--simclr-steps", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="first-run-"))
    os.environ["CODEGAN_CACHE"] = str(work / "cache")  # an empty cache: every one-time cost is paid here
    from harness.config import build_config
    from harness.data.build import build
    from harness.data.manifest import read_manifest
    from harness.data.stream import load_split
    from harness.metrics.domain import train_extractor
    from harness.metrics.extractors import DomainExtractor, ExtractorContext
    from harness.metrics.features import reference_stats
    from harness.metrics.pixels import pixel_baseline
    from harness.training.trainer import train

    cfg = build_config(args.dataset, [f"data.root={work / 'data'}", "log.wandb=disabled"])
    cpu = torch.device("cpu")
    costs: dict[str, float] = {}

    t = time.perf_counter()
    location = str(build(args.dataset, root=str(work / "data")))
    costs["shards_s"] = time.perf_counter() - t
    man = read_manifest(location)
    size = cfg.data.image_size or man.shape[1]
    t = time.perf_counter()
    _, info = train_extractor(location, size, device=cpu)
    costs["domain_classifier_s"] = time.perf_counter() - t
    ext = DomainExtractor(ExtractorContext(location, size, cpu, progress=False))
    real = load_split(location, man, cfg.eval.fid_split)["image"]
    t = time.perf_counter()
    reference_stats(ext, real, man, cfg.eval.fid_split, size, cfg.eval.batch_size, cpu, progress=True)
    costs["reference_statistics_s"] = time.perf_counter() - t
    test = load_split(location, man, cfg.eval.split)
    t = time.perf_counter()
    pixel_baseline(test, man, cfg, progress=True)
    costs["pixel_baseline_s"] = time.perf_counter() - t
    steps = args.simclr_steps or cfg.pretrain.steps
    where = [f"data.root={work / 'data'}", f"log.root={work / 'runs'}", "log.wandb=disabled"]
    stage = build_config(args.dataset, [*where, "stage=pretrain", f"pretrain.steps={steps}"])
    t = time.perf_counter()
    train(stage)
    costs["simclr_stage_s"] = time.perf_counter() - t
    result = {
        "dataset": args.dataset,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "load_after": os.getloadavg(),
        "train_images": man.splits["train"].count,
        "eval_images": man.splits[cfg.eval.split].count,
        "domain_classifier_steps": info.steps,
        "domain_classifier_test_acc": info.test_acc,
        "pixel_pca": cfg.eval.pixel_pca,
        "simclr_steps_measured": steps,
        "simclr_steps_preset": cfg.pretrain.steps,
        "simclr_s_per_step": costs["simclr_stage_s"] / steps,
        "seconds": costs,
    }
    out = args.out or Path("bench") / f"first-run-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for name, seconds in costs.items():
        print(f"{name:<26} {seconds:8.1f} s")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
