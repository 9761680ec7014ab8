"""The leaderboard: one row per result identity, mean ± sample std over seeds, beside the paper's numbers.

    python -m scripts.leaderboard [RUNS_DIR ...] [--eval all|latest|<eval hash>] [--wandb-project P]
                                  [--out runs/leaderboard] [--plots sweep/tradeoff.png ...]
                                  [--log-wandb offline|online|disabled] [--project codegan-bench] [--no-start]

Sources: the results under the given directories (``summary.json`` of complete runs and the
``eval-<hash>.json`` re-scorings beside them), or, with ``--wandb-project``, the finished runs of that
W&B project (``final/`` summary keys). Results are pooled as seeds only when everything else that was
measured is the same: training config, step reached, world size, mixed precision, evaluation settings and
data. Where rows of a dataset differ in any of these, the differing parts are columns. ``--eval`` picks
the evaluations: ``all`` (each is its own row), ``latest`` (each run's newest) or one evaluation hash.
The k-means-on-pixels baseline computed beside every run is its own row per dataset, and so are the untrained
networks of runs that evaluated at step 0 (``train.eval_at_start``; :mod:`harness.start_results`; not from
W&B; ``--no-start`` leaves them out): whether training helped at all at a budget. Rows are
sorted by ACC, the best mean of each score is marked, and each row links its seeds' run folders. Run
folders without a complete ``summary.json`` are named in one line; with no result at all it exits 1
with one line and writes nothing. Writes ``leaderboard.md``, ``leaderboard.html`` (with the trade-off
plots given) and a W&B run of job type ``leaderboard`` in ``--project``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.commands.cli import command_parser
from harness.config import SHARED_SECTIONS, Config, ConfigError, all_keys, from_dict, is_training_key
from harness.config.protocols import paper_clustering
from harness.config.registry import entries
from harness.core.errors import RunError
from harness.core.places import at_home
from harness.runs.identity import eval_hash, result_identity, result_key, run_hash
from harness.runs.results import (
    ONE_NOTE,
    PIXELS,
    PIXELS_LABEL,
    STD_NOTE,
    Record,
    distinguishing,
    group,
    kmeans_pm,
    load_records,
    mean_sd,
    pixel_groups,
    pixel_identity,
    select,
    short_names,
    show,
)
from harness.runs.start_results import ANY, start_records
from scripts import sortable_table
from sweeps.folders import sweep_group

PAPER = Path(__file__).with_name("paper_results.yaml")
SCORES = {"acc": "ACC", "purity": "purity", "nmi": "NMI", "ari": "ARI"}
PAPER_COLUMN = "paper: purity / NMI / ARI"
NOT_APPLICABLE = "–"
NOTES = [
    "One row per result identity: the training config without the seed, the step reached, world size, mixed"
    " precision, evaluation settings and data (shard hashes); the columns between method and n are the parts"
    " that differ between rows of a dataset.",
    STD_NOTE,
    ONE_NOTE,
    "Rows are sorted by ACC, highest first; the best mean of each score is marked (bold) only among the rows of one"
    " budget and evaluation: the same step, world size, precision, device, evaluation settings, extractors and data"
    " (step-0 rows and the pixel baseline are never marked); the last column links each seed's run folder.",
    f"{NOT_APPLICABLE} in a setting's column: the setting is not one of that row's (another method's key; the pixel"
    " baseline trains nothing); a training key a run did not record is at its default.",
    "ACC is Hungarian; the paper's ACC is the reference code's majority mapping: compare it with purity.",
    "COIL-20 and the 3D datasets: the paper's clustering scores are the dataset classifier's labels of generated"
    " images against their codes (the reference code's protocol), shown here as the (gen) columns; compare them"
    " only with rows measured with eval.protocol=paper, and marked so.",
    "The paper's FIDs and ISs are TF-Inception numbers of 50,000 samples against the training split"
    " (docs/reference.md, section 3): comparable only with rows measured with eval.protocol=paper, and marked so.",
    f"Step 0: the untrained networks (train.eval_at_start), one per seed; a loss weight or optimizer setting that"
    f" differs between the runs they come from reads {ANY} (it cannot change them before the first update).",
    f"{PIXELS_LABEL}: k-means on the raw pixels of the evaluation split, one computation shared by the runs"
    " with the same data and k-means settings; n counts distinct computations, and for one, ± is the spread over"
    " its k-means seeds, marked (k-means).",
]


def table(records: list[Record]) -> dict[str, list[dict[str, Any]]]:
    """Rows per dataset: each result identity, best ACC first, then the pixel baseline. Besides its shown cells
    a row carries ``_best`` (the score columns where it holds the best mean among the methods' rows) and
    ``_runs`` (its seeds' run folders)."""
    paper = yaml.safe_load(PAPER.read_text()) or {}
    groups = group(records)
    pixels = pixel_groups(records)
    out: dict[str, list[dict[str, Any]]] = {}
    for dataset in sorted({r.dataset for r in records}):
        mine = {k: g for k, g in groups.items() if g[0].dataset == dataset}
        base = {k: g for k, g in pixels.items() if k[0] == dataset}
        items = [(g[0].label, g[0].flat) for g in mine.values()]
        items += [(PIXELS_LABEL, pixel_identity(g[0])) for g in base.values()]
        cells = dict(zip([*mine, *base], filled_cells(items), strict=True))
        fids = sorted({k for g in mine.values() for r in g for k in r.metrics if k.startswith("eval/fid_")})
        gen = paper_clustering(dataset) == "generated"
        rows, means, budgets = [], [], []
        for key, recs in mine.items():
            head = recs[0]
            row: dict[str, Any] = {"dataset": dataset, "method": head.label, **cells[key], "n": str(len(recs))}
            row.update(_scores(recs, "eval/", fids, gen))
            # the paper's numbers are of trained networks: none beside the untrained ones (step 0)
            protocol = str(head.flat.get("eval.protocol", ""))
            ref = paper.get(dataset, {}).get(head.label)
            row[PAPER_COLUMN] = "" if head.kind == "start" else _paper(ref, protocol, gen)
            row["result"] = key
            row["_runs"] = [(r.seed, r.source if "://" in r.source else r.run) for r in recs]  # W&B: its URL
            rows.append(row)
            means.append(_means(recs, fids, gen))
            budgets.append(None if head.kind == "start" else budget(head))
        _mark_best(rows, means, budgets)
        order = sorted(range(len(rows)), key=lambda i: (-means[i].get("ACC", -1.0), rows[i]["method"],
                                                        _sort_key(mine[rows[i]["result"]][0].flat)))  # fmt: skip
        rows = [rows[i] for i in order]
        for key, recs in sorted(base.items()):
            row = {"dataset": dataset, "method": PIXELS_LABEL, **cells[key], "n": str(len(recs))}
            row.update(_scores(recs, PIXELS, fids, gen))
            row[PAPER_COLUMN], row["result"], row["_runs"], row["_best"] = "", "", [], set()
            rows.append(row)
        out[dataset] = rows
    return out


def _means(recs: list[Record], fids: list[str], gen: bool = False) -> dict[str, float]:
    """Mean over seeds of each score a row shows, by column name."""
    columns = {f"eval/{s}": name for s, name in SCORES.items()}
    if gen:
        columns.update({f"eval/{s}_gen_domain": f"{name} (gen)" for s, name in SCORES.items()})
    columns.update({k: f"FID ({k.removeprefix('eval/fid_')})" for k in fids})
    out = {}
    for metric, name in columns.items():
        values = [r.metrics[metric] for r in recs if metric in r.metrics]
        if values:
            out[name] = statistics.fmean(values)
    return out


def budget(record: Record) -> str:
    """What rows must share for their scores to be compared: everything measured besides the training config and
    where it started (the step reached, world size, precision, device, evaluation settings, extractors, data)."""
    measured = {k: v for k, v in record.identity.items() if k not in ("train", "start")}
    return json.dumps(measured, sort_keys=True, default=str)


def _mark_best(rows: list[dict[str, Any]], means: list[dict[str, float]], budgets: list[str | None]) -> None:
    """``_best`` of each row: the columns where its mean is the best (FID lowest, else highest) among the rows of
    its budget (:func:`budget`; None: never marked), where that budget has two rows or more with the score."""
    for row in rows:
        row["_best"] = set()
    for same in {b for b in budgets if b is not None}:
        members = [i for i, b in enumerate(budgets) if b == same]
        for name in {c for i in members for c in means[i]}:
            values = [means[i][name] for i in members if name in means[i]]
            if len(values) < 2:
                continue
            best = min(values) if name.startswith("FID") else max(values)
            for i in members:
                if means[i].get(name) == best:
                    rows[i]["_best"].add(name)


def _applies(method: Any, key: str) -> bool:
    """Whether ``key`` is a training key that ``method`` reads (a shared section's, or its own)."""
    entry = entries().get(str(method)) if method is not None else None
    if entry is None or not is_training_key(key):
        return False
    return "." not in key or key.startswith(SHARED_SECTIONS) or entry.reads_key(key)


def filled_cells(items: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, str]]:
    """For (family, flat identity) pairs, the columns that tell the rows apart (:func:`distinguishing`), each
    filled with the row's own value: a training key its identity lacks but its method reads is at its default
    (keys added after runs were first hashed are recorded only off it), any other key it lacks is
    :data:`NOT_APPLICABLE`."""
    keys = distinguishing(items)
    names = short_names(keys)
    defaults = all_keys()
    out = []
    for _, flat in items:
        row = {}
        for k in keys:
            if k in flat:
                row[names[k]] = show(flat[k])
            elif k in defaults and _applies(flat.get("method"), k):
                row[names[k]] = show(defaults[k][1])
            else:
                row[names[k]] = NOT_APPLICABLE
        out.append(row)
    return out


def _sort_key(flat: dict[str, Any]) -> tuple:
    return tuple((0, v, "") if isinstance(v := flat[k], (int, float)) else (1, 0, show(v)) for k in sorted(flat))


def _scores(recs: list[Record], prefix: str, fids: list[str], gen: bool = False) -> dict[str, str]:
    """A row's score cells; with ``gen`` (a dataset the paper scored on generated images) also the dataset
    classifier's generated-image scores, ``<score> (gen)`` (none for the pixel baseline, which generates nothing)."""
    n = len(recs)
    row = {name: mean_sd([r.metrics[prefix + s] for r in recs if prefix + s in r.metrics], n=n)
           for s, name in SCORES.items()}  # fmt: skip
    if gen:
        for s, name in SCORES.items():
            key = f"eval/{s}_gen_domain"
            values = [r.metrics[key] for r in recs if key in r.metrics] if prefix == "eval/" else []
            row[f"{name} (gen)"] = mean_sd(values, n=n)
    if prefix == PIXELS and n == 1:  # one computation: the spread over its own k-means seeds
        for s, name in SCORES.items():
            if f"{PIXELS}{s}_std" in recs[0].metrics:
                row[name] = kmeans_pm(recs[0].metrics, PIXELS + s)
    for key in fids:
        values = [r.metrics[key] for r in recs if key in r.metrics] if prefix == "eval/" else []
        row[f"FID ({key.removeprefix('eval/fid_')})"] = mean_sd(values, digits=2, n=n)
    return row


def _paper(ref: dict[str, float] | None, protocol: str = "", gen: bool = False) -> str:
    """The paper's scores; its FID and IS, and its scores of generated images (``gen``), are marked comparable only
    beside a result of its own protocol."""
    if not ref:
        return ""
    text = f"{ref['purity']:.2f} / {ref['nmi']:.2f} / {ref['ari']:.2f}"
    if gen:
        where = "the (gen) columns" if protocol == "paper" else "another protocol than this row, not comparable"
        text += f" (generated images: {where})"
    image = ", ".join(f"{k.upper()} {ref[k]:.2f}" for k in ("fid", "is") if k in ref)
    if image:
        same = protocol == "paper"
        text += f" ({image}: {'the same protocol' if same else 'another protocol than this row, not comparable'})"
    return text


SORT_NOTE = "Click a column's header to sort the rows by it (again: the other way); blank and – cells go last."


# W&B --------------------------------------------------------------------------------------------------
CONFIG_SECTIONS = {"name", "method", "stage", "seed", "data", "model", "train", "codegan", "baselines",
                   "pretrain", "eval", "log"}  # fmt: skip


def _launch(cfg: Config, folder: str) -> tuple[Any, Any]:
    """World size and precision of a W&B run whose config does not carry them: the pair whose run hash is
    the one in its run folder's name; unknown when none is."""
    want = folder.rsplit("-", 1)[-1]
    for precision in ("no", "bf16", "fp16"):
        for world in range(1, 257):
            if run_hash(cfg, world, precision) == want:
                return world, precision
    return "unknown", "unknown"


def wandb_record(
    config: dict[str, Any], summary: dict[str, Any], source: str, job_type: str = "train"
) -> Record | None:
    """A finished W&B run as a record: ``final/`` summary keys, the identity from its config where present,
    else rebuilt from the config (step: the last logged step; data: unknown)."""
    metrics = {k.removeprefix("final/"): v for k, v in summary.items()
               if k.startswith("final/") and isinstance(v, (int, float)) and not isinstance(v, bool)}  # fmt: skip
    if job_type not in ("train", "eval") or not any(k.startswith("eval/") for k in metrics):
        return None
    cfg = from_dict({k: v for k, v in config.items() if k in CONFIG_SECTIONS})
    folder = str(config.get("run_folder", ""))
    identity = config.get("identity")
    if not isinstance(identity, dict):
        world, precision = config.get("world_size"), config.get("mixed_precision")
        if world is None or precision is None:
            world, precision = _launch(cfg, folder)
        step = int(summary.get("_step", cfg.train.steps))
        identity = result_identity(cfg, world, precision, step, str(config.get("data_digest", "unknown")))
    return Record(
        source=source,
        kind="eval" if job_type == "eval" else "summary",
        dataset=Path(cfg.data.dataset).stem,
        seed=cfg.seed,
        run=folder or source,
        run_hash=folder.rsplit("-", 1)[-1] if folder else source,
        eval_hash=eval_hash(cfg),
        identity=identity,
        key=str(config.get("result_key") or result_key(identity)),
        metrics=metrics,
        time=float(summary.get("_timestamp", 0.0)),
        tag=str(config.get("eval_tag", "")) if job_type == "eval" else "",  # an eval run's file tag
    )


def from_wandb(project: str) -> list[Record]:
    import wandb

    records, skipped = [], 0
    for run in wandb.Api().runs(project, filters={"state": "finished"}):
        config = {k: v for k, v in run.config.items() if not k.startswith("_")}
        try:
            summary = {k: v for k, v in run.summary.items()}
            record = wandb_record(config, summary, run.url, getattr(run, "job_type", None) or "train")
        except (ConfigError, KeyError, TypeError, ValueError):  # a run of another harness version
            skipped += 1
            continue
        if record is not None:
            records.append(record)
    if skipped:
        print(f"skipped {skipped} W&B run(s) whose config this harness cannot read", file=sys.stderr)
    return records


# output -----------------------------------------------------------------------------------------------
RUNS_COLUMN = "runs (by seed)"


def _shown(row: dict[str, Any]) -> list[str]:
    return [c for c in row if not c.startswith("_")]


def _run_links(row: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """(seed, address) of each of a row's run folders: relative to the output folder, or a W&B URL."""
    links = []
    for seed, run in row.get("_runs", []):
        link = run if "://" in run else os.path.relpath(run, out.resolve())
        links.append((str(seed), link))
    return links


def _md_cell(row: dict[str, Any], column: str) -> str:
    text = str(row.get(column, ""))
    return f"**{text}**" if column in row.get("_best", ()) and text else text


def markdown(tables: dict[str, list[dict[str, Any]]], out: Path = Path(".")) -> str:
    if not tables:
        return "(no complete runs found)\n"
    parts = []
    for dataset, rows in tables.items():
        head = [*_shown(rows[0]), RUNS_COLUMN]
        lines = [f"## {dataset}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            runs = ", ".join(f"[{seed}]({link})" for seed, link in _run_links(r, out))
            lines.append("| " + " | ".join([*(_md_cell(r, h) for h in head[:-1]), runs]) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\n" + "\n".join(f"- {n}" for n in NOTES) + "\n"


def html_page(tables: dict[str, list[dict[str, Any]]], plots: list[Path], out: Path = Path(".")) -> str:
    """The leaderboard as one self-contained page: a table per dataset, sortable by a click on a column's header
    (:mod:`scripts.sortable_table`, inline), the notes and the plots given (inline images)."""
    body = []
    for dataset, rows in tables.items():
        head = _shown(rows[0])
        lines = []
        for r in rows:
            cells = "".join(
                sortable_table.cell(str(r.get(h, "")), "best" if h in r.get("_best", ()) else "") for h in head
            )
            runs = ", ".join(
                f"<a href='{html.escape(link)}'>{html.escape(seed)}</a>" for seed, link in _run_links(r, out)
            )
            lines.append(f"<tr>{cells}<td>{runs}</td></tr>")
        body.append(f"<h2>{html.escape(dataset)}</h2>" + sortable_table.table([*head, RUNS_COLUMN], lines))
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" width="900">'
        f"<figcaption>{html.escape(str(p))}</figcaption></figure>"
        for p in plots
        if p.is_file()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in [*NOTES, SORT_NOTE])
    return (
        "<!doctype html><meta charset='utf-8'><title>codegan-bench leaderboard</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}th{background:#f4f4f4}"
        f"td.best{{font-weight:bold;background:#e6f4e6}}{sortable_table.STYLE}</style>"
        f"<h1>codegan-bench leaderboard</h1>{''.join(body)}<ul>{notes}</ul>{images}"
        f"<script>{sortable_table.SCRIPT}</script>"
    )


def flat_rows(tables: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """Every dataset's rows under the union of their columns (one W&B table); runs by their folder names."""
    columns: list[str] = []
    for rows in tables.values():
        for row in rows:
            columns += [c for c in _shown(row) if c not in columns]
    columns.append(RUNS_COLUMN)
    data = []
    for rows in tables.values():
        for row in rows:
            runs = ", ".join(f"{seed}: {Path(run).name if '://' not in run else run}" for seed, run in row["_runs"])
            data.append([str(row.get(c, "")) for c in columns[:-1]] + [runs])
    return columns, data


def log_table(tables: dict[str, list[dict[str, str]]], out: Path, mode: str, project: str, group: str = "") -> None:
    """The leaderboard as a W&B run kept in ``out`` (one id: ranking again updates it), in ``group``."""
    if mode == "disabled" or not tables:
        return
    import wandb

    from harness.runs.track import analysis_run, summary_run_id

    columns, data = flat_rows(tables)
    run = analysis_run(out, mode, project, "leaderboard", "leaderboard", tags=["leaderboard", *tables],
                       notes=" ".join(NOTES), group=group or None, id=summary_run_id(out, "leaderboard"),
                       resume="allow")  # fmt: skip
    run.log({"leaderboard": wandb.Table(columns=columns, data=data)})
    run.finish()


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-leaderboard", "scripts.leaderboard", __doc__)
    parser.add_argument("roots", nargs="*", type=Path, help="folders holding run folders (default: <home>/runs)")
    parser.add_argument("--eval", default="all", help="all | latest | <eval hash>: which evaluations of a run")
    parser.add_argument("--wandb-project", default="", help="read finished runs of this W&B project (online)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: <home>/runs/leaderboard)")
    parser.add_argument("--group", default=None, help="W&B group of its run (default: the sweep of the roots, if one)")
    parser.add_argument("--plots", nargs="*", type=Path, default=[], help="trade-off PNGs for the HTML page")
    parser.add_argument("--log-wandb", default="offline", choices=["offline", "online", "disabled"])
    parser.add_argument("--project", default="codegan-bench", help="W&B project of the leaderboard's own run")
    parser.add_argument("--no-start", action="store_true", help="leave out the step-0 rows (the untrained networks)")
    args = parser.parse_args(argv)
    args.roots = args.roots or [at_home("runs")]
    args.out = args.out or at_home("runs/leaderboard")
    records = from_wandb(args.wandb_project) if args.wandb_project else load_records(args.roots)
    records = select(records, args.eval)
    if not records:
        where = f"W&B project {args.wandb_project}" if args.wandb_project else ", ".join(map(str, args.roots))
        which = "" if args.eval == "all" else f" for --eval {args.eval}"
        raise RunError(f"no finished results in {where}{which}: nothing to rank (leaderboard not written)")
    if not args.no_start and not args.wandb_project:
        records += start_records(records)
    tables = table(records)
    args.out.mkdir(parents=True, exist_ok=True)
    md = markdown(tables, args.out)
    (args.out / "leaderboard.md").write_text(md)
    (args.out / "leaderboard.html").write_text(html_page(tables, args.plots, args.out))
    group = sweep_group(args.roots) if args.group is None else args.group
    log_table(tables, args.out, args.log_wandb, args.project, group)
    print(md)
    print(f"wrote {args.out / 'leaderboard.md'} and {args.out / 'leaderboard.html'} ({len(records)} results)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from harness.commands.cli import run_command

    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
