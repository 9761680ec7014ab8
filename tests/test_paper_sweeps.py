"""The paper-table sweeps: each file lists every row of its table with 3 seeds at the paper's budget, and
the Fashion-MNIST table runs end to end on Ray at a few steps on the real Fashion-MNIST shards.

The run is skipped where Debian's dataset-fashion-mnist files are absent, unless CODEGAN_REQUIRE_FASHION=1.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.config import registry, training_config
from sweeps.run import local_ray_env, main, run
from sweeps.spec import load_spec
from sweeps.trainable import TrialContext, trial_config
from tests.launch import REPO

SOURCE = Path("/usr/share/datasets/fashion-mnist")
ROWS = {"ClusterGAN", "InfoGAN", "InfoGAN-CR", "CoDeGAN", "CoDeGAN (self)"}
EXTRA_ROWS = {"fashion-mnist": {"GAN (bp)", "GAN (Disc. phi)"}}  # the plain-GAN rows only this table has
BUDGET = {"fashion-mnist": 562500, "coil20": 40500, "cifar10": 273438}  # 600, 4,500 and 350 epochs
NAMES = {
    "clustergan": "ClusterGAN",
    "infogan": "InfoGAN",
    "infogan-cr": "InfoGAN-CR",
    "codegan": "CoDeGAN",
    "gan-bp": "GAN (bp)",
    "gan-disc": "GAN (Disc. phi)",
}


def _row(trial: dict) -> str:
    return NAMES[trial["method"]] + (" (self)" if trial.get("codegan.pretrain", "none") != "none" else "")


@pytest.mark.parametrize("table", sorted(BUDGET))
def test_dry_run_lists_every_row_of_the_table_with_three_seeds(table, capsys):
    path = REPO / "sweeps" / f"paper_{table}.yaml"
    assert main([str(path), "--dry-run"]) == 0
    trials = [json.loads(line.split(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()]
    rows = ROWS | EXTRA_ROWS.get(table, set())
    assert Counter(_row(t) for t in trials) == dict.fromkeys(rows, 3)
    assert all(sorted(t["seed"] for t in trials if _row(t) == row) == [0, 1, 2] for row in rows)
    spec = load_spec(path)
    ctx = TrialContext(spec.name, {m: str(p) for m, p in spec.presets.items()}, spec.overrides, "runs", "disabled", "x")
    for i, trial in enumerate(trials):
        cfg = trial_config(ctx, trial, str(i))
        assert cfg.data.dataset == table and cfg.method == trial["method"]
        if _row(trial) == "CoDeGAN (self)" and table == "cifar10":  # the reference's pre-trained run: 300 epochs
            assert cfg.train.steps == 234375 and not cfg.codegan.detach_view and cfg.codegan.chain_step == "0"
        else:
            assert cfg.train.steps == BUDGET[table]
        if trial["method"] == "codegan":  # the reference-equivalent preset
            assert cfg.codegan.crop_mode == "integer" and not cfg.codegan.crop_per_sample


@pytest.mark.parametrize("dataset, labels", [("fashion-mnist", 100), ("cifar10", 500)])
def test_the_few_label_sweeps_list_three_encoders_with_three_seeds_on_the_same_labels(dataset, labels, capsys):
    """The reference's few-label runs: N labels (balanced, by the seed), E_c from scratch, by SimCLR or by MAML on
    the same labels; each trial builds, under the paper's protocol."""
    path = REPO / "sweeps" / f"few_labels_{dataset}.yaml"
    assert main([str(path), "--dry-run"]) == 0
    trials = [json.loads(line.split(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()]
    spec = load_spec(path)
    ctx = TrialContext(spec.name, {m: str(p) for m, p in spec.presets.items()}, spec.overrides, "runs", "disabled", "x")
    labels_of = Counter(registry.label(training_config(trial_config(ctx, t, str(i)))) for i, t in enumerate(trials))
    names = ("CoDeGAN", "CoDeGAN (self)", "CoDeGAN (meta)")
    assert labels_of == {f"{name} ({labels} labels)": 3 for name in names}
    cfg = trial_config(ctx, trials[-1], "x")
    assert (cfg.data.dataset, cfg.codegan.few_labels, cfg.eval.protocol) == (dataset, labels, "paper")


@pytest.fixture
def fashion_root(tmp_path_factory) -> Path:
    if not (SOURCE / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CODEGAN_REQUIRE_FASHION") == "1":
            pytest.fail(f"{SOURCE} is missing: apt-get install dataset-fashion-mnist")
        pytest.skip(f"{SOURCE} is missing (apt-get install dataset-fashion-mnist)")
    from harness.data.build import build

    root = tmp_path_factory.mktemp("data")
    build("fashion-mnist", root=str(root), progress=False)
    return root


@pytest.mark.slow
def test_the_fashion_mnist_table_runs_on_ray_at_a_few_steps(fashion_root, tmp_path, monkeypatch):
    import ray

    monkeypatch.setenv("CODEGAN_DATA", str(fashion_root))
    monkeypatch.setenv("RAY_ADDRESS", "local")  # a private instance, never a cluster another process started
    local_ray_env()
    spec = yaml.safe_load((REPO / "sweeps" / "paper_fashion-mnist.yaml").read_text())
    spec["name"] = "paper_tiny"
    spec["overrides"] = {
        "train.steps": 3,
        "pretrain.steps": 2,
        "pretrain.batch_size": 32,
        "codegan.e_batch_size": 32,
        "eval.quality": [],
        "eval.kmeans_seeds": 1,
        "eval.kmeans_n_init": 1,
        "eval.pixel_baseline": False,
        "data.verify": False,
        "baselines.bp_steps": 2,
        "model.hidden": 128,  # narrow nets: evaluating 10,000 real test images stays quick
        "model.g_width": 16,
        "model.d_width": 16,
        "model.e_width": 16,
    }
    for group in spec["space"]:
        group["seed"] = [0]
    spec["resources"] = {"cpu": 1, "gpu": 0}
    path = tmp_path / "paper_tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        folder = run(str(path), out=str(tmp_path / "sweeps"))
    finally:
        ray.shutdown()
    df = pd.read_csv(folder / "results.csv")
    assert len(df) == 7 and (df["status"] == "complete").all(), df[["trial", "status"]]
    assert sorted(df["method"]) == ["clustergan", "codegan", "codegan", "gan-bp", "gan-disc", "infogan", "infogan-cr"]
    assert df["final/eval/acc"].between(0, 1).all()
    for run_dir in map(Path, df["run_dir"]):
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["step"] == 3 and summary["eval_images"] == 10000  # the real test split
    runs = folder / "runs"
    assert len(list(runs.glob("*-simclr-*/encoder.pt"))) == 1  # CoDeGAN (self) pre-trained its E_c first
    (cr_run,) = [Path(p) for p, m in zip(df["run_dir"], df["method"], strict=True) if m == "infogan-cr"]
    logs = [json.loads(line) for line in (cr_run / "metrics.jsonl").read_text().splitlines()]
    assert any("train/g_cr" in r for r in logs)  # cr_start 0.89 of 3 steps: on at the last iteration


def test_the_cifar10_tradeoff_sweep_lists_five_weights_per_method_with_three_seeds_at_the_papers_budget(capsys):
    path = REPO / "sweeps" / "tradeoff_cifar10.yaml"
    assert main([str(path), "--dry-run"]) == 0
    trials = [json.loads(line.split(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()]
    weights = {"codegan": "codegan.beta_c", "infogan": "baselines.lambda_mi"}
    for method, key in weights.items():
        mine = [t for t in trials if t["method"] == method]
        assert len({t[key] for t in mine}) == 5 and Counter(t[key] for t in mine) == dict.fromkeys(
            {t[key] for t in mine}, 3
        )
    spec = load_spec(path)
    ctx = TrialContext(spec.name, {m: str(p) for m, p in spec.presets.items()}, spec.overrides, "runs", "disabled", "x")
    for i, trial in enumerate(trials):
        cfg = trial_config(ctx, trial, str(i))
        assert cfg.data.dataset == "cifar10" and cfg.train.steps == BUDGET["cifar10"]
        assert cfg.eval.protocol == "paper" and cfg.eval.quality == ["inception_tf", "domain"]
        assert cfg.eval.fid_samples == 50000 and cfg.eval.fid_split == "train"  # what the paper's protocol fixes
        assert spec.weight_keys[cfg.method] == weights[cfg.method]
