"""The GPU check's report (scripts/gpu_check.sh): its step benchmarks, training run and NCCL run in one JSON file
and a summary table.

    python -m scripts.gpu_report --bench B.json ... --runs RUNS_DIR [--ddp DDP_DIR --gpus N]
                                 [--phase NAME=STATE ...] [--quiet] --out results-cuda.json

The JSON file is written atomically, so a copy taken at any moment is whole; ``--quiet`` writes it without the
table (and without importing torch: the check calls it after every phase). Exit 1 when a part is missing or
failed: a benchmark that wrote nothing, a preset or variant that failed, a phase that did not end ``ok``, a
training run without a complete summary or with a non-finite loss, ranks of the NCCL run whose weights differ.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from harness.core.atomic import atomic_write_text


def _one_run(root: Path) -> Path | None:
    runs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return runs[0] if len(runs) == 1 else None


def train_run(root: Path) -> dict[str, Any] | None:
    """The training run's final metrics, speed and whether every logged loss was finite."""
    run = _one_run(root)
    if run is None or not (run / "summary.json").is_file():
        return None
    summary = json.loads((run / "summary.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    losses = [v for r in rows for k, v in r.items() if k.startswith("train/")]
    return {
        "status": summary.get("status"),
        "step": summary.get("step"),
        "mixed_precision": summary.get("mixed_precision"),
        "device": summary.get("device"),
        "wall_time_s": summary.get("wall_time_s"),
        "metrics": summary.get("metrics", {}),
        "losses_logged": len(losses),
        "losses_finite": bool(losses) and all(math.isfinite(v) for v in losses),
    }


def ddp_run(root: Path) -> dict[str, Any] | None:
    """Per-rank weight digests of the two-process run (``train.trace=true``) and whether they agree."""
    run = _one_run(root)
    if run is None:
        return None
    traces = sorted((run / "trace").glob("rank*.json"))
    digests = [json.loads(t.read_text())["param_digest"] for t in traces]
    return {"ranks": len(digests), "digests": digests, "equal": len(digests) >= 2 and len(set(digests)) == 1}


def determinism_runs(root: Path) -> dict[str, Any] | None:
    """Weight digests of the two launches of one ``train.deterministic=true`` run (``<root>/a``, ``<root>/b``)."""
    digests = []
    for launch in ("a", "b"):
        run = _one_run(root / launch)
        trace = run / "trace" / "rank0.json" if run else None
        if trace is None or not trace.is_file():
            return None if not digests else {"runs": len(digests), "digests": digests, "equal": False}
        digests.append(json.loads(trace.read_text())["param_digest"])
    return {"runs": 2, "digests": digests, "equal": digests[0] == digests[1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", nargs="*", type=Path, default=[], help="scripts/bench.py results to merge")
    parser.add_argument("--runs", type=Path, required=True, help="log.root of the training run")
    parser.add_argument("--ddp", type=Path, default=None, help="log.root of the two-process run")
    parser.add_argument("--det", type=Path, default=None, help="root of the two deterministic launches")
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--phase", nargs="*", default=[], metavar="NAME=STATE", help="each phase of the check")
    parser.add_argument("--quiet", action="store_true", help="write the JSON file only")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    benches = [json.loads(p.read_text()) for p in args.bench if p.is_file()]  # in the order given
    problems = [] if benches else ["no benchmark results"]
    phases = dict(p.split("=", 1) for p in args.phase)
    result: dict[str, Any] = {
        "machine": benches[0]["machine"] if benches else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "phases": phases,
        "option_defaults": benches[0]["option_defaults"] if benches else None,
        "steps": [s for b in benches for s in b.get("steps", [])],
        "failed_steps": [f for b in benches for f in b.get("failed_steps", [])],
        "train_run": train_run(args.runs),
        "nccl": ddp_run(args.ddp) if args.ddp is not None and args.gpus >= 2 else None,
        "deterministic": determinism_runs(args.det) if args.det is not None else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=1))
    problems += [f"phase {k}: {v}" for k, v in phases.items() if v != "ok"]
    problems += [f"{f['preset']} ({f['mixed_precision']}): {f['error']}" for f in result["failed_steps"]]
    for s in result["steps"]:
        failed = s.get("failed_variants", {})
        precision = s.get("mixed_precision", "")
        problems += [f"{s['preset']} ({precision}) {n}: {e}" for n, e in failed.items()]
        if s.get("partial"):
            problems.append(f"{s['preset']} ({precision}): stopped after {s.get('rounds_done', 0)} round(s)")
    det = result["deterministic"]
    if args.det is not None and not (det and det["equal"]):
        problems.append("the two deterministic launches ended with different weights (or did not run)")
    if args.quiet:
        return 1 if problems else 0
    from scripts.bench import print_steps

    m = result["machine"]
    if m:
        print(f"{m['device']} | {m['versions']['torch']} (CUDA {m['versions']['cuda']}) | {m['cpu_model']}")
    print_steps(result["steps"], m)
    run = result["train_run"]
    if run is None:
        problems.append("no complete training run")
    else:
        metrics = run["metrics"]
        keys = ("perf/img_per_s", "perf/train_s", "eval/acc", "eval/fid_domain")
        shown = {k: metrics[k] for k in keys if k in metrics}
        print(f"\ntraining run ({run['mixed_precision']}, {run['step']} steps, {run['device']}): " + ", ".join(
            f"{k} {v:.4g}" for k, v in shown.items()
        ) + f"; losses finite: {run['losses_finite']}")  # fmt: skip
        if run["status"] != "complete" or not run["losses_finite"]:
            problems.append("the training run did not complete with finite losses")
    if args.gpus >= 2:
        nccl = result["nccl"]
        print(f"NCCL run: {nccl['ranks'] if nccl else 0} ranks, equal weights: {bool(nccl and nccl['equal'])}")
        if not (nccl and nccl["equal"]):
            problems.append("the NCCL ranks' weights differ (or the run failed)")
    else:
        print(f"NCCL run: skipped ({args.gpus} GPU)")
    if args.det is not None:
        print(f"train.deterministic=true, two launches: equal weights: {bool(det and det['equal'])}")
    print(f"wrote {args.out}")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
