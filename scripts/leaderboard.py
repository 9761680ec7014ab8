"""The leaderboard: method x dataset, ACC/NMI/ARI/FID mean ± std over seeds, beside the paper's numbers.

    python -m scripts.leaderboard [RUNS_DIR ...] [--wandb-project P] [--out runs/leaderboard]
                                  [--plots sweep/tradeoff.png ...] [--log-wandb offline|online|disabled]

Sources: run folders found under the given directories (their ``summary.json``: complete runs only),
or, with ``--wandb-project``, the finished runs of that W&B project (public API, online). Runs of one
configuration that differ only by seed form one row; where rows of a method differ in other keys,
those keys are shown in the row's name. Writes ``leaderboard.md``, ``leaderboard.html`` (with the
trade-off plots given) and logs the table to W&B.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.config import SCHEDULE_KEYS, Config, ConfigError, all_keys, from_dict, get

PAPER = Path(__file__).with_name("paper_results.yaml")
COLUMNS = ("acc", "purity", "nmi", "ari")
NAMES = {"codegan": "CoDeGAN", "infogan": "InfoGAN", "clustergan": "ClusterGAN", "simclr": "SimCLR + k-means"}


def label(cfg: Config) -> str:
    """The paper's name for a run's method (and the variant its config selects)."""
    method = cfg.method
    if method == "pixels-kmeans":
        return "k-means on pixels"
    name = NAMES.get(method, method)
    if method == "codegan" and cfg.codegan.pretrain != "none":
        name += " (self)"
    if method == "codegan" and cfg.codegan.few_labels:
        name += f" ({cfg.codegan.few_labels} labels)"
    if method == "infogan" and cfg.train.gan_loss != "bce":
        name += f" ({cfg.train.gan_loss})"
    return name


def run_record(tree: dict[str, Any], metrics: dict[str, float], source: str) -> dict[str, Any]:
    cfg = from_dict(tree)
    flat = {k: get(cfg, k) for k in all_keys()}
    setting = {
        k: v for k, v in flat.items() if k not in SCHEDULE_KEYS and not k.startswith(("log.", "eval.")) and k != "seed"
    }
    key = hashlib.sha256(json.dumps(setting, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return {"dataset": Path(flat["data.dataset"]).stem, "label": label(cfg), "setting": key, "flat": setting,
            "seed": flat["seed"], "metrics": metrics, "source": source}  # fmt: skip


def from_run_folders(roots: list[Path]) -> list[dict[str, Any]]:
    records = []
    for root in roots:
        for summary in sorted(root.rglob("summary.json")):
            info = json.loads(summary.read_text())
            cfg_file = summary.with_name("config.yaml")
            if info.get("status") != "complete" or not cfg_file.is_file():
                continue
            try:
                records.append(run_record(yaml.safe_load(cfg_file.read_text()), info["metrics"], str(summary.parent)))
            except ConfigError as exc:  # a run folder of another harness version
                print(f"skipped {summary.parent}: {exc}", file=sys.stderr)
    return records


def from_wandb(project: str) -> list[dict[str, Any]]:
    import wandb

    records = []
    for run in wandb.Api().runs(project, filters={"state": "finished"}):
        cfg = {k: v for k, v in run.config.items() if not k.startswith("_")}
        metrics = {k: v for k, v in run.summary.items() if isinstance(v, (int, float))}
        if "eval/acc" in metrics and "method" in cfg:
            records.append(run_record(cfg, metrics, run.url))
    return records


def _distinguishing(group: list[dict[str, Any]], others: list[list[dict[str, Any]]]) -> str:
    """Keys whose value in this setting differs from another setting with the same label and dataset."""
    mine = group[0]["flat"]
    keys = sorted({k for o in others for k, v in o[0]["flat"].items() if mine.get(k) != v})
    return ", ".join(f"{k.split('.')[-1]}={mine[k]}" for k in keys[:4])


def _pm(values: list[float]) -> str:
    if not values:
        return ""
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def table(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    paper = yaml.safe_load(PAPER.read_text())
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["label"], r["setting"]), []).append(r)
    rows = []
    for (dataset, name, _), group in sorted(groups.items()):
        rivals = [g for (d, n, s), g in groups.items() if d == dataset and n == name and g is not group]
        extra = _distinguishing(group, rivals) if rivals else ""
        fid_keys = sorted({k for r in group for k in r["metrics"] if k.startswith("eval/fid_")})
        row = {"dataset": dataset, "method": name + (f" [{extra}]" if extra else ""), "runs": str(len(group))}
        for col in COLUMNS:
            row[col.upper()] = _pm([r["metrics"][f"eval/{col}"] for r in group if f"eval/{col}" in r["metrics"]])
        row["FID"] = "; ".join(
            f"{_pm([r['metrics'][k] for r in group if k in r['metrics']])} ({k[9:]})" for k in fid_keys
        )
        ref = paper.get(dataset, {}).get(name)
        row["paper (purity / NMI / ARI)"] = f"{ref['purity']:.2f} / {ref['nmi']:.2f} / {ref['ari']:.2f}" if ref else ""
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no complete runs found)\n"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    note = "\nACC is Hungarian; the paper's ACC is the reference code's majority mapping, shown under purity.\n"
    return "\n".join(lines) + "\n" + note


def html_page(rows: list[dict[str, str]], plots: list[Path]) -> str:
    head = list(rows[0]) if rows else []
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(r[h])}</td>" for h in head) + "</tr>" for r in rows)
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" width="900">'
        f"<figcaption>{html.escape(str(p))}</figcaption></figure>"
        for p in plots
        if p.is_file()
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>codegan-bench leaderboard</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}</style>"
        "<h1>codegan-bench leaderboard</h1><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + f"</tr>{cells}</table><p>ACC is Hungarian; the paper's ACC is its majority mapping (purity).</p>{images}"
    )  # fmt: skip


def log_table(rows: list[dict[str, str]], out: Path, mode: str) -> None:
    if mode == "disabled" or not rows:
        return
    import os

    from harness.track import wandb_env

    for key, value in wandb_env(out).items():
        os.environ[key] = value
        Path(value).mkdir(parents=True, exist_ok=True)
    import wandb

    run = wandb.init(mode=mode, project="codegan-bench", name="leaderboard", job_type="leaderboard", dir=str(out),
                     settings=wandb.Settings(console="off", silent=True, x_disable_stats=True))  # fmt: skip
    run.log({"leaderboard": wandb.Table(columns=list(rows[0]), data=[list(r.values()) for r in rows])})
    run.finish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.leaderboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("roots", nargs="*", type=Path, default=[Path("runs")], help="folders holding run folders")
    parser.add_argument("--wandb-project", default="", help="read finished runs of this W&B project (online)")
    parser.add_argument("--out", type=Path, default=Path("runs/leaderboard"))
    parser.add_argument("--plots", nargs="*", type=Path, default=[], help="trade-off PNGs for the HTML page")
    parser.add_argument("--log-wandb", default="offline", choices=["offline", "online", "disabled"])
    args = parser.parse_args(argv)
    records = from_wandb(args.wandb_project) if args.wandb_project else from_run_folders(args.roots)
    rows = table(records)
    args.out.mkdir(parents=True, exist_ok=True)
    md = markdown(rows)
    (args.out / "leaderboard.md").write_text(md)
    (args.out / "leaderboard.html").write_text(html_page(rows, args.plots))
    log_table(rows, args.out, args.log_wandb)
    print(md)
    print(f"wrote {args.out / 'leaderboard.md'} and {args.out / 'leaderboard.html'} ({len(records)} runs)")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
