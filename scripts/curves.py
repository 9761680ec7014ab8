"""Learning curves: ACC and FID against training steps, one line per result, mean ± sample std over seeds.

    python -m scripts.curves RUNS_DIR [...] --out bench/curves-<name>.png [--fid eval/fid_domain] [--running]
                             [--log-wandb offline|online|disabled] [--project codegan-bench]

Reads every complete run folder below the given folders (``summary.json`` and the evaluation lines of
``metrics.jsonl``) and groups runs exactly as the leaderboard does (:func:`harness.results.group`: one line
per result identity, so only seeds of one experiment, the same length included, are pooled, and a trained
model counts once). Each line is labelled by its method and the parts of its identity that tell it from the
others (``beta_c=1``, ``step=300``, ...), the same columns the leaderboard shows. ACC (Hungarian) and FID are
drawn against the step in one figure, each line with a band of one sample std over its seeds; k-means on raw pixels
and the untrained networks of runs that evaluated at step 0 are labelled reference lines
(:mod:`scripts.figure_marks`: axes, references and the legend shared with the trade-off figure). Writes the PNG,
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
from harness.runs.results import Record, group, identity_cells, load_records, method_label, some_paths
from harness.runs.start_results import start_records
from harness.runs.track import evaluations
from scripts.figure_marks import (
    Reference,
    draw_references,
    fid_limits,
    missing_references,
    pixel_reference,
    score_limits,
    spread_caption,
    start_reference,
)
from sweeps.folders import sweep_group


def finished(roots: list[Path]) -> list[Record]:
    """The complete runs' own results under ``roots`` (their summaries: each run's own evaluations)."""
    return [r for r in load_records(roots, unfinished=False) if r.kind == "summary"]


def runs(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Curves of complete runs by result key: label (method and what tells it apart), method, dataset, the seeds'
    runs (their evaluations by step) and the pixel baseline."""
    groups = group(records)
    cells = identity_cells([(g[0].label, g[0].flat) for g in groups.values()])
    out = {}
    for (key, recs), shown in zip(groups.items(), cells, strict=True):
        parts = ", ".join(f"{name}={value}" for name, value in shown.items() if value)
        out[key] = {
            "label": recs[0].label + (f" {parts}" if parts else ""),
            "method": recs[0].flat.get("method"),
            "dataset": recs[0].dataset,
            "members": [{"seed": r.seed, "evals": evaluations(Path(r.run), int(r.identity["step"])), "run": r.run}
                        for r in recs],
            "pixels": [r.metrics["baseline/pixels_acc"] for r in recs if "baseline/pixels_acc" in r.metrics],
        }  # fmt: skip
    return out


