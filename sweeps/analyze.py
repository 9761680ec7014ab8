"""Summarise a sweep folder: results.csv, the table per result identity, ACC-FID curves, Pareto set, W&B.

    python -m sweeps.analyze <sweep folder> [--wandb offline|online|disabled]

Reads Tune's per-trial files (``tune/<name>/*/params.json`` and ``result.json``) and the trials' run
folders directly, so it needs no running Ray and works on any copy of the folder. Writes
``results.csv`` (one row per trial, with its run's result identity where the run folder is visible and
``duplicate_of`` for a run counted under another trial), ``aggregate.csv``/``.md`` (per result
identity: mean, sample std over seeds and n), ``curves.csv``, ``pareto.csv`` and ``tradeoff.png`` (ACC
against FID as each method's disentanglement weight grows, the paper's Figure 3, with k-means on raw pixels and the
untrained networks as reference lines), ``worst/<point>.png`` (Figure 3 b, c: per point whose run folders are
visible, the generated images the dataset's classifier finds least like their code's class, collapsed codes framed;
:mod:`scripts.worst_samples`; ``--no-worst`` skips them), ``comparison.csv``/``.md`` where CoDeGAN and InfoGAN were
both swept, and logs them to a W&B run of job type ``analysis`` in the sweep file's project and group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from harness.commands.cli import command_parser
from harness.config import ConfigError, build_config
from harness.core.errors import RunError
from harness.runs.lock import RunLock
from harness.runs.results import (
    ONE_NOTE,
    STD_NOTE,
    distinguishing,
    flat_identity,
    lower_is_better,
    method_label,
    pm,
    pool,
    short_names,
    show,
    spread,
)
from scripts import worst_samples
from scripts.figure_marks import (
    Reference,
    draw_references,
    fid_limits,
    missing_references,
    n_text,
    pixel_reference,
    score_limits,
    spread_caption,
    start_reference,
)
from sweeps import contrast
from sweeps.folders import SPEC_COPY
from sweeps.plugins import load_recorded_plugins
from sweeps.spec import SweepSpec, default_weight_keys, load_spec


def _reports(trial_dir: Path) -> list[dict[str, Any]]:
    path = trial_dir / "result.json"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fid_key(columns: list[str]) -> str | None:
    """The FID the curves use: Inception's when measured, else the domain extractor's."""
    for key in ("final/eval/fid_inception", "final/eval/fid_domain"):
        if key in columns:
            return key
    others = sorted(c for c in columns if c.startswith("final/eval/fid_"))
    return others[0] if others else None


def _set_final(row: dict[str, Any], metrics: dict[str, Any], update_best: bool = False) -> None:
    """Copy a run's final metrics into ``row`` as ``final/...`` (and, asked to, fold them into ``best/...``)."""
    for key, value in metrics.items():
        if not (key.startswith(("eval/", "baseline/", "perf/")) and isinstance(value, (int, float))):
            continue
        row[f"final/{key}"] = value
        best = row.get(f"best/{key}")
        if update_best and best is not None:
            row[f"best/{key}"] = (min if lower_is_better(key) else max)(best, value)


def _set_identity(row: dict[str, Any], info: dict[str, Any]) -> None:
    """The run's result identity (what a table may pool as seeds), from its summary."""
    if "identity" not in info:
        return
    row.update({"result_key": info.get("result_key"), "run_hash": info.get("run_hash"),
                "dataset": info.get("dataset"), "identity": json.dumps(info["identity"], sort_keys=True)})  # fmt: skip


