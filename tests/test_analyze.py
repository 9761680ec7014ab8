"""Reading a sweep folder: a trial's status comes from its reports, and from its run folder when needed."""

import json

from sweeps.analyze import trial_rows


def _trial(folder, name, reports, summary=None):
    trial = folder / "tune" / "exp" / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"trial": {"method": "codegan", "seed": 0}}))
    run_dir = folder / "runs" / name
    run_dir.mkdir(parents=True)
    rows = [{**r, "run_dir": str(run_dir), "time_total_s": 10.0} for r in reports]
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))


def test_status_from_reports_and_from_a_lost_final_report(tmp_path):
    final = {"eval/acc": 0.8, "perf/train_s": 7.0}
    _trial(tmp_path, "a_done", [{"eval/acc": 0.5}, final])
    _trial(tmp_path, "b_stopped", [{"eval/acc": 0.4}])
    complete = {"status": "complete", "wall_time_s": 9.0, "metrics": {"eval/acc": 0.7, "perf/train_s": 6.0}}
    _trial(tmp_path, "c_lost", [{"eval/acc": 0.6}], summary=complete)
    df = trial_rows(tmp_path).set_index("trial")
    assert df.loc["a_done", "status"] == "complete" and df.loc["a_done", "final/eval/acc"] == 0.8
    assert df.loc["b_stopped", "status"] == "stopped"
    assert df.loc["c_lost", "status"] == "complete" and df.loc["c_lost", "final/eval/acc"] == 0.7
    assert df.loc["c_lost", "best/eval/acc"] == 0.7 and df.loc["c_lost", "tune_overhead_s"] == 1.0
