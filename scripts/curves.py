"""Learning curves: ACC and FID against training steps, one line per method, mean ± sample std over seeds.

    python -m scripts.curves RUNS_DIR [...] --out bench/curves-<name>.png [--fid eval/fid_domain] [--running]
                             [--log-wandb offline|online|disabled] [--project codegan-bench]

Reads every complete run folder below the given folders (``metrics.jsonl`` evaluation lines and
``summary.json``), groups runs that are the same experiment except the seed (their result identity
without the step), and draws ACC (Hungarian) and FID against the step in one figure; the pixel baseline of
the same split is a dashed line. Writes the PNG, a CSV of the plotted points and, unless disabled, a W&B
run (job type ``analysis``) with the figure and line plots. ``--running`` also draws runs that have not
finished (still training, or stopped): each is a line of its own, labelled with the last step it evaluated,
never pooled with finished runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from harness.config import digest
from harness.results import STD_NOTE, method_label
from harness.track import read_jsonl


def runs(roots: list[Path]) -> list[dict[str, Any]]:
    """Complete run folders: their identity (without the step), seed, evaluation lines and pixel baseline."""
    out = []
    for root in roots:
        for summary in sorted(root.rglob("summary.json")):
            info = json.loads(summary.read_text())
            if info.get("status") != "complete" or "identity" not in info:
                continue
            evals = {r["step"]: r for r in read_jsonl(summary.parent / "metrics.jsonl") if "eval/acc" in r}
            identity = {k: v for k, v in info["identity"].items() if k != "step"}
            identity["train"] = {k: v for k, v in identity["train"].items() if k != "train.steps"}
            out.append({"key": digest(identity), "label": method_label(info["identity"]["train"]),
                        "dataset": info["dataset"], "seed": info["seed"], "evals": evals,
                        "pixels": info["metrics"].get("baseline/pixels_acc")})  # fmt: skip
    return out


def unfinished_runs(roots: list[Path]) -> list[dict[str, Any]]:
    """Run folders without a complete summary that evaluated at least once: one group each."""
    from harness.config import from_dict, load_yaml, training_config

    out = []
    for root in roots:
        for metrics in sorted(root.rglob("metrics.jsonl")):
            folder = metrics.parent
            done = folder / "summary.json"
            if done.is_file() and json.loads(done.read_text()).get("status") == "complete":
                continue
            evals = {r["step"]: r for r in read_jsonl(metrics) if "eval/acc" in r}  # a running writer's cut line: out
            if not evals or not (folder / "config.yaml").is_file():
                continue
            cfg = from_dict(load_yaml(folder / "config.yaml"))
            label = f"{method_label(training_config(cfg))} (unfinished at step {max(evals)})"
            out.append({"key": str(folder), "label": label, "dataset": Path(cfg.data.dataset).stem,
                        "seed": cfg.seed, "evals": evals, "pixels": None})  # fmt: skip
    return out


def points(group: list[dict[str, Any]], metric: str) -> list[tuple[int, float, float, int]]:
    """(step, mean, sample std, n) of ``metric`` over the group's seeds, at every step all of them reached."""
    steps = sorted(set.intersection(*(set(r["evals"]) for r in group)))
    rows = []
    for step in steps:
        values = [r["evals"][step][metric] for r in group if metric in r["evals"][step]]
        if values:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            rows.append((step, statistics.fmean(values), sd, len(values)))
    return rows


def plot(groups: dict[str, list[dict[str, Any]]], fid: str, out: Path) -> list[dict[str, Any]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_acc, ax_fid) = plt.subplots(1, 2, figsize=(12, 4.6))
    table, datasets, seeds = [], set(), set()
    for key, group in sorted(groups.items(), key=lambda kv: kv[1][0]["label"]):
        label = f"{group[0]['label']} (n={len(group)})"
        datasets.add(group[0]["dataset"])
        seeds.add(len(group))
        for ax, metric in ((ax_acc, "eval/acc"), (ax_fid, fid)):
            rows = points(group, metric)
            if not rows:
                continue
            steps, mean, sd = [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
            line = ax.plot(steps, mean, marker="o", ms=3, label=label)[0]
            low = [m - s for m, s in zip(mean, sd, strict=True)]
            high = [m + s for m, s in zip(mean, sd, strict=True)]
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
            table += [{"curve": label, "key": key, "metric": metric, "step": s, "mean": m, "std": d, "n": n}
                      for s, m, d, n in rows]  # fmt: skip
    pixels = [r["pixels"] for g in groups.values() for r in g if r["pixels"] is not None]
    if pixels:
        ax_acc.axhline(statistics.fmean(pixels), ls="--", color="grey", label="k-means on raw pixels")
    ax_acc.set(xlabel="training step", ylabel="ACC (Hungarian), higher is better")
    ax_fid.set(xlabel="training step", ylabel=f"{fid.removeprefix('eval/').upper()}, lower is better")
    ax_acc.legend(fontsize=7)
    ax_fid.legend(fontsize=7)
    n = "/".join(str(s) for s in sorted(seeds))
    fig.suptitle(f"{', '.join(sorted(datasets))}: learning curves, n = {n} seeds per line; bands: sample std\n"
                 f"({STD_NOTE})", fontsize=9)  # fmt: skip
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return table


def log_wandb(out: Path, table: list[dict[str, Any]], mode: str, project: str) -> None:
    if mode == "disabled" or not table:
        return
    from harness.track import use_wandb_dirs

    use_wandb_dirs(out.parent)
    import wandb

    run = wandb.init(mode=mode, project=project, name=f"curves {out.stem}", job_type="analysis", dir=str(out.parent),
                     settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))  # fmt: skip
    columns = list(table[0])
    data = wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in table])
    for metric in sorted({r["metric"] for r in table}):
        sub = wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in table if r["metric"] == metric])
        run.log({f"curves/{metric}": wandb.plot.line(sub, "step", "mean", stroke="curve", title=f"{metric} by step")})
    run.log({"curves/table": data, "curves/figure": wandb.Image(str(out))})
    run.finish()


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--fid", default="eval/fid_domain")
    parser.add_argument("--log-wandb", default="offline", choices=["offline", "online", "disabled"])
    parser.add_argument("--project", default="codegan-bench")
    parser.add_argument("--running", action="store_true", help="also runs that have not finished, each alone")
    args = parser.parse_args(argv)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs(args.roots) + (unfinished_runs(args.roots) if args.running else []):
        groups.setdefault(r["key"], []).append(r)
    if not groups:
        print(f"no complete runs under {', '.join(map(str, args.roots))}", file=sys.stderr)
        return 1
    table = plot(groups, args.fid, args.out)
    args.out.with_suffix(".csv").write_text(
        "curve,metric,step,mean,std,n\n"
        + "".join(f"{r['curve']},{r['metric']},{r['step']},{r['mean']:.4f},{r['std']:.4f},{r['n']}\n" for r in table)
    )
    log_wandb(args.out, table, args.log_wandb, args.project)
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')} ({len(groups)} curves)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.cli import run_cli

    return run_cli(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