def trial_rows(folder: Path) -> pd.DataFrame:
    """One row per trial: swept values, final and best metrics, status, wall times, node, the run's result
    identity (where its run folder is visible) and ``duplicate_of`` (see :func:`mark_duplicates`)."""
    rows = []
    for trial_dir in sorted(p for p in (folder / "tune").glob("*/*") if (p / "params.json").is_file()):
        params = json.loads((trial_dir / "params.json").read_text())["trial"]
        reports = _reports(trial_dir)
        row: dict[str, Any] = {"trial": trial_dir.name, **{f"param/{k}": v for k, v in params.items()}}
        row["method"], row["seed"] = params.get("method"), params.get("seed", 0)
        if reports:
            last = reports[-1]
            row["trial_id"], row["node"], row["reports"] = last.get("trial_id"), last.get("node"), len(reports)
            row["trial_wall_s"] = last.get("time_total_s")
            _set_final(row, last)
            first = reports[0]
            if first.get("step") == 0:  # train.eval_at_start: the untrained networks
                row.update({f"start/{k}": v for k, v in first.items() if k.startswith("eval/")})
            for key in {k for r in reports for k in r if k.startswith("eval/") and not k.endswith("_std")}:
                values = [r[key] for r in reports if isinstance(r.get(key), (int, float))]
                if values:
                    row[f"best/{key}"] = min(values) if lower_is_better(key) else max(values)
            run_dir = Path(last.get("run_dir", ""))
            summary = run_dir / "summary.json"  # visible where run folders are on shared storage
            row["run_dir"] = str(run_dir)
            # the final report carries the run's result (perf/train_s); a stopped trial never sends it
            row["status"] = "complete" if "perf/train_s" in last else "stopped"
            row["train_s"] = last.get("perf/train_s")
            row["step"] = last.get("step")
            if summary.is_file():
                info = json.loads(summary.read_text())
                _set_identity(row, info)
                if row["status"] == "stopped" and info.get("status") == "complete":  # final report lost
                    row["status"], row["train_s"] = "complete", info["metrics"].get("perf/train_s")
                    _set_final(row, info["metrics"], update_best=True)
                row["run_wall_s"] = info.get("wall_time_s")
                if row.get("trial_wall_s") is not None and row["run_wall_s"] is not None:
                    row["tune_overhead_s"] = row["trial_wall_s"] - row["run_wall_s"]
        else:
            row["status"] = "no result"
        if (trial_dir / "error.txt").is_file() and row["status"] != "complete":
            row["status"] = "error"
        rows.append(row)
    return mark_duplicates(pd.DataFrame(rows))


def mark_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """``duplicate_of``: the trial already counted for the same run (the same run folder, or the same trained
    model: its run hash, else, where the run folder is not visible, the same swept values and seed); tables
    count one trial per run, a complete one first."""
    df = df.copy()
    df["duplicate_of"] = ""
    if df.empty:
        return df
    params = [c for c in df.columns if c.startswith("param/")]
    rank = {"complete": 0, "stopped": 1, "error": 2, "no result": 3}
    order = sorted(df.index, key=lambda i: (rank.get(df.at[i, "status"], 4), df.at[i, "trial"]))
    kept: dict[str, str] = {}
    for i in order:
        run_dir = df.at[i, "run_dir"] if "run_dir" in df else None
        run_hash = df.at[i, "run_hash"] if "run_hash" in df else None
        names = [f"dir {run_dir}"] if isinstance(run_dir, str) else []
        if isinstance(run_hash, str):
            names.append(f"run {run_hash}")
        else:
            names.append(f"params {json.dumps({c: _plain(df.at[i, c]) for c in params}, sort_keys=True)}")
        first = next((kept[n] for n in names if n in kept), None)
        if first is not None:
            df.at[i, "duplicate_of"] = first
        for n in names:
            kept.setdefault(n, df.at[i, "trial"])
    return df


