"""A sweep's W&B report is one command: its outline (the panels and the run filters of the trials, the analysis and
the leaderboard of the sweep's group) checked offline, and the report object W&B's own library builds from it."""

import json

import yaml

from scripts.wandb_report import build, main, outline


def _sweep(tmp_path):
    folder = tmp_path / "smoke"
    folder.mkdir()
    spec = {"name": "smoke", "overrides": {"eval.quality": ["domain", "inception"]}, "wandb": {"project": "mine"}}
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec))
    trials = [{"method": "codegan", "codegan.beta_c": 1.0}, {"method": "infogan", "baselines.lambda_mi": 1.0}]
    (folder / "trials.json").write_text(json.dumps(trials))
    return folder


def test_the_report_of_a_sweep_shows_its_plane_curves_tables_and_leaderboard(tmp_path, capsys):
    folder = _sweep(tmp_path)
    plan = outline(folder)
    assert plan["project"] == "mine" and plan["group"] == "smoke"
    trials, analysis, board = plan["grids"]
    assert trials["filters"] == "Group = 'smoke' and JobType = 'train'"
    assert ("scatter", "eval/fid_inception", "eval/acc") in trials["panels"]
    assert ("parallel", "baselines.lambda_mi", "codegan.beta_c", "eval/acc") in trials["panels"]
    assert ("table", "aggregate") in analysis["panels"] and board["panels"] == [("table", "leaderboard")]
    report = build(plan, "me")
    grids = [b for b in report.blocks if type(b).__name__ == "PanelGrid"]
    assert [g.runsets[0].filters for g in grids] == [g["filters"] for g in plan["grids"]]
    assert [type(p).__name__ for p in grids[0].panels] == ["ScatterPlot", "ScatterPlot", "LinePlot", "LinePlot",
                                                           "LinePlot", "ParallelCoordinatesPlot"]  # fmt: skip
    assert main([str(folder), "--dry-run"]) == 0 and "JobType = 'leaderboard'" in capsys.readouterr().out
    assert main([str(folder)]) == 2 and "--entity is needed" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2 and "is not a sweep folder" in capsys.readouterr().err
