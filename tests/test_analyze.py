"""Reading a sweep folder: trial status, one row per result identity, no run counted twice, the plot.

Trial folders hold Tune's files (``params.json``, ``result.json``) and, where the run folder is visible,
a ``summary.json`` whose result identity comes from the harness's own identity functions.
"""

from __future__ import annotations

import json
import statistics

import pandas as pd
import pytest
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from harness.config import build_config
from harness.runs.identity import result_identity, result_key, run_hash
from harness.runs.results import STD_NOTE
from scripts.figure_marks import NO_PIXELS, NO_START
from sweeps.analyze import (
    aggregate,
    aggregate_markdown,
    analyze,
    curves,
    pareto,
    plot,
    references,
    trial_rows,
    weight_label,
)
from sweeps.contrast import start_rows
from sweeps.spec import default_weight_keys
from tests.launch import REPO
from tests.wandb_files import read_records

PRESETS = {"codegan": REPO / "codegan/configs/digits.yaml", "infogan": REPO / "baselines/configs/infogan/digits.yaml"}


def _trial(folder, name, reports, summary=None, params=None, run_dir=None):
    trial = folder / "tune" / "exp" / name
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"trial": params or {"method": "codegan", "seed": 0}}))
    run_dir = run_dir or folder / "runs" / name
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [{**r, "run_dir": str(run_dir), "time_total_s": 10.0} for r in reports]
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))


def _summary(params, metrics, step=60, precision="no"):
    """A complete run's summary as the Trainer writes it (identity from the harness's functions)."""
    cfg = build_config(PRESETS[params["method"]], values={"train.steps": step, **params})
    identity = result_identity(cfg, 1, precision, step, "d1g3st")
    return {"status": "complete", "dataset": "digits", "seed": cfg.seed, "step": step, "wall_time_s": 9.0,
            "run_hash": run_hash(cfg, 1, precision), "identity": identity, "result_key": result_key(identity),
            "metrics": metrics}  # fmt: skip


def _done(params, acc, fid, step=60, precision="no", folder=None, name=None, visible=True, pixels=None, start=None):
    """A complete trial; ``pixels``: the run's k-means-on-pixels ACC; ``start``: its (ACC, FID) at step 0."""
    metrics = {"eval/acc": acc, "eval/fid_domain": fid, "perf/train_s": 7.0}
    if pixels is not None:
        metrics["baseline/pixels_acc"] = pixels
    report = {**metrics, "step": step}
    first = [{"eval/acc": start[0], "eval/fid_domain": start[1], "step": 0}] if start else []
    summary = _summary(params, metrics, step, precision) if visible else None
    _trial(folder, name, [*first, report], summary=summary, params=params)


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


@pytest.fixture
def sweep(tmp_path):
    """Two seeds of beta_c=1; the same values at bf16; seed 0 trained twice (a sweep run again into the same
    folder); beta_c=10 on two seeds whose run folders are not visible; InfoGAN at two weights."""
    c1, c10 = {"method": "codegan", "codegan.beta_c": 1.0}, {"method": "codegan", "codegan.beta_c": 10.0}
    _done({**c1, "seed": 0}, 0.60, 20.0, folder=tmp_path, name="t0")
    _done({**c1, "seed": 1}, 0.70, 24.0, folder=tmp_path, name="t1")
    _done({**c1, "seed": 0}, 0.55, 30.0, precision="bf16", folder=tmp_path, name="t2")
    _done({**c1, "seed": 0}, 0.60, 20.0, folder=tmp_path, name="t3_again")
    _done({**c10, "seed": 0}, 0.50, 15.0, folder=tmp_path, name="t4", visible=False)
    _done({**c10, "seed": 1}, 0.40, 17.0, folder=tmp_path, name="t5", visible=False)
    for i, (weight, acc, fid) in enumerate([(0.3, 0.45, 18.0), (3.0, 0.52, 40.0)]):
        _done({"method": "infogan", "baselines.lambda_mi": weight, "seed": 0}, acc, fid, folder=tmp_path, name=f"i{i}")
    return tmp_path