def _plain(value: Any) -> Any:
    """A cell as a plain Python value (numpy scalars unwrapped, NaN as None)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and pd.isna(value) else value


def swept_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("param/") and c != "param/seed"]


GROUP_INFO = ("n", "seeds", "result_key")


def _params_key(row: pd.Series, keys: list[str]) -> str:
    return "swept " + json.dumps({k: _plain(row[k]) for k in keys}, sort_keys=True, default=str)


def _joined(values: pd.Series) -> Any:
    """One value per group: the value, or the distinct values joined (a swept key outside the identity)."""
    distinct = list(dict.fromkeys(_plain(v) for v in values))
    distinct = [v for v in distinct if v is not None]
    if not distinct:
        return "-"
    return distinct[0] if len(distinct) == 1 else ", ".join(map(str, distinct))


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample std (ddof = 1) and n of every final metric per result identity: the run folders'
    result keys, else (run folders not visible) the swept values other than the seed. A run counts once
    (``duplicate_of``). Columns: swept values, the dataset and step, the identity parts that differ
    between points of one method (or, for step, launch, evaluation and data, between any two), n, seeds."""
    keys = swept_columns(df)
    metrics = [c for c in df.columns if c.startswith("final/eval/") and not c.endswith("_std")]
    done = df[df["status"] == "complete"] if "status" in df else df
    if "duplicate_of" in done:
        done = done[done["duplicate_of"].fillna("") == ""]
    if done.empty or not metrics:
        return pd.DataFrame()
    done = done.assign(
        group=[
            rk if isinstance(rk, str) and rk else _params_key(row, keys)
            for rk, (_, row) in zip(done.get("result_key", [None] * len(done)), done.iterrows(), strict=True)
        ]
    )
    rows, flats = [], []
    run_of = done["run_hash"] if "run_hash" in done else pd.Series(dtype=object)
    pooled = pool(  # results.pool: by result key, a trained run once (a trial without a visible run folder: itself)
        list(done.index),
        lambda i: done.at[i, "group"],
        lambda i: run_of.get(i) if isinstance(run_of.get(i), str) and run_of.get(i) else f"trial {i}",
    )
    for group_key, index in pooled.items():
        part = done.loc[index]
        row: dict[str, Any] = {k: _joined(part[k]) for k in keys}
        row["dataset"] = _joined(part["dataset"]) if "dataset" in part else "-"
        row["step"] = _joined(part["step"]) if "step" in part else "-"
        for m in metrics:
            values = part[m].dropna().astype(float)
            name = m.removeprefix("final/")
            mean, sd = spread(list(values)) if len(values) else (float("nan"), None)  # results.spread: ddof = 1
            row[f"{name}_mean"], row[f"{name}_std"] = mean, float("nan") if sd is None else sd
        row["n"] = len(part)
        row["seeds"] = ", ".join(str(s) for s in sorted(part["seed"].dropna().astype(int).unique()))
        row["result_key"] = group_key if not str(group_key).startswith("swept ") else ""
        ident = part["identity"].dropna() if "identity" in part else pd.Series(dtype=object)
        flats.append((row.get("param/method", "-"), flat_identity(json.loads(ident.iloc[0])) if len(ident) else None))
        rows.append(row)
    out = pd.DataFrame(rows)
    shown = [k for k in distinguishing([(m, f) for m, f in flats if f is not None])
             if f"param/{k}" not in out.columns and k != "step"]  # fmt: skip
    for k in shown:
        out[k] = [show(f.get(k)) if f is not None else "-" for _, f in flats]
    first = [*keys, "dataset", "step", *shown, "n"]
    return out[[*first, *[c for c in out.columns if c not in first]]]


def identity_columns(agg: pd.DataFrame) -> list[str]:
    """The identity parts :func:`aggregate` shows beside the swept values."""
    return [c for c in agg.columns if "/" not in c and c not in (*GROUP_INFO, "dataset", "step")]


COLLAPSED = "collapsed_codes_"  # eval/collapsed_codes_<extractor>: harness.metrics.per_code
COLLAPSED_NOTE = (
    " Collapsed codes: of the K class codes, how many the extractor finds collapsed (fewer than 0.1 of the matched"
    " class's real images inside the code's samples' manifold, or fewer than half its samples in that class)."
    " Worst code's FID: the largest of the codes' FIDs, each code's samples against its matched class's real images"
    " (biased upwards at few samples per code: compare it only between rows of the same FID sample count and K)."
)


