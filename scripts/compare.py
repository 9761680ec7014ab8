"""Run a few config variants over several seeds and tabulate their final metrics (mean ± std over seeds).

    python -m scripts.compare --config codegan/configs/digits.yaml --seeds 0 1 \
        --variant "native: data.image_size=0" --variant "16px: data.image_size=16" \
        [--common train.steps=1500 ...] [--out bench/compare.json]

Each variant is ``"<label>: [preset.yaml] key=value ..."``: the label ends at the last ``": "``, an
optional preset replaces ``--config``; ``--common`` overrides apply to every variant.
Runs are the harness's ordinary training function, one after another in this process (run folders under
``<log-root>/<variant>/``), with W&B off and a progress bar over the runs. Runs are pooled by result
identity (variants that turn out to be the same experiment share a row); ± is the sample standard
deviation over seeds, and a row of one seed shows the spread of its k-means seeds instead, marked
"(k-means)". The JSON file keeps every run's metrics and result key; the markdown table goes to stdout
(and ``<out>.md``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from harness.config import build_config
from harness.core.progress import bar
from harness.runs.identity import eval_hash
from harness.runs.results import STD_NOTE, kmeans_pm, mean_sd, pool, run_record
from harness.training.trainer import Trainer

COLUMNS = ("eval/acc", "eval/purity", "eval/nmi", "eval/ari", "eval/fid_domain")
KMEANS_NOTE = "(k-means): a row of one seed shows the spread over that run's k-means seeds (its `_std` metric) instead."


def parse_variant(text: str, default: Path) -> tuple[str, Path, list[str]]:
    if text.rstrip().endswith(":"):
        label, rest = text.rstrip()[:-1], ""
    elif ": " in text:  # the last ": " ends the label (labels may hold colons, overrides do not)
        label, _, rest = text.rpartition(": ")
    else:
        raise SystemExit(f"--variant {text!r}: expected '<label>: [preset.yaml] key=value ...'")
    words = rest.split()
    preset = Path(words.pop(0)) if words and words[0].endswith((".yaml", ".yml")) else default
    return label.strip(), preset, words


def folder_name(label: str) -> str:
    """A variant's folder under ``--log-root``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.") or "variant"


def cell(runs: list[dict[str, Any]], key: str) -> str:
    """Mean ± sample std over the runs' seeds; one run: its value ± its k-means spread, marked as such."""
    values = [r["metrics"][key] for r in runs if key in r["metrics"]]
    if len(values) == 1 and len(runs) == 1 and f"{key}_std" in runs[0]["metrics"]:
        return kmeans_pm(runs[0]["metrics"], key)
    return mean_sd(values, n=len(runs))


def result_of(row: dict[str, Any]) -> str:
    return row.get("result_key") or f"variant {row['variant']}"


def groups(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by result key (by variant where a run left no record), one row per trained run (results.pool)."""
    return pool(rows, result_of, lambda r: r.get("run_hash") or f"{r['variant']} seed {r['seed']}")


def table(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> str:
    head = ["variant", "n", *[c.split("/")[-1].upper() for c in columns], "ACC (argmax)", "train s", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, runs in groups(rows).items():
        label = " = ".join(dict.fromkeys(r["variant"] for r in rows if result_of(r) == key))
        cells = [cell(runs, c) for c in columns]
        argmax = [v for r in runs for k, v in r["metrics"].items() if k in ("eval/acc_q", "eval/acc_enc")]
        cells.append(mean_sd(argmax, n=len(runs)))
        train_s = statistics.fmean(r["metrics"].get("perf/train_s", 0.0) for r in runs)
        result = key if not key.startswith("variant ") else ""
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {train_s:.0f} | {result} |")
    return "\n".join(lines) + f"\n\n{STD_NOTE} {KMEANS_NOTE}"


def pixels_line(rows: list[dict[str, Any]]) -> str:
    """k-means on raw pixels beside the first variant's runs, each distinct computation once (runs that
    share one report the very same numbers)."""
    first = groups(rows)[next(iter(groups(rows)))]
    distinct = {
        json.dumps({k: v for k, v in r["metrics"].items() if k.startswith("baseline/pixels_")}, sort_keys=True): r
        for r in first
        if "baseline/pixels_acc" in r["metrics"]
    }
    if not distinct:
        return ""
    runs = list(distinct.values())
    scores = ("acc", "purity", "nmi", "ari")
    return "raw pixels + k-means (same split): " + "   ".join(
        f"{s.upper()} {cell(runs, f'baseline/pixels_{s}')}" for s in scores
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path, help="base preset YAML")
    parser.add_argument("--variant", action="append", required=True, help="'<label>: key=value ...' (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--common", nargs="*", default=[], help="overrides for every variant")
    parser.add_argument("--log-root", default="runs/compare", help="where the run folders go (one folder per variant)")
    parser.add_argument("--out", type=Path, default=Path("bench/compare.json"))
    args = parser.parse_args(argv)
    variants = [parse_variant(v, args.config) for v in args.variant]
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    todo = [(v, seed) for v in variants for seed in args.seeds]
    progress = bar(todo, desc="compare", unit="run")
    for (label, preset, overrides), seed in progress:
        progress.set_description(f"{label} seed {seed}")
        root = Path(args.log_root) / folder_name(label)  # variants that differ only in steps keep their own runs
        extra = [f"seed={seed}", f"log.root={root}", "log.wandb=disabled", "log.progress=false"]
        cfg = build_config(preset, [*args.common, *overrides, *extra])
        t = time.time()
        trainer = Trainer(cfg)
        metrics = trainer.fit()
        record = run_record(trainer.run_dir, eval_hash(cfg))
        rows.append(
            {"variant": label, "preset": str(preset), "seed": seed, "overrides": [*args.common, *overrides],
             "run_dir": str(trainer.run_dir), "run_hash": record.run_hash if record else "",
             "result_key": record.key if record else "", "metrics": metrics}
        )  # fmt: skip
        progress.write(
            f"{label} seed {seed}: ACC {metrics.get('eval/acc', float('nan')):.3f} ({time.time() - t:.0f} s)"
        )
        args.out.write_text(json.dumps(rows, indent=1))
    progress.close()
    md = table(rows)
    pixels = pixels_line(rows)
    if pixels:
        md += "\n\n" + pixels
    print(md)
    args.out.with_suffix(".md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
