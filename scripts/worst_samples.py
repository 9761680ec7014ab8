"""The paper's Fig. 3 (b, c): the generated images the dataset's classifier finds least like their code's class.

    python -m scripts.worst_samples RUN_DIR|CHECKPOINT|SWEEP_FOLDER ... [--per-code 200] [--count 8] [--best]
                                    [key=value ...]

For a run: draws ``--per-code`` images of every class code (seeded by the run's seed; from G's EMA copy where the run
keeps one, as its evaluation does), has the dataset's classifier (the domain extractor, trained once and cached)
label them, matches each code to a class one-to-one (Hungarian, as the sample grids do) and shows one row per code:
its ``--count`` images of lowest probability of that class, lowest first. Codes that the run's evaluation at that
step found collapsed (:func:`harness.metrics.per_code.is_collapsed`: recall below 0.1, or fewer than half of the
code's samples in its class) are framed in red. Writes ``<run>/figures/worst.png`` and ``worst.csv`` (each image
shown: code, rank, matched class, probability). For a sweep folder (its ``results.csv``, as :mod:`sweeps.analyze`
writes it; the analysis draws these itself): ``<sweep>/worst/<point>.png`` for every point of the sweep (a result
identity) whose run folders are visible, from its lowest seed's run. ``key=value``: evaluation, logging and
data-location keys, as ``codegan-eval`` takes them.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.commands.cli import command_parser, run_command
from harness.config import ConfigError, registry
from harness.core.errors import DataError, RunError
from harness.core.seeding import derive_seed
from harness.runs import checkpoint
from harness.runs.results import show
from harness.runs.track import evaluations
from scripts.trained_model import describe, generator_net, loaded, quality

FRAME = (220, 0, 0)  # a collapsed code's frame
PAD = 6  # between cells: room for the frame
OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.\w+)+=")
COLLAPSE_TEXT = "red frame: a code its evaluation found collapsed (recall < 0.1, or < 50 % of its samples in its class)"


@dataclass
class Worst:
    """What one run's figure shows: per code, its shown images' indices among the drawn ones (lowest probability
    first); every drawn image's probability of its code's class; the shown images (uint8, code-major); each code's
    matched class and whether it collapsed (None: not measured)."""

    indices: list[np.ndarray]
    prob: np.ndarray
    images: Any
    matched: list[int]
    collapsed: list[bool] | None


def draw(images: Any, labels: list[str], collapsed: list[bool] | None, title: str) -> np.ndarray:
    """One row of cells per code, labelled, the collapsed codes' rows framed in red, under ``title``."""
    from PIL import Image, ImageDraw

    from harness.metrics.grids import add_title, class_grid, label_rows

    rows = len(labels)
    grid = class_grid(images.float() / 255, rows=rows, pad=PAD)
    cell = (grid.shape[0] - PAD) // rows - PAD
    picture = Image.fromarray(grid)
    pen = ImageDraw.Draw(picture)
    for r, bad in enumerate(collapsed or []):
        if bad:
            top = PAD + r * (cell + PAD)
            pen.rectangle((1, top - 4, grid.shape[1] - 2, top + cell + 3), outline=FRAME, width=3)
    return add_title(label_rows(np.asarray(picture), labels, rows, pad=PAD), title)


def p_text(p: float) -> str:
    """A probability in a row's label: two decimals, or one significant digit below 0.01."""
    return f"{p:.2f}" if p >= 0.01 or p == 0 else f"{p:.0e}"


def heading(scores: dict[str, float], bad: list[bool] | None) -> str:
    """`` | ACC 0.871, 2 of 10 codes collapsed``: what the run's evaluation at that step measured."""
    acc = f" | ACC {scores['eval/acc']:.3f}" if "eval/acc" in scores else ""
    return acc + (f", {sum(bad)} of {len(bad)} codes collapsed" if bad is not None else "")


def row_label(k: int, name: str, prob: np.ndarray, collapsed: bool) -> str:
    """``code 3 -> 8: p 2e-04 to 0.31 COLLAPSED``: a code, its matched class and its shown images' probabilities."""
    return f"code {k} -> {name}: p {p_text(prob.min())} to {p_text(prob.max())}" + (" COLLAPSED" if collapsed else "")


def worst_samples(
    target: Path,
    out: Path | None = None,
    per_code: int = 200,
    count: int = 8,
    best: bool = False,
    overrides: Sequence[str] = (),
    point: str = "",
) -> tuple[Path, Worst]:
    """Draw one run's figure (``out``: default ``<run>/figures/worst.png``) and its CSV; ``point``: the sweep's
    values, for the title."""
    import torch
    from PIL import Image

    from harness.metrics.code_samples import collapsed, logits_of, lowest, matched_probability
    from harness.metrics.code_samples import per_code as draw_per_code

    with loaded(target, [*quality("domain"), *overrides], best) as trainer:
        method, cfg, run_dir = trainer.method, trainer.cfg, trainer.run_dir
        classify = trainer.quality.classifier() if trainer.quality else None
        if classify is None:
            raise ConfigError(f"{run_dir}: no classifier of {cfg.data.dataset} (its shards have no labels)")
        images, codes = draw_per_code(method, per_code, derive_seed(cfg.seed, "worst"), generator_net(trainer))
        prob, matched = matched_probability(logits_of(classify, images, method.device), codes, method.classes)
        names = trainer.data.class_names or [str(c) for c in range(method.classes)]
        scores = evaluations(run_dir).get(trainer.start, {})
        bad = collapsed(scores, method.classes)
        where = describe(trainer) + (f" | {point}" if point else "") + heading(scores, bad)
    picks = lowest(prob, codes, method.classes, count)
    shown = torch.cat([images[torch.as_tensor(i)] for i in picks])
    labels = [row_label(k, names[matched[k]], prob[i], bool(bad and bad[k])) for k, i in enumerate(picks)]
    what = f"per code, the {count} of its {per_code} generated images the classifier finds least like the code's class"
    frames = COLLAPSE_TEXT if bad is not None else "no per-code recall at this step: collapsed codes not marked"
    out = out or run_dir / "figures" / "worst.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw(shown, labels, bad, f"{where}\n{what} (p: its probability), lowest first\n{frames}")).save(out)
    rows = [(k, r, names[matched[k]], int(i), float(prob[i])) for k, idx in enumerate(picks) for r, i in enumerate(idx)]
    table = pd.DataFrame(rows, columns=["code", "rank", "matched_class", "index", "probability"])
    table.to_csv(out.with_suffix(".csv"), index=False)
    return out, Worst(picks, prob, shown, matched, bad)