def aggregate_markdown(agg: pd.DataFrame) -> str:
    """The aggregate table in short (swept values, dataset, step, differing identity parts, n, the main
    scores as mean ± sample std), with its note; ``aggregate.csv`` has every column."""
    if agg.empty:
        return "(no completed trials)\n"
    params = [c for c in agg.columns if c.startswith("param/")]
    params = sorted(params, key=lambda c: c != "param/method")
    names = short_names([c.removeprefix("param/") for c in params])
    table = pd.DataFrame({names[c.removeprefix("param/")]: agg[c] for c in params})
    for c in ["dataset", "step", *identity_columns(agg), "n"]:
        table[short_names([c]).get(c, c)] = agg[c]
    scores = ["acc", "purity", "nmi", "ari"] + sorted(
        c.removeprefix("eval/").removesuffix("_mean")
        for c in agg.columns
        if c.startswith("eval/fid_") and c.endswith("_mean")
    )
    for s in scores:
        if f"eval/{s}_mean" in agg:
            digits = 2 if s.startswith("fid_") else 3
            table[s.upper() if not s.startswith("fid_") else f"FID ({s[4:]})"] = [
                pm(m, sd, digits) for m, sd in zip(agg[f"eval/{s}_mean"], agg[f"eval/{s}_std"], strict=True)
            ]
    collapsed = sorted(c for c in agg.columns if c.startswith(f"eval/{COLLAPSED}") and c.endswith("_mean"))
    for c in collapsed:  # the paper's claim, per code: how many of the K codes an extractor finds collapsed
        name = c.removeprefix(f"eval/{COLLAPSED}").removesuffix("_mean")
        table[f"collapsed codes ({name})"] = [pm(m, sd, 1) for m, sd in zip(agg[c], agg[f"{c[:-5]}_std"], strict=True)]
        worst = f"eval/code_fid_max_{name}"
        if f"{worst}_mean" in agg:
            table[f"worst code's FID ({name})"] = [
                pm(m, sd, 2) for m, sd in zip(agg[f"{worst}_mean"], agg[f"{worst}_std"], strict=True)
            ]
    table["result"] = agg["result_key"]
    note = (
        "One row per result identity (training config without the seed, step, world size, precision, evaluation"
        " settings, data); swept values that are not part of it (the seed) are pooled. "
        + STD_NOTE
        + " "
        + ONE_NOTE
        + (COLLAPSED_NOTE if collapsed else "")
        + " Every column (and KID, IS, argmax scores): aggregate.csv."
    )
    return table.to_markdown(index=False) + "\n\n" + note + "\n"


def curves(agg: pd.DataFrame, weight_keys: dict[str, str]) -> pd.DataFrame:
    """Each method's points ordered by its disentanglement weight (other swept values and differing identity
    parts split curves)."""
    if agg.empty:
        return agg
    rows = []
    extra = identity_columns(agg)
    for _, r in agg.iterrows():
        weight_key = weight_keys.get(r["param/method"])
        col = f"param/{weight_key}" if weight_key else None
        if col is None or col not in agg.columns or r[col] == "-":
            continue
        others = [c for c in swept_columns(agg) if c not in (col, "param/method") and r[c] != "-"]
        label = r["param/method"] + "".join(f" {c.split('.')[-1]}={r[c]}" for c in others)
        label += "".join(f" {short_names(extra)[c]}={r[c]}" for c in extra if r[c] not in ("-", ""))
        rows.append(
            {"curve": label, "method": r["param/method"], "weight_key": weight_key, "weight": float(r[col]), **r}
        )
    return pd.DataFrame(rows).sort_values(["curve", "weight"]) if rows else pd.DataFrame()


def pareto(points: pd.DataFrame, fid: str) -> pd.DataFrame:
    """Points no other point beats on both ACC (higher) and FID (lower)."""
    if points.empty or fid not in points:
        return pd.DataFrame()
    return contrast.front(points, "eval/acc_mean", fid)


# where a point's label may go (offset in points), tried in turn from a start that alternates per curve
OFFSETS = ((6, 4), (6, -11), (-18, 4), (-18, -11), (-6, 9), (-6, -17), (12, -4), (-26, -4))


