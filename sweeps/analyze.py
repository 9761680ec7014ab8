"""Summarise a sweep folder: results.csv, seed-aggregated table, ACC-FID curves, Pareto set, W&B.

    python -m sweeps.analyze <sweep folder> [--wandb offline|online|disabled]

Reads Tune's per-trial files (``tune/<name>/*/params.json`` and ``result.json``) and the trials' run
folders directly, so it needs no running Ray and works on any copy of the folder. Writes
``results.csv`` (one row per trial), ``aggregate.csv``/``.md`` (mean ± std over seeds),
``curves.csv``, ``pareto.csv`` and ``tradeoff.png`` (ACC against FID as each method's disentanglement
weight grows, the paper's Figure 3), and logs them to a W&B run of the sweep's group.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from sweeps.spec import DEFAULT_WEIGHT_KEYS, SweepSpec, load_spec


def lower_is_better(key: str) -> bool:
    return "/fid_" in key or "/kid_" in key


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


def trial_rows(folder: Path) -> pd.DataFrame:
    """One row per trial: swept values, final and best metrics, status, wall times, node."""
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
            if summary.is_file():
                info = json.loads(summary.read_text())
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
    return pd.DataFrame(rows)


def swept_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("param/") and c != "param/seed"]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of every final metric, per setting of the other swept values."""
    keys = swept_columns(df)
    metrics = [c for c in df.columns if c.startswith("final/eval/") and not c.endswith("_std")]
    done = df[df["status"] == "complete"] if "status" in df else df
    if done.empty or not metrics:
        return pd.DataFrame()
    grouped = done.astype({k: object for k in keys}).fillna({k: "-" for k in keys}).groupby(keys, dropna=False)
    out = grouped[metrics].agg(["mean", "std"])
    out.columns = [f"{m.removeprefix('final/')}_{s}" for m, s in out.columns]
    out["runs"] = grouped.size()
    return out.reset_index()


def curves(agg: pd.DataFrame, weight_keys: dict[str, str]) -> pd.DataFrame:
    """Each method's points ordered by its disentanglement weight (other swept values split curves)."""
    if agg.empty:
        return agg
    rows = []
    for _, r in agg.iterrows():
        weight_key = weight_keys.get(r["param/method"])
        col = f"param/{weight_key}" if weight_key else None
        if col is None or col not in agg.columns or r[col] == "-":
            continue
        others = [c for c in swept_columns(agg) if c not in (col, "param/method") and r[c] != "-"]
        label = r["param/method"] + "".join(f" {c.split('.')[-1]}={r[c]}" for c in others)
        rows.append(
            {"curve": label, "method": r["param/method"], "weight_key": weight_key, "weight": float(r[col]), **r}
        )
    return pd.DataFrame(rows).sort_values(["curve", "weight"]) if rows else pd.DataFrame()


def pareto(points: pd.DataFrame, fid: str) -> pd.DataFrame:
    """Points no other point beats on both ACC (higher) and FID (lower)."""
    if points.empty or fid not in points:
        return pd.DataFrame()
    keep = []
    for i, p in points.iterrows():
        dominated = (
            (points["eval/acc_mean"] >= p["eval/acc_mean"])
            & (points[fid] <= p[fid])
            & ((points["eval/acc_mean"] > p["eval/acc_mean"]) | (points[fid] < p[fid]))
        ).any()
        if not dominated:
            keep.append(i)
    return points.loc[keep].sort_values(fid)


def plot(curve_df: pd.DataFrame, front: pd.DataFrame, fid: str | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if fid else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
    for label, c in curve_df.groupby("curve"):
        ax = axes[0][0]
        ax.errorbar(
            c["weight"], c["eval/acc_mean"], yerr=c["eval/acc_std"].fillna(0), marker="o", capsize=3, label=label
        )
        if fid:
            ax2 = axes[0][1]
            ax2.plot(c[fid], c["eval/acc_mean"], marker="o", label=label)
            for _, p in c.iterrows():
                ax2.annotate(
                    f"{p['weight']:g}",
                    (p[fid], p["eval/acc_mean"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    axes[0][0].set(xscale="log", xlabel="disentanglement weight (beta_c / lambda_mi)", ylabel="ACC (Hungarian)")
    axes[0][0].legend(fontsize=7)
    if fid:
        if not front.empty:
            axes[0][1].scatter(
                front[fid], front["eval/acc_mean"], s=120, facecolors="none", edgecolors="k", label="Pareto set"
            )
        axes[0][1].set(xlabel=fid.removesuffix("_mean").removeprefix("eval/").upper(), ylabel="ACC (Hungarian)")
        axes[0][1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def log_wandb(folder: Path, name: str, mode: str, tables: dict[str, pd.DataFrame], image: Path | None) -> None:
    if mode == "disabled":
        return
    import os

    from harness.track import wandb_env

    for key, value in wandb_env(folder).items():
        os.environ[key] = value
        Path(value).mkdir(parents=True, exist_ok=True)
    import wandb

    run = wandb.init(
        mode=mode,
        project="codegan-bench",
        group=name,
        name=f"{name}-analysis",
        dir=str(folder),
        job_type="analysis",
        settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
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
    run.finish()


def analyze(folder: Path, spec: SweepSpec | None = None, wandb_mode: str | None = None) -> dict[str, pd.DataFrame]:
    folder = Path(folder)
    spec = spec or (load_spec(folder / "sweep.yaml") if (folder / "sweep.yaml").is_file() else None)
    weight_keys = spec.weight_keys if spec else dict(DEFAULT_WEIGHT_KEYS)
    results = trial_rows(folder)
    results.to_csv(folder / "results.csv", index=False)
    agg = aggregate(results)
    agg.to_csv(folder / "aggregate.csv", index=False)
    (folder / "aggregate.md").write_text(agg.to_markdown(index=False) if not agg.empty else "(no completed trials)\n")
    cur = curves(agg, weight_keys)
    cur.to_csv(folder / "curves.csv", index=False)
    fid = fid_key([c for c in results.columns])
    fid_mean = f"{fid.removeprefix('final/')}_mean" if fid else None
    front = pareto(cur, fid_mean) if fid_mean else pd.DataFrame()
    front.to_csv(folder / "pareto.csv", index=False)
    image = folder / "tradeoff.png"
    if not cur.empty:
        plot(cur, front, fid_mean if fid_mean in cur else None, image)
    mode = wandb_mode or (spec.wandb["mode"] if spec else "offline")
    log_wandb(folder, spec.name if spec else folder.name, mode, {"results": results, "aggregate": agg, "curves": cur,
              "pareto": front}, image if not cur.empty else None)  # fmt: skip
    return {"results": results, "aggregate": agg, "curves": cur, "pareto": front}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweeps.analyze", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("folder", type=Path)
    parser.add_argument("--wandb", default=None, choices=["offline", "online", "disabled"])
    args = parser.parse_args(argv)
    if not (args.folder / "tune").is_dir():
        print(f"error: {args.folder} is not a sweep folder (no tune/)", file=sys.stderr)
        return 1
    out = analyze(args.folder, wandb_mode=args.wandb)
    res = out["results"]
    print(f"{len(res)} trials ({int((res.get('status') == 'complete').sum()) if 'status' in res else 0} complete)")
    print(out["aggregate"].to_markdown(index=False) if not out["aggregate"].empty else "(no completed trials)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