def point_values(row: pd.Series, params: list[str]) -> list[str]:
    """A sweep point's swept values other than the seed (``beta_c=10``)."""
    out = []
    for c in params:
        value = row.get(c)
        if value is not None and not (isinstance(value, float) and math.isnan(value)) and value != "-":
            out.append(f"{c.removeprefix('param/').split('.')[-1]}={show(value)}")
    return out


def points(results: pd.DataFrame) -> dict[str, tuple[pd.Series, str]]:
    """Each point of a sweep (a result identity) whose run folder holds a checkpoint: by file name
    (``codegan_beta_c=10``), its lowest seed's trial row and its values as a title shows them."""
    if results.empty or "run_dir" not in results:
        return {}
    done = results[results["status"] == "complete"] if "status" in results else results
    if "duplicate_of" in done:  # a results.csv read back holds NaN where no trial is a duplicate
        done = done[done["duplicate_of"].isna() | (done["duplicate_of"].astype(str) == "")]
    params = [c for c in results.columns if c.startswith("param/") and c not in ("param/seed", "param/method")]
    chosen: dict[str, pd.Series] = {}
    for _, row in (done.sort_values("seed") if "seed" in done else done).iterrows():
        run_dir = row["run_dir"]
        if not isinstance(run_dir, str) or checkpoint.latest(Path(run_dir) / "checkpoints") is None:
            continue
        values = point_values(row, params)
        key = row["result_key"] if isinstance(row.get("result_key"), str) else " ".join(values)
        chosen.setdefault(f"{row.get('method')} {key}", row)
    out: dict[str, tuple[pd.Series, str]] = {}
    for key, row in chosen.items():
        values = point_values(row, params)
        name = re.sub(r"[^A-Za-z0-9._=-]+", "-", "_".join([str(row.get("method")), *values]))
        out[name if name not in out else f"{name}_{key.split()[-1][:8]}"] = (row, ", ".join(values))
    return out


def sweep_figures(
    results: pd.DataFrame, out_dir: Path, per_code: int = 200, count: int = 8, overrides: Sequence[str] = ()
) -> dict[str, Path]:
    """``<out_dir>/<point>.png`` for each of :func:`points` whose method generates images and whose runs were scored
    with the dataset's classifier (so it is in the cache: a figure never trains one); a run that cannot be loaded
    (locked by a run still training, a folder moved) is named on stderr and left out."""
    drawn = {}
    for name, (row, values) in points(results).items():
        try:
            if not registry.method(str(row["method"])).generates:  # k-means baselines, encoder pre-training
                continue
            if not _scored_by_domain(Path(row["run_dir"])):
                continue
            out = out_dir / f"{name}.png"
            drawn[name], _ = worst_samples(Path(row["run_dir"]), out, per_code, count, False, overrides, values)
        except (ConfigError, DataError, RunError, OSError) as exc:
            print(f"worst images of {name}: left out ({exc})", file=sys.stderr)
    return drawn


def _scored_by_domain(run_dir: Path) -> bool:
    """Whether the run's evaluation used the dataset's classifier (``domain`` in its ``eval.quality``)."""
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    return "domain" in ((cfg.get("eval") or {}).get("quality") or [])


def is_override(arg: str) -> bool:
    """``key=value`` (a dotted key), not a path."""
    return bool(OVERRIDE.match(arg)) and not Path(arg).exists()


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-worst-samples", "scripts.worst_samples", __doc__)
    parser.add_argument("targets", nargs="+", type=Path, help="run folders, checkpoints, sweep folders; key=value")
    parser.add_argument("--per-code", type=int, default=200, help="generated images per code to choose from")
    parser.add_argument("--count", type=int, default=8, help="images shown per code (default 8)")
    parser.add_argument("--best", action="store_true", help="checkpoints/best.pt instead of the latest")
    args = parser.parse_intermixed_args(argv)
    if not 0 < args.count <= args.per_code:
        parser.error("--count must be between 1 and --per-code")
    overrides = [str(t) for t in args.targets if is_override(str(t))]
    for target in (t for t in args.targets if not is_override(str(t))):
        if (target / "tune").is_dir():
            if not (target / "results.csv").is_file():
                raise ConfigError(f"{target}: no results.csv (python -m sweeps.analyze {target} writes it)")
            results = pd.read_csv(target / "results.csv")
            drawn = sweep_figures(results, target / "worst", args.per_code, args.count, overrides)
            none = f"{target}: no run folder with a checkpoint visible: nothing drawn"
            print(f"wrote {len(drawn)} figure(s) to {target / 'worst'}" if drawn else none)
        else:
            out, _ = worst_samples(target, None, args.per_code, args.count, args.best, overrides)
            print(f"wrote {out} and {out.with_suffix('.csv')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