LABEL_BOX = {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.9}


def place_labels(fig: Any, ax: Any, labels: list[tuple[float, float, str, Any, int]]) -> None:
    """Label each point beside it where the label overlaps no other label or point (first free offset)."""
    renderer = fig.canvas.get_renderer()
    points = [ax.transData.transform((x, y)) for x, y, *_ in labels]
    taken = [matplotlib_bbox(px - 9, py - 9, px + 9, py + 9) for px, py in points]  # marker and Pareto ring
    frame = ax.get_window_extent(renderer)
    for x, y, text, color, curve in labels:
        for k in range(len(OFFSETS)):
            dx, dy = OFFSETS[(curve + k) % len(OFFSETS)]
            note = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, color=color,
                               bbox=LABEL_BOX, zorder=5)  # fmt: skip
            box = note.get_window_extent(renderer)
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(t) for t in taken):
                break
            if k < len(OFFSETS) - 1:
                note.remove()
        taken.append(box)


def matplotlib_bbox(x0: float, y0: float, x1: float, y1: float) -> Any:
    from matplotlib.transforms import Bbox

    return Bbox([[x0, y0], [x1, y1]])


def _span(values: pd.Series, unit: str) -> str:
    numbers = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").dropna()  # "-": not reached
    distinct = sorted({int(v) if float(v).is_integer() else float(v) for v in numbers})
    if not distinct:
        return f"? {unit}"
    text = f"{distinct[0]:,}" if len(distinct) == 1 else f"{distinct[0]:,}–{distinct[-1]:,}"
    return f"{text} {unit}"


def plot_title(curve_df: pd.DataFrame) -> str:
    """Dataset, step count and seeds per point of a trade-off plot."""
    datasets = ", ".join(sorted({str(d) for d in curve_df.get("dataset", []) if d not in ("-", "")})) or "?"
    return (
        f"{datasets}: ACC against the disentanglement weight and FID after {_span(curve_df['step'], 'steps')},"
        f" n = {_span(curve_df['n'], 'seeds')} per point"
    )


def weight_label(curve_df: pd.DataFrame) -> str:
    """The weight axis: each method's own weight key, named once (``CoDeGAN's beta_c, InfoGAN's lambda_mi``)."""
    parts = sorted({(method_label({"method": r.method}), r.weight_key.split(".")[-1]) for r in curve_df.itertuples()})
    return ", ".join(f"{method}'s {key}" for method, key in parts) + " (log scale)"


def references(results: pd.DataFrame, start: pd.DataFrame) -> list[Reference]:
    """The plot's reference lines: k-means on raw pixels of each dataset (where the runs computed it) and each
    method's untrained networks (where the runs evaluated at step 0, :func:`sweeps.contrast.start_rows`)."""
    refs = []
    done = results[results["status"] == "complete"] if "status" in results else results
    column = "final/baseline/pixels_acc"
    if column in done:
        found: dict[str, set[float]] = {}
        for dataset, value in zip(done.get("dataset", [""] * len(done)), done[column], strict=True):
            if pd.notna(value):
                found.setdefault(dataset if isinstance(dataset, str) else "", set()).add(float(value))
        for dataset, values in sorted(found.items()):  # runs of one dataset and k-means setting share one value
            refs.append(pixel_reference(sum(values) / len(values), dataset if len(found) > 1 else ""))
    for r in start.itertuples() if not start.empty else []:
        if pd.notna(r.acc_mean):
            name = method_label({"method": r.method}) + r.label.removeprefix(r.method)
            refs.append(start_reference(name, int(r.n), r.acc_mean, r.fid_mean, r.method))
    return refs