def test_collapsed_codes_are_a_column_of_the_aggregate(tmp_path):
    for seed, k in ((0, 1.0), (1, 3.0)):
        metrics = {"eval/acc": 0.5, "eval/fid_domain": 20.0, "eval/collapsed_codes_domain": k, "perf/train_s": 7.0}
        metrics["eval/code_fid_max_domain"] = 30.0 + 2 * k
        params = {"method": "codegan", "codegan.beta_c": 1.0, "seed": seed}
        summary = _summary(params, metrics, 60, "no")
        _trial(tmp_path, f"t{seed}", [{**metrics, "step": 60}], summary=summary, params=params)
    md = aggregate_markdown(aggregate(trial_rows(tmp_path)))
    head = next(line for line in md.splitlines() if line.startswith("|"))
    assert "collapsed codes (domain)" in head and "| 2.0 ± 1.4 " in md and "Collapsed codes: of the K" in md
    assert "worst code's FID (domain)" in head and "| 34.00 ± 2.83 " in md and "Worst code's FID: the largest" in md


def test_aggregate_is_per_result_identity_with_n_and_the_sample_std(sweep):
    results = trial_rows(sweep).set_index("trial")
    assert results.loc["t3_again", "duplicate_of"] == "t0" and (results.drop("t3_again")["duplicate_of"] == "").all()
    agg = aggregate(results.reset_index())
    ours = agg[agg["param/method"] == "codegan"]
    assert sorted(ours["n"]) == [1, 2, 2] and agg["n"].sum() == 7  # t3_again is not counted
    assert "mixed_precision" in agg.columns  # the one identity part that tells two beta_c=1 rows apart
    fp32 = ours[(ours["param/codegan.beta_c"] == 1.0) & (ours["mixed_precision"] == "no")].iloc[0]
    assert fp32["n"] == 2 and fp32["eval/acc_std"] == pytest.approx(statistics.stdev([0.60, 0.70]))
    assert fp32["eval/fid_domain_std"] == pytest.approx(statistics.stdev([20.0, 24.0])) and fp32["seeds"] == "0, 1"
    bf16 = ours[ours["mixed_precision"] == "bf16"].iloc[0]
    assert bf16["n"] == 1 and pd.isna(bf16["eval/acc_std"])
    hidden = ours[ours["param/codegan.beta_c"] == 10.0].iloc[0]  # no summary: grouped by the swept values
    assert hidden["n"] == 2 and hidden["result_key"] == "" and hidden["mixed_precision"] == "-"


def test_analysis_files_plot_and_wandb_run_in_the_sweeps_project(sweep):
    spec = yaml.safe_load((REPO / "sweeps" / "smoke.yaml").read_text())
    spec.update(name="exp", wandb={"mode": "offline", "project": "sweep-project"})
    (sweep / "sweep.yaml").write_text(yaml.safe_dump(spec))
    out = analyze(sweep)
    assert STD_NOTE in (sweep / "aggregate.md").read_text()
    assert len(out["curves"]) == 5 and set(out["curves"]["dataset"]) == {"digits"}
    (run,) = [r["run"] for r in read_records(next((sweep / "wandb").glob("offline-run-*"))) if r.get("type") == "run"]
    assert run["project"] == "sweep-project" and run["job_type"] == "analysis" and run["run_group"] == "exp"
    analyze(sweep)  # again: the same W&B run (one id), updated when synced, not a second one
    again = [r["run"] for w in sorted((sweep / "wandb").glob("offline-run-*")) for r in read_records(w)
             if r.get("type") == "run"]  # fmt: skip
    assert len(again) == 2 and again[0]["run_id"] == again[1]["run_id"] == run["run_id"]
    # CoDeGAN at 1 and 10, InfoGAN at 0.3 and 3: no comparison, and what to change to get one
    assert "none in common. To compare the two methods" in (sweep / "comparison.md").read_text()
    title = Image.open(sweep / "tradeoff.png").text["Title"]
    assert title.startswith("digits:") and "60 steps" in title and "n = 1–2 seeds" in title


