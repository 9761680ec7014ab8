"""Learning curves from run folders: ACC and FID against the step, grouped by result identity as the leaderboard
groups, labelled by what tells the lines apart; nothing to draw is an error, never an empty figure."""

import csv
import shutil

import pytest
from PIL import Image

from harness.config import build_config
from harness.runs.track import evaluations
from harness.training.trainer import train
from scripts.curves import finished, references, runs
from scripts.curves import main as curves
from tests.launch import tiny_run

pytestmark = pytest.mark.slow


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_curves_group_like_the_leaderboard_and_never_pool_lengths(digits_shards, tmp_path, capsys):
    root = tmp_path / "runs"
    common = ("train.eval_every=2", "eval.fid_samples=200", "eval.pixel_baseline=true")
    train(build_config("digits", tiny_run(digits_shards.parent, root, "seed=0", *common)))
    (seed0,) = root.iterdir()
    shutil.copytree(seed0, tmp_path / "copy" / seed0.name)  # the same trained model twice: counted once
    train(build_config("digits", tiny_run(digits_shards.parent, root, "seed=1", *common)))
    train(build_config("digits", tiny_run(digits_shards.parent, root, "codegan.beta_c=1", *common)))
    train(build_config("digits", tiny_run(digits_shards.parent, root, "train.steps=6", "name=longer", *common)))
    start = "train.eval_at_start=true"  # the untrained networks too: a step-0 point and a reference line
    train(build_config("infogan/digits", tiny_run(digits_shards.parent, root, *common, start)))
    out = tmp_path / "curves.png"
    assert curves([str(root), str(tmp_path / "copy"), "--out", str(out), "--log-wandb", "offline"]) == 0
    acc = {(r["curve"], r["step"], r["n"]) for r in _rows(out.with_suffix(".csv")) if r["metric"] == "eval/acc"}
    assert acc == {
        ("CoDeGAN step=4, beta_c=10 (n=2)", "2", "2"), ("CoDeGAN step=4, beta_c=10 (n=2)", "4", "2"),
        ("CoDeGAN step=4, beta_c=1 (n=1)", "2", "1"), ("CoDeGAN step=4, beta_c=1 (n=1)", "4", "1"),
        ("CoDeGAN step=6, beta_c=10 (n=1)", "2", "1"), ("CoDeGAN step=6, beta_c=10 (n=1)", "4", "1"),
        ("CoDeGAN step=6, beta_c=10 (n=1)", "6", "1"),
        ("InfoGAN step=4 (n=1)", "0", "1"), ("InfoGAN step=4 (n=1)", "2", "1"), ("InfoGAN step=4 (n=1)", "4", "1"),
    }  # fmt: skip
    fid = [r for r in _rows(out.with_suffix(".csv")) if r["metric"] == "eval/fid_domain"]
    assert len(fid) == 10 and all(float(r["std"]) > 0 for r in fid if r["n"] == "2")
    assert "(4 curves)" in capsys.readouterr().out
    assert Image.open(out).size[0] > 1000 and list((tmp_path / "wandb").glob("offline-run-*"))
    records = finished([root])
    pixels, untrained = references(records, runs(records), "eval/fid_domain")  # the figure's reference lines
    (info,) = [p for p in root.iterdir() if "infogan" in p.name]
    step0 = evaluations(info)[0]
    assert pixels.method is None and pixels.acc == records[0].metrics["baseline/pixels_acc"]
    assert untrained.method == "infogan" and untrained.label.startswith("InfoGAN untrained (step 0, n=1): ACC ")
    assert (untrained.acc, untrained.fid) == (step0["eval/acc"], step0["eval/fid_domain"])

    # a run that has not finished: left out by default (said so), drawn alone with --running
    (summary,) = [p for p in root.rglob("summary.json") if "infogan" in p.parent.name]
    summary.unlink()
    assert curves([str(root), "--out", str(tmp_path / "only.png"), "--log-wandb", "disabled"]) == 0
    assert "InfoGAN" not in (tmp_path / "only.csv").read_text()
    assert "left out 1 unfinished run(s) that evaluated (--running draws them)" in capsys.readouterr().err
    args = [str(root), "--out", str(tmp_path / "all.png"), "--log-wandb", "disabled", "--running"]
    assert curves(args) == 0
    labels = {r["curve"] for r in _rows(tmp_path / "all.csv")}
    assert "InfoGAN (unfinished at step 4) (n=1)" in labels and "CoDeGAN step=4, beta_c=10 (n=2)" in labels

    # nothing to draw, or a FID nobody measured: one line, exit 1, no file written
    (tmp_path / "empty").mkdir()
    assert curves([str(tmp_path / "empty"), "--out", str(tmp_path / "none.png"), "--log-wandb", "disabled"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no complete runs under" in line and "nothing to draw" in line
    args = [str(root), "--out", str(tmp_path / "none.png"), "--fid", "eval/fid_inception", "--log-wandb", "disabled"]
    assert curves(args) == 1
    assert "--fid eval/fid_inception: no run here measured it (they have: eval/fid_domain)" in capsys.readouterr().err
    assert not list(tmp_path.glob("none.*"))