def references(records: list[Record], curves: dict[str, dict[str, Any]], fid: str | None) -> list[Reference]:
    """The reference lines: k-means on raw pixels per dataset, and the untrained networks of the runs that evaluated
    at step 0, pooled as the leaderboard's step-0 rows (:func:`harness.runs.start_results.start_records`)."""
    datasets = sorted({c["dataset"] for c in curves.values()})
    refs = []
    for dataset in datasets:
        pixels = sorted({v for c in curves.values() if c["dataset"] == dataset for v in c["pixels"]})
        if pixels:
            refs.append(pixel_reference(statistics.fmean(pixels), dataset if len(datasets) > 1 else ""))
    starts = group(start_records(records))
    cells = identity_cells([(g[0].label, g[0].flat) for g in starts.values()])
    for recs, shown in zip(starts.values(), cells, strict=True):
        parts = ", ".join(f"{name}={value}" for name, value in shown.items() if value and name != "step")
        where = f" {recs[0].dataset}" if len(datasets) > 1 else ""
        acc = [r.metrics["eval/acc"] for r in recs if "eval/acc" in r.metrics]
        fids = [r.metrics[fid] for r in recs if fid and fid in r.metrics]
        if acc:
            name = recs[0].label + (f" {parts}" if parts else "") + where
            refs.append(start_reference(name, len(acc), statistics.fmean(acc), statistics.fmean(fids) if fids else None,
                                        str(recs[0].flat.get("method"))))  # fmt: skip
    return refs


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
        out[str(folder)] = {"label": label, "method": cfg.method, "dataset": Path(cfg.data.dataset).stem, "pixels": [],
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


def plot(
    curves: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    fid: str | None,
    out: Path,
    refs: list[Reference] | None = None,
) -> Any:
    """ACC and FID by step (saved to ``out``, returned): a line per curve with its band (mean ± sample std over
    seeds, as in the tables), the references (:func:`references`) as labelled lines, the ACC axis at least 0.2 wide
    and a linear FID axis from 0; one legend under both panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    refs = refs or []
    fig, (ax_acc, ax_fid) = plt.subplots(1, 2, figsize=(12, 6.2), layout="constrained")
    labels = list(dict.fromkeys(r["curve"] for r in rows))
    # more curves than the default cycle's 10 colours: 20 distinct ones, so no two lines share one
    colours: dict[str, Any] = {c: plt.cm.tab20(i % 20) for i, c in enumerate(labels)} if len(labels) > 10 else {}
    method_of = {f"{c['label']} (n={len(c['members'])})": c.get("method") for c in curves.values()}
    by_method: dict[str, Any] = {}  # a method's first line's colour: its untrained networks' line
    extent: dict[str, list[float]] = {"eval/acc": [], "fid": []}
    for metric, ax in (("eval/acc", ax_acc), (fid, ax_fid)):
        for label in dict.fromkeys(r["curve"] for r in rows if r["metric"] == metric):
            mine = [r for r in rows if r["curve"] == label and r["metric"] == metric]
            steps, mean, sd = [r["step"] for r in mine], [r["mean"] for r in mine], [r["std"] for r in mine]
            line = ax.plot(steps, mean, marker="o", ms=3, label=label, color=colours.get(label))[0]
            colours[label] = line.get_color()
            by_method.setdefault(str(method_of.get(label)), line.get_color())
            low = [m - s for m, s in zip(mean, sd, strict=True)]
            high = [m + s for m, s in zip(mean, sd, strict=True)]
            ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.15)
            extent["eval/acc" if metric == "eval/acc" else "fid"] += low + high
    ax_acc.set(xlabel="training step", ylabel="ACC (Hungarian), higher is better")
    ax_acc.set_ylim(*score_limits(extent["eval/acc"] + draw_references(ax_acc, refs, by_method)))
    if fid:
        drawn = draw_references(ax_fid, refs, by_method, at="fid")
        means = [r["mean"] for r in rows if r["metric"] == fid]
        log = bool(means) and min(means) > 0 and max(means) / min(means) > 30  # the untrained G's FID (step 0)
        ax_fid.set(xlabel="training step", ylabel=f"FID ({fid.removeprefix('eval/fid_')} features), lower is better"
                   + (" (log scale)" if log else ""), yscale="log" if log else "linear")  # fmt: skip
        if not log:
            ax_fid.set_ylim(*fid_limits(extent["fid"] + drawn))
    else:
        ax_fid.set(xlabel="training step", ylabel="FID")
        ax_fid.text(0.5, 0.5, "no FID measured in these runs", ha="center", transform=ax_fid.transAxes)
    counts = [len(c["members"]) for c in curves.values()]
    handles, names = ax_acc.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=3 if len(names) > 8 else 2, fontsize=7,
               title=spread_caption("bands", counts) + "; n of each line in its label", title_fontsize=7)  # fmt: skip
    datasets = sorted({c["dataset"] for c in curves.values()})
    gaps = missing_references(refs)
    fig.suptitle(f"{', '.join(datasets)}: learning curves, one line per result identity"
                 + (f"\n{gaps}" if gaps else ""), fontsize=9)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return fig


def log_wandb(out: Path, table: list[dict[str, Any]], mode: str, project: str, group: str = "") -> None:
    """The curves as a W&B run kept beside ``out`` (one id: drawing them again updates it), in ``group``."""
    if mode == "disabled" or not table:
        return
    import wandb

    from harness.runs.track import analysis_run, summary_run_id

    run_id = summary_run_id(out.parent, f"curves-{out.stem}")
    run = analysis_run(out.parent, mode, project, f"curves {out.stem}", "curves", group=group or None, id=run_id,
                       resume="allow")  # fmt: skip
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
    parser.add_argument("--group", default=None, help="W&B group of its run (default: the sweep of the roots, if one)")
    parser.add_argument("--running", action="store_true", help="also runs that have not finished, each alone")
    args = parser.parse_args(argv)
    where = ", ".join(map(str, args.roots))
    records = finished(args.roots)
    curves = runs(records)
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
    plot(curves, rows, fid, args.out, references(records, curves, fid))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**r, "mean": f"{r['mean']:.4f}", "std": f"{r['std']:.4f}"} for r in rows)
    args.out.with_suffix(".csv").write_text(buf.getvalue())
    group = sweep_group(args.roots) if args.group is None else args.group
    log_wandb(args.out, rows, args.log_wandb, args.project, group)
    empty = len(curves) - len(drawn)
    note = f"; {empty} result(s) with no evaluation at every seed's steps not drawn" if empty else ""
    print(f"wrote {args.out} and {args.out.with_suffix('.csv')} ({len(drawn)} curves{note})")
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.commands.cli import run_command

    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