def test_trade_off_plot_has_title_error_bars_on_both_axes_and_separate_labels(sweep, tmp_path):
    cur = curves(aggregate(trial_rows(sweep)), default_weight_keys())
    fig = plot(cur, pareto(cur, "eval/fid_domain_mean"), "eval/fid_domain_mean", tmp_path / "plot.png")
    assert "digits" in fig._suptitle.get_text() and "60 steps" in fig._suptitle.get_text()
    caption = fig.legends[0].get_title().get_text()  # what each bar is, with n, under both panels
    assert caption.startswith("error bars: mean ± 1 sample standard deviation over seeds") and "n = 1–2" in caption
    named = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"CoDeGAN precision=no (n = 2)", "CoDeGAN precision=bf16 (n = 1)", "InfoGAN precision=no (n = 1)"} <= named
    assert NO_PIXELS in fig._suptitle.get_text() and NO_START in fig._suptitle.get_text()  # said, not left out
    left, right = fig.axes
    assert "lower is better" in right.get_xlabel() and "std" in right.get_xlabel() and "std" in right.get_ylabel()
    bars = [c for c in right.containers if hasattr(c, "has_xerr")]
    assert len(bars) == cur["curve"].nunique() and all(c.has_xerr and c.has_yerr for c in bars)
    assert all(c.has_yerr for c in left.containers if hasattr(c, "has_yerr"))
    labels = [t for t in right.texts]
    assert sorted(t.get_text() for t in labels) == sorted(f"{w:g}" for w in cur["weight"])
    renderer = FigureCanvasAgg(fig).get_renderer()  # the saved figure's layout (plot closed its own canvas)
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


@pytest.fixture
def referenced(tmp_path):
    """CoDeGAN at beta_c 1 and 10 and InfoGAN at lambda_mi 1, two seeds each, every run with the pixel baseline
    (one computation: 0.3) and an evaluation at step 0 (the same untrained networks per seed, whatever the weight;
    InfoGAN's untrained FID falls inside the FID panel, CoDeGAN's far past it)."""
    for seed in (0, 1):
        for beta, acc, fid in ((1.0, 0.60 + seed / 50, 20.0 + seed), (10.0, 0.50 + seed / 50, 15.0 + seed)):
            _done({"method": "codegan", "codegan.beta_c": beta, "seed": seed}, acc, fid, folder=tmp_path,
                  name=f"c{beta:g}-{seed}", pixels=0.3, start=(0.20 + seed / 50, 400.0))  # fmt: skip
        _done({"method": "infogan", "baselines.lambda_mi": 1.0, "seed": seed}, 0.45, 18.0 + seed, folder=tmp_path,
              name=f"i-{seed}", pixels=0.3, start=(0.15 + seed / 50, 12.0))  # fmt: skip
    return tmp_path


def _lines(ax, start: str) -> list:
    return [line for line in ax.get_lines() if line.get_label().startswith(start)]


