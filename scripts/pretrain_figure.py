"""The paper's Fig. 5: CoDeGAN's ACC with and without a pre-trained E_c, per dataset, from sweeps' results.

    python -m scripts.pretrain_figure SWEEP_FOLDER ... [--out FILE] [--wandb offline|online|disabled]

Reads each sweep's ``results.csv`` (a sweep writes it when it ends; ``python -m sweeps.analyze`` writes it again),
pools the trials of all the folders by the analysis's own rule (:func:`sweeps.analyze.aggregate`: one bar per
result identity, a trained run counted once) and draws CoDeGAN's: per dataset, one bar per start of E_c
(``codegan.pretrain``: none is CoDeGAN, simclr is CoDeGAN (self), maml is CoDeGAN (meta), an encoder file by its
name), the mean ACC with error bars of one sample standard deviation over seeds (the tables' spread; n on each bar),
and k-means on raw pixels as each dataset's reference line where the runs computed it. Writes ``pretraining.png``
and ``pretraining.csv`` (the bars) into the sweep folder (several: their parent folder; ``--out`` to choose) and logs
them to a W&B run of job type ``analysis``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from harness.commands.cli import command_parser, run_command
from harness.config import ConfigError
from harness.core.errors import RunError
from harness.runs.results import flat_identity, short_names, show
from scripts.figure_marks import NO_PIXELS, PIXELS_NAME, spread_caption
from sweeps.analyze import aggregate, identity_columns, mark_duplicates
from sweeps.folders import sweep_group

PRETRAIN = "codegan.pretrain"
NOT_LABELS = ("start", PRETRAIN, "pretrain")  # what the start's own name already says


def sweep_results(folders: list[Path]) -> pd.DataFrame:
    """The trials of every sweep folder (their ``results.csv``), a run seen in two folders counted once."""
    frames = []
    for folder in folders:
        path = folder / "results.csv"
        if not path.is_file():
            raise ConfigError(f"{folder}: no results.csv (python -m sweeps.analyze {folder} writes it)")
        frames.append(pd.read_csv(path))
    return mark_duplicates(pd.concat(frames, ignore_index=True).drop(columns=["duplicate_of"], errors="ignore"))


def start_name(pretrain: str) -> str:
    """The bar's name of a ``codegan.pretrain`` value."""
    if pretrain == "none":
        return "CoDeGAN (E_c from scratch)"
    if pretrain == "simclr":
        return "CoDeGAN (self): E_c pre-trained by SimCLR"
    if pretrain == "maml":
        return "CoDeGAN (meta): E_c pre-trained by MAML"
    if "/" in pretrain or pretrain.endswith(".pt"):
        path = Path(pretrain)
        return f"CoDeGAN, E_c from {path.parent.name}/{path.name}"
    return f"CoDeGAN, E_c pre-trained by {pretrain}"


def pretrain_of(row: pd.Series, results: pd.DataFrame) -> str | None:
    """A bar's ``codegan.pretrain``: its runs' identity where a run folder was visible, else the swept value."""
    key = row.get("result_key")
    if isinstance(key, str) and key and "identity" in results:
        for ident in results.loc[results["result_key"] == key, "identity"].dropna():
            return str(flat_identity(json.loads(ident)).get(PRETRAIN, "none"))
    value = row.get(f"param/{PRETRAIN}")
    return None if value is None or value == "-" or (isinstance(value, float) and math.isnan(value)) else str(value)


def bars(results: pd.DataFrame) -> pd.DataFrame:
    """One row per CoDeGAN result identity: dataset, start, label (the start and what else tells it apart), step,
    ACC mean, sample std (NaN for n = 1), n, seeds, result key; ordered by dataset, then from scratch first."""
    agg = aggregate(results)
    if agg.empty or "eval/acc_mean" not in agg:
        return pd.DataFrame()
    agg = agg[agg["param/method"] == "codegan"]
    extra = [c for c in identity_columns(agg) if c not in NOT_LABELS]
    extra += [c for c in agg.columns if c.startswith("param/") and c not in ("param/method", f"param/{PRETRAIN}")]
    names = short_names([c.removeprefix("param/") for c in extra])
    rows = []
    for _, r in agg.iterrows():
        start = pretrain_of(r, results)
        if start is None:
            print(f"left out a CoDeGAN result with no visible run folder and no swept {PRETRAIN}", file=sys.stderr)
            continue
        parts = [f"{names[c.removeprefix('param/')]}={show(r[c])}" for c in extra if show(r[c]) not in ("-", "")]
        rows.append({"dataset": r["dataset"], "start": start, "label": start_name(start)
                     + (f" ({', '.join(parts)})" if parts else ""), "step": r["step"], "acc_mean": r["eval/acc_mean"],
                     "acc_std": r["eval/acc_std"], "n": int(r["n"]), "seeds": r["seeds"],
                     "result_key": r["result_key"]})  # fmt: skip
    if not rows:
        return pd.DataFrame()
    out = pd.DataFrame(rows)
    order = out["start"].map(lambda s: (s != "none", s != "simclr", s))
    return out.assign(order=order).sort_values(["dataset", "order", "label"]).drop(columns="order")


