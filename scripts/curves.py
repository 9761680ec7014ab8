"""Learning curves: ACC and FID against training steps, one line per result, mean ± sample std over seeds.

    python -m scripts.curves RUNS_DIR [...] --out bench/curves-<name>.png [--fid eval/fid_domain] [--running]
                             [--log-wandb offline|online|disabled] [--project codegan-bench]

Reads every complete run folder below the given folders (``summary.json`` and the evaluation lines of
``metrics.jsonl``) and groups runs exactly as the leaderboard does (:func:`harness.results.group`: one line
per result identity, so only seeds of one experiment, the same length included, are pooled, and a trained
model counts once). Each line is labelled by its method and the parts of its identity that tell it from the
others (``beta_c=1``, ``step=300``, ...), the same columns the leaderboard shows. ACC (Hungarian) and FID are
drawn against the step in one figure; the pixel baseline of the same split is a dashed line. Writes the PNG,
a CSV of the plotted points and, unless disabled, a W&B run (job type ``analysis``) with the figure and line
plots. ``--running`` also draws runs that have not finished (still training, or stopped): each is a line of
its own, labelled with the last step it evaluated, never pooled with finished runs. With nothing to draw it
writes nothing and exits 1 with one line saying why.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
from pathlib import Path
from typing import Any

from harness.core.errors import RunError
from harness.runs.results import STD_NOTE, group, identity_cells, load_records, method_label, some_paths
from harness.runs.track import evaluations


def runs(roots: list[Path]) -> dict[str, dict[str, Any]]:
    """Curves of complete runs by result key: label (method and what tells it apart), dataset, the seeds' runs
    (their evaluations by step) and the pixel baseline."""
    records = [r for r in load_records(roots, unfinished=False) if r.kind == "summary"]  # the run's own evaluations
    groups = group(records)
    cells = identity_cells([(g[0].label, g[0].flat) for g in groups.values()])
    out = {}
    for (key, recs), shown in zip(groups.items(), cells, strict=True):
        parts = ", ".join(f"{name}={value}" for name, value in shown.items() if value)
        out[key] = {
            "label": recs[0].label + (f" {parts}" if parts else ""),
            "dataset": recs[0].dataset,
            "members": [{"seed": r.seed, "evals": evaluations(Path(r.run), int(r.identity["step"])), "run": r.run}
                        for r in recs],
            "pixels": [r.metrics["baseline/pixels_acc"] for r in recs if "baseline/pixels_acc" in r.metrics],
        }  # fmt: skip
    return out


def unfinished_runs(roots: list[Path]) -> dict[str, dict[str, Any]]:
    """Run folders without a complete summary that evaluated at least once: one curve each."""
    from harness.config import from_dict, load_yaml, training_config
    from harness.runs.results import unfinished_folders

    out = {}
    for folder in unfinished_folders(roots):
        evals = evaluations(folder)  # a running writer's cut last line is left out
        if not evals or not (folder / "config.yaml").is_file():
            continue
        cfg = from_dict(load_yaml(folder / "config.yaml"))
        label = f"{method_label(training_config(cfg))} (unfinished at step {max(evals)})"
        out[str(folder)] = {"label": label, "dataset": Path(cfg.data.dataset).stem, "pixels": [],
                            "members": [{"seed": cfg.seed, "evals": evals, "run": str(folder)}]}  # fmt: skip
    return out


def points(members: list[dict[str, Any]], metric: str) -> list[tuple[int, float, float, int]]:
    """(step, mean, sample std, n) of ``metric`` over the seeds, at every step all of them evaluated."""
    steps = sorted(set.intersection(*(set(m["evals"]) for m in members)))
    rows = []
    for step in steps:
        values = [m["evals"][step][metric] for m in members if metric in m["evals"][step]]
        if values:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            rows.append((step, statistics.fmean(values), sd, len(values)))
    return rows


def fid_metric(curves: dict[str, dict[str, Any]], asked: str) -> str | None:
    """The FID drawn: ``asked``, or with ``auto`` Inception's where measured, else the domain extractor's."""
    have = sorted({k for c in curves.values() for m in c["members"] for e in m["evals"].values() for k in e
                   if k.startswith("eval/fid_")})  # fmt: skip
    if asked != "auto":
        if asked not in have:
            raise RunError(f"--fid {asked}: no run here measured it (they have: {', '.join(have) or 'no FID'})")
        return asked
    return next((k for k in ("eval/fid_inception", "eval/fid_domain") if k in have), have[0] if have else None)


def table_rows(curves: dict[str, dict[str, Any]], fid: str | None) -> list[dict[str, Any]]:
    """The plotted points: one row per (curve, metric, step)."""
    rows = []
    for key, curve in sorted(curves.items(), key=lambda kv: kv[1]["label"]):
        label = f"{curve['label']} (n={len(curve['members'])})"
        for metric in ("eval/acc", *([fid] if fid else [])):
            rows += [{"curve": label, "result": key, "metric": metric, "step": s, "mean": m, "std": d, "n": n}
                     for s, m, d, n in points(curve["members"], metric)]  # fmt: skip
    return rows


def plot(curves: dict[str, dict[str, Any]], rows: list[dict[str, Any]], fid: str | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_acc, ax_fid) = plt.subplots(1, 2, figsize=(12, 4.6))
    labels = list(dict.fromkeys(r["curve"] for r in rows))
    # more curves than the default cycle's 10 colours: 20 distinct ones, so no two lines share one
    colours: dict[str, Any] = {c: plt.cm.tab20(i % 20) for i, c in enumerate(labels)} if len(labels) > 10 else {}
    for metric, ax in (("eval/acc", ax_acc), (fid, ax_fid)):
        for label in dict.fromkeys(r["curve"] for r in rows if r["metric"] == metric):
            mine = [r for r in rows if r["curve"] == label and r["metric"] == metric]
            steps, mean, sd = [r["step"] for r in mine], [r["mean"] for r in mine], [r["std"] for r in mine]
            line = ax.plot(steps, mean, marker="o", ms=3, label=label, color=colours.get(label))[0]
            colours[label] = line.get_color()
            low = [m - s for m, s in zip(mean, sd, strict=True)]
            high = [m + s for m, s in zip(mean, sd, strict=True)]
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
    datasets = sorted({c["dataset"] for c in curves.values()})
    for dataset in datasets:
        pixels = sorted({v for c in curves.values() if c["dataset"] == dataset for v in c["pixels"]})
        if pixels:
            name = "k-means on raw pixels" + (f" ({dataset})" if len(datasets) > 1 else "")
            ax_acc.axhline(statistics.fmean(pixels), ls="--", color="grey", label=name)
    ax_acc.set(xlabel="training step", ylabel="ACC (Hungarian), higher is better")
    if fid:
        means = [r["mean"] for r in rows if r["metric"] == fid]
        log = bool(means) and min(means) > 0 and max(means) / min(means) > 30  # the untrained G's FID (step 0)
        ax_fid.set(xlabel="training step", ylabel=f"FID ({fid.removeprefix('eval/fid_')} features), lower is better"
                   + (" (log scale)" if log else ""), yscale="log" if log else "linear")  # fmt: skip
        ax_fid.legend(fontsize=7)
    else:
        ax_fid.set(xlabel="training step", ylabel="FID")
        ax_fid.text(0.5, 0.5, "no FID measured in these runs", ha="center", transform=ax_fid.transAxes)
    ax_acc.legend(fontsize=7)
    seeds = "/".join(str(n) for n in sorted({len(c["members"]) for c in curves.values()}))
    fig.suptitle(f"{', '.join(datasets)}: learning curves, one line per result identity, n = {seeds} seeds;"
                 f" bands: sample std\n({STD_NOTE})", fontsize=9)  # fmt: skip
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def log_wandb(out: Path, table: list[dict[str, Any]], mode: str, project: str) -> None:
    if mode == "disabled" or not table:
        return
    import wandb

    from harness.runs.track import analysis_run

    run = analysis_run(out.parent, mode, project, f"curves {out.stem}")
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
    parser.add_argument(
        "--fid", default="auto", help="FID key to draw (auto: eval/fid_inception, else eval/fid_domain)"
    )
    parser.add_argument("--log-wandb", default="offline", choices=["offline", "online", "disabled"])
    parser.add_argument("--project", default="codegan-bench")
    parser.add_argument("--running", action="store_true", help="also runs that have not finished, each alone")
    args = parser.parse_args(argv)
    where = ", ".join(map(str, args.roots))
    curves = runs(args.roots)
    later = unfinished_runs(args.roots)
    if args.running:
        curves.update(later)
    elif later:
        print(f"left out {len(later)} unfinished run(s) that evaluated (--running draws them):"
              f" {some_paths(Path(k) for k in later)}", file=sys.stderr)  # fmt: skip
    if not curves:
        hint = f" ({len(later)} unfinished: --running draws them)" if later and not args.running else ""
        raise RunError(f"no complete runs under {where}{hint}: nothing to draw (no file written)")
    fid = fid_metric(curves, args.fid)
    rows = table_rows(curves, fid)
    drawn = sorted({r["curve"] for r in rows if r["metric"] == "eval/acc"})
    if not drawn:
        raise RunError(f"{len(curves)} result(s) under {where}, but no eval/acc line in their metrics.jsonl:"
                       " nothing to draw (no file written)")  # fmt: skip
    plot(curves, rows, fid, args.out)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "mean": f"{r['mean']:.4f}", "std": f"{r['std']:.4f}"} for r in rows)
    args.out.with_suffix(".csv").write_text(buf.getvalue())
    log_wandb(args.out, rows, args.log_wandb, args.project)
    empty = len(curves) - len(drawn)
    note = f"; {empty} result(s) with no evaluation at every seed's steps not drawn" if empty else ""
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')} ({len(drawn)} curves{note})")
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.commands.cli import run_command

    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
