"""The untrained networks as leaderboard rows, on real run folders that evaluated at step 0.

Tiny digits CoDeGAN runs: a base at seeds 0, 1 (step 0 evaluated) and 2 (not), seed 0 again with other loss
weights and optimizer settings, and seed 0 with another network size. The step-0 scores of the first two seed-0
runs must be the very same numbers (what lets them pool), their trained ones not.
"""

from __future__ import annotations

import pytest

from harness.config import build_config
from harness.runs.results import load_records, show
from harness.runs.start_results import ANY, start_records, step0_eval
from harness.training.trainer import train
from scripts import leaderboard as board
from scripts.leaderboard import PAPER_COLUMN, table
from scripts.leaderboard import main as leaderboard
from tests.launch import REPO, tiny_run

PRESET = REPO / "codegan" / "configs" / "digits.yaml"
FAST = ["train.steps=2", "eval.kmeans_seeds=2", "eval.quality=[]"]
UPDATES = ["codegan.beta_c=1", "train.lr_g=0.0003", "train.betas=[0.0,0.99]", "codegan.tau=0.5", "train.gp_weight=1"]


@pytest.fixture(scope="module")
def runs(digits_shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("start")
    folders = {}
    for name, more in {
        "base0": ["seed=0"],
        "base1": ["seed=1"],
        "base2": ["seed=2", "train.eval_at_start=false"],
        "updates0": ["seed=0", *UPDATES],
        "small0": ["seed=0", "model.zn_dim=8"],
    }.items():
        overrides = tiny_run(digits_shards.parent, root / name, *FAST, "train.eval_at_start=true", *more)
        train(build_config(PRESET, overrides))
        (summary,) = (root / name).glob("*/summary.json")
        folders[name] = summary.parent
    yield root, folders


def _scores(metrics):
    return {k: v for k, v in metrics.items() if k.startswith("eval/")}


def test_loss_weights_and_optimizer_settings_leave_step_0_unchanged(runs):
    root, folders = runs
    base, updates = step0_eval(folders["base0"]), step0_eval(folders["updates0"])
    assert base is not None and base == updates  # the very same numbers: the same untrained networks
    assert step0_eval(folders["small0"]) != base and step0_eval(folders["base2"]) is None
    trained = {r.run: r.metrics for r in load_records([root]) if r.kind == "summary"}
    assert _scores(trained[str(folders["base0"].resolve())]) != _scores(trained[str(folders["updates0"].resolve())])


def test_step_0_rows_pool_the_runs_that_differ_only_in_updates(runs, tmp_path, monkeypatch):
    root, folders = runs
    records = load_records([root])
    starts = start_records(records)
    assert len(starts) == 4 and {r.kind for r in starts} == {"start"}  # seed 2 did not evaluate at step 0
    paper = tmp_path / "paper.yaml"
    paper.write_text("digits:\n  CoDeGAN: {purity: 0.9, nmi: 0.8, ari: 0.7}\n")
    monkeypatch.setattr(board, "PAPER", paper)
    (rows,) = table(records + starts).values()
    zero = [r for r in rows if r.get("step") == "0"]
    assert len(zero) == 2, zero
    (pooled,) = [r for r in zero if r["zn_dim"] != "8"]
    assert pooled["n"] == "2" and pooled["beta_c"] == ANY and pooled["lr_g"] == ANY and pooled["tau"] == ANY
    (small,) = [r for r in zero if r["zn_dim"] == "8"]
    preset = build_config(PRESET, []).codegan.beta_c
    assert small["n"] == "1" and small["beta_c"] == show(preset)  # nothing differs within its family: its own
    base = step0_eval(folders["base0"])
    one = step0_eval(folders["base1"])
    assert pooled["ACC"] == f"{(base['eval/acc'] + one['eval/acc']) / 2:.3f} ± " + pooled["ACC"].split(" ± ")[1]
    trained = [r for r in rows if r.get("step") == "2" and r["method"] == "CoDeGAN"]
    assert sorted(r["n"] for r in trained) == ["1", "1", "3"]
    assert {r[PAPER_COLUMN] for r in trained} == {"0.90 / 0.80 / 0.70"} and {r[PAPER_COLUMN] for r in zero} == {""}


def test_the_leaderboard_shows_step_0_unless_asked_not_to(runs, tmp_path):
    root, _ = runs
    out = tmp_path / "lb"
    assert leaderboard([str(root), "--out", str(out), "--log-wandb", "disabled"]) == 0
    md = (out / "leaderboard.md").read_text()
    assert "| 0 |" in md and "Step 0: the untrained networks" in md
    assert leaderboard([str(root), "--out", str(out), "--log-wandb", "disabled", "--no-start"]) == 0
    assert "| 0 |" not in (out / "leaderboard.md").read_text()
