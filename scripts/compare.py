"""Run a few config variants over several seeds and tabulate their final metrics (mean ± std over seeds).

    python -m scripts.compare --config codegan/configs/digits.yaml --seeds 0 1 \
        --variant "native: data.image_size=0" --variant "16px: data.image_size=16" \
        [--common train.steps=1500 ...] [--out bench/compare.json]

Each variant is ``"<label>: [preset.yaml] key=value ..."``: the label ends at the last ``": "``, an
optional preset replaces ``--config``; ``--common`` overrides apply to every variant.
Runs are the harness's ordinary training function, one after another in this process, with W&B off.
The JSON file keeps every run's metrics; the markdown table goes to stdout (and ``<out>.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from harness.config import build_config
from harness.train import train

COLUMNS = ("eval/acc", "eval/purity", "eval/nmi", "eval/ari", "eval/fid_domain")


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


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def table(rows: list[dict], columns: tuple[str, ...] = COLUMNS) -> str:
    labels = list(dict.fromkeys(r["variant"] for r in rows))
    head = ["variant", "seeds", *[c.split("/")[-1].upper() for c in columns], "ACC (argmax)", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label in labels:
        runs = [r for r in rows if r["variant"] == label]
        cells = [mean_std([r["metrics"][c] for r in runs if c in r["metrics"]]) for c in columns]
        argmax = [v for r in runs for k, v in r["metrics"].items() if k in ("eval/acc_q", "eval/acc_enc")]
        cells.append(mean_std(argmax))
        train_s = statistics.fmean(r["metrics"].get("perf/train_s", 0.0) for r in runs)
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {train_s:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, type=Path, help="base preset YAML")
    parser.add_argument("--variant", action="append", required=True, help="'<label>: key=value ...' (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--common", nargs="*", default=[], help="overrides for every variant")
    parser.add_argument("--log-root", default="runs/compare", help="where the run folders go")
    parser.add_argument("--out", type=Path, default=Path("bench/compare.json"))
    args = parser.parse_args(argv)
    variants = [parse_variant(v, args.config) for v in args.variant]
    rows: list[dict] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for label, preset, overrides in variants:
        for seed in args.seeds:
            extra = [f"seed={seed}", f"log.root={args.log_root}", "log.wandb=disabled", "log.progress=false"]
            cfg = build_config(preset, [*args.common, *overrides, *extra])
            t = time.time()
            metrics = train(cfg)
            rows.append(
                {"variant": label, "preset": str(preset), "seed": seed, "overrides": [*args.common, *overrides],
                 "metrics": metrics}
            )  # fmt: skip
            print(f"{label} seed {seed}: ACC {metrics.get('eval/acc', float('nan')):.3f} ({time.time() - t:.0f} s)")
            args.out.write_text(json.dumps(rows, indent=1))
    base = rows[0]["metrics"]
    md = table(rows)
    if "baseline/pixels_acc" in base:
        md += "\n\nraw pixels + k-means (same split): " + "   ".join(
            f"{s.upper()} {base[f'baseline/pixels_{s}']:.3f} ± {base[f'baseline/pixels_{s}_std']:.3f}"
            for s in ("acc", "purity", "nmi", "ari")
        )
    print(md)
    args.out.with_suffix(".md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
