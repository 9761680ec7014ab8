"""A W&B report of one sweep, in one command: the ACC-FID plane of its trials, their learning curves, how the swept
values relate to ACC, the sweep's analysis tables and the leaderboard made from its runs (the runs a sweep and
``codegan-leaderboard`` log: trials of job type ``train``, the ``analysis`` run and the ``leaderboard`` run, all in the
sweep's group).

    python -m scripts.wandb_report runs/sweeps/smoke --entity ME [--project codegan-bench] [--dry-run]

Made with ``wandb-workspaces`` (W&B's library for reports). Saving needs a W&B login and the runs synced
(``wandb sync <sweep>/wandb/offline-run-*``: the driver prints that line); ``--dry-run`` prints the report's outline
and checks its run filters, offline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from harness.core.places import at_home
from sweeps.folders import SPEC_COPY, sweep_group


def _spec(folder: Path) -> dict[str, Any]:
    path = folder / SPEC_COPY
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def outline(folder: Path) -> dict[str, Any]:
    """What the report shows, without W&B: its title, project, group, the run filter of each panel grid and its
    panels (``kind: metric or table``)."""
    spec = _spec(folder)
    group = sweep_group([folder]) or folder.name
    trials = json.loads((folder / "trials.json").read_text()) if (folder / "trials.json").is_file() else []
    swept = sorted({k for t in trials for k in t if k not in ("method", "seed")})
    quality = (spec.get("overrides") or {}).get("eval.quality") or ["domain"]
    fids = [f"eval/fid_{x}" for x in (quality if isinstance(quality, list) else [quality])]
    return {
        "title": f"{group}: disentanglement against image quality",
        "project": (spec.get("wandb") or {}).get("project", "codegan-bench"),
        "group": group,
        "grids": [
            {
                "name": "trials",
                "filters": f"Group = '{group}' and JobType = 'train'",
                "panels": [
                    *(("scatter", f, "eval/acc") for f in fids),
                    ("line", "eval/acc"),
                    *(("line", f) for f in fids),
                    ("parallel", *swept, "eval/acc"),
                ],  # fmt: skip
            },
            {
                "name": "analysis",
                "filters": f"Group = '{group}' and JobType = 'analysis'",
                "panels": [("table", "aggregate"), ("table", "curves"), ("table", "pareto")],
            },
            {
                "name": "leaderboard",
                "filters": f"Group = '{group}' and JobType = 'leaderboard'",
                "panels": [("table", "leaderboard")],
            },
        ],
    }


def _panel(wr: Any, panel: tuple[str, ...]) -> Any:
    kind, *keys = panel
    if kind == "scatter":
        return wr.ScatterPlot(title=f"ACC against {keys[0]}", x=wr.SummaryMetric(keys[0]), y=wr.SummaryMetric(keys[1]))
    if kind == "line":
        return wr.LinePlot(title=f"{keys[0]} by step", x="Step", y=[keys[0]])
    if kind == "parallel":
        columns = [wr.ParallelCoordinatesPlotColumn(metric=wr.Config(k)) for k in keys[:-1]]
        return wr.ParallelCoordinatesPlot(columns=[*columns, wr.ParallelCoordinatesPlotColumn(
            metric=wr.SummaryMetric(keys[-1]))], title="swept values and ACC")  # fmt: skip
    return wr.WeavePanelSummaryTable(table_name=keys[0])


def build(plan: dict[str, Any], entity: str) -> Any:
    """The report object of an :func:`outline` (saved with ``.save()``)."""
    import wandb_workspaces.reports.v2 as wr

    about = (f"The runs of sweep {plan['group']} in {plan['project']}: each trial's final scores, its learning curves,"
             " the sweep's analysis tables and the leaderboard of its runs.")  # fmt: skip
    blocks: list[Any] = [wr.H1(plan["title"]), wr.P(about)]
    for grid in plan["grids"]:
        runset = wr.Runset(entity=entity, project=plan["project"], name=grid["name"], filters=grid["filters"])
        blocks += [wr.H2(grid["name"]), wr.PanelGrid(runsets=[runset], panels=[_panel(wr, p) for p in grid["panels"]])]
    return wr.Report(project=plan["project"], entity=entity, title=plan["title"], blocks=blocks, width="fluid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", help="a sweep folder (runs/sweeps/<name>)")
    parser.add_argument("--entity", default="", help="the W&B entity (user or team) that holds the project")
    parser.add_argument("--project", default="", help="the W&B project (default: the sweep's)")
    parser.add_argument("--dry-run", action="store_true", help="print the report's outline; nothing is sent")
    args = parser.parse_args(argv)
    folder = at_home(args.sweep)
    if not (folder / "trials.json").is_file():
        print(f"error: {folder} is not a sweep folder (no trials.json)", file=sys.stderr)
        return 2
    plan = outline(folder)
    plan["project"] = args.project or plan["project"]
    try:
        from wandb_workspaces.expr import expr_to_filters
    except ImportError:
        print("error: the report needs wandb-workspaces: pip install 'codegan-bench[report]'", file=sys.stderr)
        return 2
    for grid in plan["grids"]:
        expr_to_filters(grid["filters"])  # a filter W&B could not read fails here, offline
    if args.dry_run:
        print(yaml.safe_dump(plan, sort_keys=False, default_flow_style=None, width=120), end="")
        return 0
    if not args.entity:
        print("error: --entity is needed to save a report (the W&B user or team of the project)", file=sys.stderr)
        return 2
    report = build(plan, args.entity)
    report.save()
    print(f"report saved: {report.url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