def plot(
    curve_df: pd.DataFrame, joint: pd.DataFrame, fid: str | None, out: Path, refs: list[Reference] | None = None
) -> Any:
    """The trade-off figure (saved to ``out``, returned): ACC against each method's weight and, with an FID,
    ACC against FID with each method's own Pareto front (dashed) and the joint Pareto set (rings). Error bars are
    the sample std over seeds on both axes (none for n = 1), as in the tables; ``refs`` (:func:`references`) are
    labelled lines; the ACC axis spans at least 0.2 and a linear FID axis starts at 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.container import ErrorbarContainer

    refs = refs or []
    panels = 2 if fid else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 6.4), squeeze=False, layout="constrained")
    left = axes[0][0]
    acc_label = "ACC (Hungarian), mean ± sample std; higher is better"
    bars = spread_caption("error bars", curve_df["n"])
    colours: dict[str, Any] = {}  # a method's first curve's colour: its untrained networks' line
    accs: list[float] = []  # every ACC drawn, error bars and references included: the axis range
    fids: list[float] = []
    labels: list[tuple[float, float, str, Any, int]] = []  # FID, ACC, weight, colour, curve
    for i, (curve, c) in enumerate(curve_df.groupby("curve", sort=True)):
        method = c["method"].iloc[0]
        label = f"{method_label({'method': method})}{curve.removeprefix(method)} ({n_text(c['n'])})"
        yerr = c["eval/acc_std"].fillna(0)
        accs += [*(c["eval/acc_mean"] - yerr), *(c["eval/acc_mean"] + yerr)]
        line = left.errorbar(c["weight"], c["eval/acc_mean"], yerr=yerr, marker="o", capsize=3, label=label)
        colours.setdefault(method, line[0].get_color())
        if not fid:
            continue
        ax2 = axes[0][1]
        color = line[0].get_color()
        xerr = c[fid.replace("_mean", "_std")].fillna(0)
        fids += [*(c[fid] + xerr)]
        ax2.errorbar(c[fid], c["eval/acc_mean"], xerr=xerr, yerr=yerr, marker="o", capsize=3, color=color, label=label)
        own = contrast.front(c.dropna(subset=[fid, "eval/acc_mean"]), "eval/acc_mean", fid)
        if len(own) > 1:  # the method's own Pareto front, as a staircase through its non-dominated points
            ax2.step(own[fid], own["eval/acc_mean"], where="post", color=color, linestyle="--", linewidth=1, alpha=0.7)
        labels += [(p[fid], p["eval/acc_mean"], f"{p['weight']:g}", color, i) for _, p in c.iterrows()]
    accs += draw_references(left, refs, colours)
    acc_range = score_limits(accs)
    ticks = sorted(curve_df["weight"].unique())
    left.set(xscale="log", xlabel=weight_label(curve_df), ylabel=acc_label)
    left.set_xticks(ticks, [f"{t:g}" for t in ticks])
    left.minorticks_off()
    left.margins(x=0.08)
    left.set_ylim(*acc_range)
    left.set_title("ACC against the disentanglement weight", fontsize=9)
    legend_from = left
    if fid:
        ax2 = axes[0][1]
        if not joint.empty:
            ax2.scatter(
                joint[fid], joint["eval/acc_mean"], s=160, facecolors="none", edgecolors="k", label="joint Pareto set"
            )
        values = curve_df[fid].dropna()
        if len(values) and values.min() > 0 and values.max() / values.min() > 30:
            ax2.set_xscale("log")
            ax2.margins(x=0.1)
        else:
            ax2.set_xlim(*fid_limits(fids))
        draw_references(ax2, refs, colours, fid_axis=True)
        ax2.set_ylim(*acc_range)
        name = fid.removesuffix("_mean").removeprefix("eval/fid_")
        ax2.set(xlabel=f"FID ({name} features), mean ± sample std; lower is better ←", ylabel=acc_label)
        ax2.set_title("ACC against FID, each point labelled with its weight", fontsize=9)
        legend_from = ax2
    handles, names = legend_from.get_legend_handles_labels()
    first = [i for i, h in enumerate(handles) if isinstance(h, ErrorbarContainer)]  # the curves, then the rest
    order = first + [i for i in range(len(handles)) if i not in first]
    handles, names = [handles[i] for i in order], [names[i] for i in order]
    fig.legend(handles, names, loc="outside lower center", ncol=2, fontsize=7, title=bars, title_fontsize=7)
    title = plot_title(curve_df)
    gaps = missing_references(refs)
    fig.suptitle(title + (f"\n{gaps}" if gaps else ""), fontsize=10)
    if fid:
        fig.canvas.draw()  # the layout first: labels are placed where the points end up
        place_labels(fig, axes[0][1], labels)
    fig.savefig(out, dpi=120, metadata={"Title": title, "Description": f"{STD_NOTE} {bars}"})
    plt.close(fig)
    return fig


def log_wandb(
    folder: Path,
    name: str,
    mode: str,
    tables: dict[str, pd.DataFrame],
    image: Path | None,
    project: str,
    worst: dict[str, Path] | None = None,
) -> None:
    """The analysis as a W&B run of job type ``analysis`` in the sweep's project and group (``worst``: the worst
    images' figures by point)."""
    if mode == "disabled":
        return
    import wandb

    from harness.runs.track import analysis_run, summary_run_id

    run = analysis_run(
        folder, mode, project, f"{name}-analysis", group=name, id=summary_run_id(folder, "analysis"), resume="allow"
    )
    for key, df in tables.items():
        if not df.empty:  # W&B columns take one type: swept values mix numbers with "-" (not swept)
            mixed = [c for c in df.columns if df[c].dtype == object or c.startswith("param/")]
            run.log({key: wandb.Table(dataframe=df.astype({c: str for c in mixed}))})
    cur = tables.get("curves", pd.DataFrame())
    fid = (
        next((c for c in cur.columns if c.startswith("eval/fid_") and c.endswith("_mean")), None)
        if not cur.empty
        else None
    )
    if not cur.empty:
        cols = ["curve", "weight", "eval/acc_mean", *([fid] if fid else [])]
        table = wandb.Table(dataframe=cur[cols])
        run.log(
            {
                "tradeoff/acc_vs_weight": wandb.plot.line(
                    table, "weight", "eval/acc_mean", stroke="curve", title="ACC against the disentanglement weight"
                )
            }
        )
        if fid:
            run.log({"tradeoff/acc_vs_fid": wandb.plot.scatter(table, fid, "eval/acc_mean", title="ACC against FID")})
    if image is not None and image.is_file():
        run.log({"tradeoff/plot": wandb.Image(str(image))})
    for point, path in (worst or {}).items():
        run.log({f"worst/{point}": wandb.Image(str(path))})
    run.finish()