def test_trade_off_plot_draws_the_pixel_baseline_and_the_untrained_networks(referenced, tmp_path):
    results = trial_rows(referenced)
    keys = default_weight_keys()
    cur = curves(aggregate(results), keys)
    refs = references(results, start_rows(results, "final/eval/fid_domain", keys))
    assert [r.label for r in refs] == [
        "k-means on raw pixels: ACC 0.300",
        "CoDeGAN untrained (step 0, n=2): ACC 0.210, FID 400.0",  # one per seed, not one per weight and seed
        "InfoGAN untrained (step 0, n=2): ACC 0.160, FID 12.0",
    ]
    fig = plot(cur, pareto(cur, "eval/fid_domain_mean"), "eval/fid_domain_mean", tmp_path / "plot.png", refs)
    left, right = fig.axes
    for ax in (left, right):  # labelled horizontal lines at their ACC, in both panels
        (pixels,) = _lines(ax, "k-means on raw pixels")
        assert list(pixels.get_ydata()) == [0.3, 0.3] and pixels.get_linestyle() == "--"
        (codegan,) = _lines(ax, "CoDeGAN untrained")
        assert codegan.get_ydata()[0] == pytest.approx(0.21) and ax.get_ylim()[0] < 0.16
    named = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {r.label for r in refs} <= named
    # the untrained FID inside the panel is a vertical line, the one far past it is not
    vertical = [line for line in right.get_lines() if list(line.get_xdata()) == [12.0, 12.0]]
    assert len(vertical) == 1 and not [line for line in right.get_lines() if 400.0 in list(line.get_xdata())]
    assert NO_PIXELS not in fig._suptitle.get_text() and NO_START not in fig._suptitle.get_text()
    analyze(referenced, wandb_mode="disabled")  # the sweep's own figure has them too
    assert (referenced / "tradeoff.png").is_file()


def test_axes_do_not_exaggerate_a_tiny_spread(tmp_path):
    """Three single-seed points 0.004 apart: the ACC axis spans 0.2 inside [0, 1], the FID axis starts at 0."""
    for i, (beta, acc) in enumerate(((1.0, 0.260), (3.0, 0.262), (10.0, 0.264))):
        _done({"method": "codegan", "codegan.beta_c": beta, "seed": 0}, acc, 40.0 + i, folder=tmp_path, name=f"t{i}")
    cur = curves(aggregate(trial_rows(tmp_path)), default_weight_keys())
    fig = plot(cur, pareto(cur, "eval/fid_domain_mean"), "eval/fid_domain_mean", tmp_path / "plot.png")
    left, right = fig.axes
    for ax in (left, right):
        low, high = ax.get_ylim()
        assert high - low == pytest.approx(0.2) and 0 <= low < 0.26 and 0.264 < high <= 1
    assert right.get_xlim()[0] == 0 and right.get_xlim()[1] > 42


def test_the_weight_axis_names_each_methods_key_once(sweep, tmp_path):
    cur = curves(aggregate(trial_rows(sweep)), default_weight_keys())
    fig = plot(cur, pareto(cur, "eval/fid_domain_mean"), "eval/fid_domain_mean", tmp_path / "plot.png")
    assert fig.axes[0].get_xlabel() == "CoDeGAN's beta_c, InfoGAN's lambda_mi (log scale)"
    toy = pd.DataFrame({"method": ["toygan", "toygan"], "weight_key": ["toygan.weight", "toygan.weight"]})
    assert weight_label(toy) == "toygan's weight (log scale)"  # never "weight (log scale): weight (toygan)"


def test_trial_runs_are_named_and_tagged_by_their_swept_values(tmp_path):
    from sweeps.trainable import TrialContext, trial_config

    ctx = TrialContext("exp", {m: str(p) for m, p in PRESETS.items()}, {}, str(tmp_path), "disabled", "p")
    cfg = trial_config(ctx, {"method": "codegan", "codegan.beta_c": 10.0, "seed": 1}, "abc_00001")
    assert cfg.log.run_name == "codegan digits beta_c=10 seed 1" and cfg.log.tags == ["beta_c=10"]


def test_tunes_table_has_a_column_per_swept_key_and_the_metrics():
    from sweeps.run import reporter
    from sweeps.space import expand
    from sweeps.spec import load_spec

    spec = load_spec(REPO / "sweeps" / "smoke.yaml")
    table = reporter(spec, expand(spec))
    assert table._parameter_columns == {
        "trial/method": "method",
        "trial/codegan.beta_c": "beta_c",
        "trial/seed": "seed",
        "trial/baselines.lambda_mi": "lambda_mi",
    }
    assert {"eval/acc", "eval/fid_domain"} <= set(table._metric_columns)
