"""What ``runtime.eval_threads`` buys: the main process's evaluation work on two gloo ranks, with one thread (what
``accelerate launch``'s OMP_NUM_THREADS=1 leaves it) and with every CPU the process may run on, side by side.

    python -m scripts.eval_threads [--dataset fashion-mnist] [--rounds 3] [--out bench/eval-threads-<dataset>.json]

A short run of the dataset's preset is trained once (its one-time costs: shards, domain classifier, reference
statistics, are paid first and cached); then its checkpoint is re-scored on two ranks (``accelerate launch
--multi_gpu --num_processes 2`` on CPUs) with ``runtime.eval_threads=1`` and ``=<CPUs allowed>``, in alternating
order, each round once; the default (0) resolves to the count recorded as ``auto_threads``. Reported per setting:
the k-means scoring of the test split's class features (``perf/eval_s``), the FID/KID/IS evaluation
(``perf/quality_s``: generation and features on both ranks, statistics on the main one) and the whole command,
median and range over rounds, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TWO_CPU_RANKS = ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                 "--dynamo_backend", "no"]  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from harness.config import build_config
    from harness.parallel.threads import cpus_allowed, main_thread_count

    cpus = cpus_allowed()
    settings = {"1 thread": "1", f"{cpus} threads": str(cpus)}
    os.environ["LOCAL_WORLD_SIZE"] = "2"
    auto = main_thread_count(build_config(args.dataset), 2)
    del os.environ["LOCAL_WORLD_SIZE"]
    work = Path(tempfile.mkdtemp(prefix="eval-threads-"))
    env = {**os.environ, "CODEGAN_CACHE": str(work / "cache"), "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1",
           "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip
    common = [f"data.root={work / 'data'}", f"log.root={work / 'runs'}", "log.wandb=disabled", "log.progress=false"]
    train = [sys.executable, "-m", "harness.run", "--config", args.dataset, *common, "train.steps=2",
             "train.ckpt_every=2", "eval.pixel_baseline=false"]  # fmt: skip
    subprocess.run(train, cwd=REPO, env=env, check=True, capture_output=True)
    (run,) = (work / "runs").iterdir()
    accelerate = str(Path(sys.executable).parent / "accelerate")
    times: dict[str, dict[str, list[float]]] = {k: {"eval_s": [], "quality_s": [], "command_s": []} for k in settings}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        order = list(settings) if r % 2 == 0 else list(settings)[::-1]
        for name in order:
            cmd = [accelerate, "launch", *TWO_CPU_RANKS, "-m", "harness.commands.rescore", str(run), *common[2:],
                   f"runtime.eval_threads={settings[name]}", "eval.pixel_baseline=false"]  # fmt: skip
            t = time.perf_counter()
            subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)
            times[name]["command_s"].append(time.perf_counter() - t)
            newest = max(run.glob("eval-*.json"), key=lambda p: p.stat().st_mtime)
            metrics = json.loads(newest.read_text())["metrics"]
            times[name]["eval_s"].append(metrics["perf/eval_s"])
            times[name]["quality_s"].append(metrics["perf/quality_s"])
            print(f"round {r + 1} {name}: k-means {metrics['perf/eval_s']:.1f} s, FID/KID/IS"
                  f" {metrics['perf/quality_s']:.1f} s")  # fmt: skip
    result = {
        "dataset": args.dataset,
        "cpus_allowed": cpus,
        "auto_threads": auto,
        "cpu_count": os.cpu_count(),
        "rounds": args.rounds,
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
        "settings": {k: {m: _spread(v) for m, v in t.items()} for k, t in times.items()},
    }
    out = args.out or REPO / "bench" / f"eval-threads-{args.dataset}.json"
    out.write_text(json.dumps(result, indent=1))
    for name, t in result["settings"].items():
        print(f"{name}: " + ", ".join(f"{m} {s['median']:.1f} ({s['min']:.1f}-{s['max']:.1f})" for m, s in t.items()))
    print(f"load {result['load_before'][0]:.2f} -> {result['load_after'][0]:.2f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