def pixel_references(results: pd.DataFrame) -> dict[str, float]:
    """k-means on raw pixels per dataset, where the runs computed it (every run of a dataset shares the value)."""
    column = "final/baseline/pixels_acc"
    if column not in results or "dataset" not in results:
        return {}
    done = results[results["status"] == "complete"] if "status" in results else results
    return {str(d): float(v.mean()) for d, v in done.groupby("dataset")[column] if v.notna().any()}


def plot(table: pd.DataFrame, pixels: dict[str, float], out: Path) -> Any:
    """Grouped bars (saved to ``out``, returned): per dataset a bar per start, mean ± sample std, n on each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(table["dataset"]))
    labels = list(dict.fromkeys(table.sort_values("start", key=lambda s: s.map({"none": 0, "simclr": 1})
                                                  .fillna(2))["label"]))  # fmt: skip
    colours = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(max(8.0, 2.2 * len(datasets) + 2), 5.8), layout="constrained")
    ticks, tick_labels, handles = [], [], {}
    for g, dataset in enumerate(datasets):
        mine = table[table["dataset"] == dataset]
        width = min(0.8 / len(mine), 0.3)
        xs = [g + width * (i - (len(mine) - 1) / 2) for i in range(len(mine))]
        for x, (_, b) in zip(xs, mine.iterrows(), strict=True):
            sd = b["acc_std"] if pd.notna(b["acc_std"]) else 0.0
            bar = ax.bar(x, b["acc_mean"], width * 0.9, yerr=sd if b["n"] > 1 else None, capsize=4,
                         color=colours[b["label"]])  # fmt: skip
            handles.setdefault(b["label"], bar)
            ax.annotate(f"{b['acc_mean']:.3f}\nn={b['n']}", (x, b["acc_mean"] + sd), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7)  # fmt: skip
        if dataset in pixels:
            span = width * len(mine) / 2 + 0.05
            line = ax.hlines(pixels[dataset], g - span, g + span, colors="grey", linestyles="--", lw=1.2)
            handles.setdefault(f"{PIXELS_NAME} (its dataset's, dashed)", line)
            ax.annotate(f"{pixels[dataset]:.3f}", (g + span, pixels[dataset]), fontsize=7, color="grey", va="center",
                        xytext=(3, 0), textcoords="offset points")  # fmt: skip
        steps = sorted({int(s) for s in mine["step"] if str(s).lstrip("-").isdigit()})
        ticks.append(g)
        tick_labels.append(dataset + (f"\n{'/'.join(f'{s:,}' for s in steps)} steps" if steps else ""))
    ax.set_xticks(ticks, tick_labels)
    ax.set_xlim(-0.6, len(datasets) - 0.4)
    names = sorted(handles, key=lambda n: n.startswith(PIXELS_NAME))  # the bars first, then the reference
    top = max((table["acc_mean"] + table["acc_std"].fillna(0)).max() + 0.12, 1.0)
    ax.set_ylim(0, top)
    ax.set(xlabel="dataset (training steps)", ylabel="ACC (Hungarian), mean ± sample std; higher is better")
    caption = spread_caption("error bars", table["n"]).replace(" (ddof", "\n(ddof") + "; n on each bar"
    fig.legend([handles[n] for n in names], names, loc="outside lower center", ncol=2, fontsize=8, title=caption,
               title_fontsize=8)  # fmt: skip
    missing = [d for d in datasets if d not in pixels]
    gaps = f"\n{NO_PIXELS}" + (f" ({', '.join(missing)})" if len(missing) < len(datasets) else "") if missing else ""
    fig.suptitle("CoDeGAN's ACC with and without a pre-trained E_c, per dataset, one bar per result identity" + gaps,
                 fontsize=9)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return fig


def log_wandb(out: Path, table: pd.DataFrame, mode: str, project: str, group: str) -> None:
    """The figure and its bars as a W&B run kept beside ``out`` (one id: drawing it again updates it)."""
    if mode == "disabled":
        return
    import wandb

    from harness.runs.track import analysis_run, summary_run_id

    run = analysis_run(out.parent, mode, project, f"pretraining {out.stem}", group=group or None,
                       id=summary_run_id(out.parent, out.stem), resume="allow")  # fmt: skip
    run.log({"pretraining/figure": wandb.Image(str(out)), "pretraining/bars": wandb.Table(dataframe=table.astype(str))})
    run.finish()


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-pretrain-figure", "scripts.pretrain_figure", __doc__)
    parser.add_argument("folders", nargs="+", type=Path, help="sweep folders (each with results.csv)")
    parser.add_argument("--out", type=Path, default=None, help="the PNG (default: pretraining.png, see above)")
    parser.add_argument("--wandb", default="offline", choices=["offline", "online", "disabled"])
    parser.add_argument("--project", default="codegan-bench")
    args = parser.parse_args(argv)
    results = sweep_results(args.folders)
    table = bars(results)
    if table.empty:
        where = ", ".join(map(str, args.folders))
        raise RunError(f"no complete CoDeGAN trial with an ACC in {where}: nothing to draw (no file written)")
    out = args.out or (args.folders[0] if len(args.folders) == 1 else args.folders[0].parent) / "pretraining.png"
    plot(table, pixel_references(results), out)
    table.to_csv(out.with_suffix(".csv"), index=False)
    log_wandb(out, table, args.wandb, args.project, sweep_group(args.folders))
    print(f"wrote {out} and {out.with_suffix('.csv')} ({len(table)} bars)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