def _fill_datasets(results: pd.DataFrame, spec: SweepSpec | None) -> pd.DataFrame:
    """The dataset of trials whose run folder is not visible, from the sweep file's preset and values."""
    if spec is None or results.empty:
        return results
    results = results.copy()
    if "dataset" not in results:
        results["dataset"] = None
    for i, row in results.iterrows():
        if isinstance(row["dataset"], str) or row.get("method") not in spec.presets:
            continue
        values = {k.removeprefix("param/"): _plain(v) for k, v in row.items() if k.startswith("param/")}
        values = {k: v for k, v in values.items() if v is not None}
        try:
            cfg = build_config(spec.presets[row["method"]], values={**spec.overrides, **values}, trusted_values=True)
        except ConfigError:
            continue
        results.at[i, "dataset"] = Path(cfg.data.dataset).stem
    return results


def analyze(
    folder: Path,
    spec: SweepSpec | None = None,
    wandb_mode: str | None = None,
    out: Path | None = None,
    worst: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """The sweep's tables and pictures, written into ``out`` (the sweep folder itself unless given); ``worst``: the
    worst images of each point too (:func:`scripts.worst_samples.sweep_figures`; None: as the sweep file's
    ``worst_images`` says, by default yes)."""
    source = Path(folder)
    folder = Path(out) if out is not None else source
    folder.mkdir(parents=True, exist_ok=True)
    spec = spec or (load_spec(source / SPEC_COPY) if (source / SPEC_COPY).is_file() else None)
    weight_keys = spec.weight_keys if spec else default_weight_keys()
    results = _fill_datasets(trial_rows(source), spec)
    results.to_csv(folder / "results.csv", index=False)
    agg = aggregate(results)
    agg.to_csv(folder / "aggregate.csv", index=False)
    cur = curves(agg, weight_keys)
    cur.to_csv(folder / "curves.csv", index=False)
    fid = fid_key([c for c in results.columns])
    start = contrast.start_rows(results, fid, weight_keys) if fid else pd.DataFrame()
    (folder / "aggregate.md").write_text(aggregate_markdown(agg) + (contrast.start_markdown(start, fid) if fid else ""))
    fid_mean = f"{fid.removeprefix('final/')}_mean" if fid else None
    front = pareto(cur, fid_mean) if fid_mean else pd.DataFrame()
    front.to_csv(folder / "pareto.csv", index=False)
    image = folder / "tradeoff.png"
    if not cur.empty:
        plot(cur, front, fid_mean if fid_mean in cur else None, image, references(results, start))
    tables_extra = _contrast(folder, results, cur, weight_keys, fid, start)
    if worst is None:
        worst = spec.worst_images if spec else True
    worst_figures = worst_samples.sweep_figures(results, folder / "worst") if worst else {}
    mode = wandb_mode or (spec.wandb["mode"] if spec else "offline")
    project = spec.wandb["project"] if spec else "codegan-bench"
    tables = {"results": results, "aggregate": agg, "curves": cur, "pareto": front, "start": start, **tables_extra}
    log_wandb(folder, spec.name if spec else folder.name, mode, tables, image if not cur.empty else None, project,
              worst_figures)  # fmt: skip
    return tables


RUNNING = "running"  # where the analysis of a sweep still running goes
CONTRAST = ("codegan", "infogan")  # the paper's Figure 3 claim: CoDeGAN against InfoGAN


def _contrast(
    folder: Path,
    results: pd.DataFrame,
    cur: pd.DataFrame,
    weight_keys: dict[str, str],
    fid: str | None,
    start: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """``comparison.csv``/``.md`` (sweeps/contrast.py) where both methods of :data:`CONTRAST` were swept."""
    a, b = CONTRAST
    methods = set(results["method"]) if "method" in results else set()
    if fid is None or not {a, b} <= methods:
        return {}
    table = contrast.compare(results, a, b, weight_keys, fid)
    table.to_csv(folder / "comparison.csv", index=False)
    fronts = contrast.fronts_sentence(cur, f"{fid.removeprefix('final/')}_mean")
    why = contrast.no_comparison(results, a, b, weight_keys) if table.empty else ""
    (folder / "comparison.md").write_text(contrast.markdown(table, a, b, fid, fronts, start, why))
    return {"comparison": table}


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-sweep-analyze", "sweeps.analyze", __doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--wandb", default=None, choices=["offline", "online", "disabled"])
    parser.add_argument("--no-worst", action="store_true", help="no worst-images figures (they load each checkpoint)")
    args = parser.parse_args(argv)
    if not (args.folder / "tune").is_dir():
        raise ConfigError(f"{args.folder} is not a sweep folder (no tune/)")
    load_recorded_plugins(args.folder)
    lock = RunLock(args.folder, "sweep folder")
    try:
        lock.acquire()  # no driver is running: the final tables are ours to write, and none starts meanwhile
    except RunError:  # the driver is running: the trials so far, beside its tables, which it writes when it ends
        partial = args.folder / RUNNING
        print(f"the sweep is still running ({lock.holder()}): tables of the trials so far go to {partial}/")
        out = analyze(args.folder, wandb_mode="disabled", out=partial, worst=False)
    else:
        try:
            out = analyze(args.folder, wandb_mode=args.wandb, worst=False if args.no_worst else None)
        finally:
            lock.release()
    res = out["results"]
    print(f"{len(res)} trials ({int((res.get('status') == 'complete').sum()) if 'status' in res else 0} complete)")
    print(aggregate_markdown(out["aggregate"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.commands.cli import run_command

    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
