"""The paper's figures as commands, on real digits runs of a few steps gathered as a sweep folder (Tune's trial files
beside real run folders): Fig. 4 (t-SNE of E_c features), Fig. 5 (ACC with and without pre-training), Fig. 3 b, c
(the images the classifier finds least like their code's class)."""

from __future__ import annotations

import json
import os
import statistics

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import to_rgb
from PIL import Image
from scipy.optimize import linear_sum_assignment

from harness.config import build_config
from harness.core.seeding import derive_seed
from harness.metrics.domain import train_extractor
from harness.metrics.per_code import is_collapsed
from harness.training.trainer import train
from scripts import embedding, pretrain_figure, worst_samples
from scripts.trained_model import generator_net, loaded, quality
from sweeps.analyze import analyze
from tests.launch import tiny_run
from tests.wandb_files import offline_runs

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

TRIALS = [("none", 0), ("none", 1), ("simclr", 0)]  # codegan.pretrain, seed


@pytest.fixture(scope="module")
def sweep(digits_shards, tmp_path_factory):
    """A sweep folder of CoDeGAN with and without a SimCLR-pre-trained E_c (4 steps each; SimCLR 4 steps), analysed.
    Its own cache: the domain classifier trained briefly, never handed to other modules."""
    root = tmp_path_factory.mktemp("paper_sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CODEGAN_CACHE", str(tmp_path_factory.mktemp("figure_cache")))
        train_extractor(str(digits_shards), steps=150, progress=False)
        runs = {}
        for i, (pretrain, seed) in enumerate(TRIALS):
            more = [f"seed={seed}", f"codegan.pretrain={pretrain}", "pretrain.steps=4", "pretrain.batch_size=32",
                    "eval.fid_samples=200", "train.ckpt_every=4"]  # fmt: skip
            run_dir = root / "runs" / f"trial{i}"
            train(build_config("digits", tiny_run(digits_shards.parent, root / "runs", *more)), run_dir=run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            trial = root / "tune" / "exp" / f"trial{i}"
            trial.mkdir(parents=True)
            params = {"method": "codegan", "codegan.pretrain": pretrain, "seed": seed}
            (trial / "params.json").write_text(json.dumps({"trial": params}))
            report = {**summary["metrics"], "step": summary["step"], "run_dir": str(run_dir), "time_total_s": 1.0}
            (trial / "result.json").write_text(json.dumps(report) + "\n")
            runs[(pretrain, seed)] = run_dir
        analyze(root, wandb_mode="disabled")
        yield root, runs


def test_embedding_draws_an_equal_count_per_code_coloured_by_code_and_logs_it(sweep, monkeypatch):
    _, runs = sweep
    run = runs[("none", 0)]
    figures, real = [], embedding.plot
    monkeypatch.setattr(embedding, "plot", lambda *a: figures.append(real(*a)) or figures[-1])
    assert embedding.main([str(run), "--per-code", "15", "--wandb", "offline"]) == 0
    png, points = run / "figures" / "embedding.png", pd.read_csv(run / "figures" / "embedding.csv")
    assert points["code"].value_counts().to_dict() == {k: 15 for k in range(10)}
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    (fig,) = figures
    handles = fig.legends[0].legend_handles
    colours = {tuple(np.round(h.get_facecolor()[0][:3], 3)) for h in handles}
    assert len(handles) == len(colours) == 10
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    for colour in embedding.code_colours(10):  # every code's colour is drawn (the legend's marks are opaque)
        assert (np.abs(pixels - np.array(to_rgb(colour)) * 255).max(1) < 2).any()
    assert Image.open(png).size == (850, 700)
    (wandb_run,) = [p for p in offline_runs(run) if "embedding" in p.name]
    assert list((wandb_run / "files" / "media" / "images").rglob("*.png"))


def _direct(run, per_code):
    """The probability of its code's matched class of every image, computed here from the classifier's logits."""
    with loaded(run, quality("domain")) as trainer:
        method = trainer.method
        gen = torch.Generator(device=method.device).manual_seed(derive_seed(trainer.cfg.seed, "worst"))
        images, codes = [], []
        for k in range(method.classes):
            z, c = method.latent(per_code, class_index=k, generator=gen)
            images.append((method.sample(z, c, generator_net(trainer)).clamp(0, 1) * 255 + 0.5).to(torch.uint8))
            codes += [k] * per_code
        images = torch.cat(images)
        probs = torch.softmax(trainer.quality.classifier()(images).double(), 1).numpy()
    codes = np.array(codes)
    table = np.zeros((10, 10))
    np.add.at(table, (codes, probs.argmax(1)), 1)
    _, matched = linear_sum_assignment(-table)
    return images, codes, probs[np.arange(len(codes)), matched[codes]]


def test_worst_images_are_the_lowest_probability_ones_and_collapsed_codes_are_framed(sweep, tmp_path):
    _, runs = sweep
    run = runs[("none", 0)]
    out, worst = worst_samples.worst_samples(run, tmp_path / "worst.png", per_code=30, count=4)
    images, codes, p = _direct(run, 30)
    for k in range(10):
        mine = np.flatnonzero(codes == k)
        expected = mine[np.argsort(p[mine], kind="stable")[:4]]
        assert np.allclose(np.sort(p[worst.indices[k]]), np.sort(p[expected]))
        assert p[worst.indices[k]].max() <= np.sort(p[mine])[4] + 1e-9  # none better than the 5th lowest
        assert torch.equal(worst.images[4 * k : 4 * k + 4], images[torch.as_tensor(worst.indices[k])])
    shown = pd.read_csv(tmp_path / "worst.csv")
    assert len(shown) == 40 and np.allclose(shown["probability"], np.concatenate([p[i] for i in worst.indices]))
    metrics = json.loads((run / "summary.json").read_text())["metrics"]
    expected = [is_collapsed(metrics[f"eval/code_recall_{k}_domain"], metrics[f"eval/code_share_{k}_domain"])
                for k in range(10)]  # fmt: skip
    assert worst.collapsed == expected
    pixels = np.asarray(Image.open(out).convert("RGB")).reshape(-1, 3)
    assert bool((pixels == worst_samples.FRAME).all(1).any()) == any(expected)
    width, height = Image.open(out).size
    assert height > 10 * 32 and width > 4 * 32


def test_the_sweep_analysis_draws_the_worst_images_of_each_point(sweep):
    root, _ = sweep
    drawn = sorted(p.name for p in (root / "worst").glob("*.png"))
    assert drawn == ["codegan_pretrain=none.png", "codegan_pretrain=simclr.png"]
    for name in drawn:
        assert len(pd.read_csv((root / "worst" / name).with_suffix(".csv"))) == 10 * 8


def test_pretraining_bars_per_dataset_with_the_tables_spread(sweep, monkeypatch):
    root, runs = sweep
    figures, real = [], pretrain_figure.plot
    monkeypatch.setattr(pretrain_figure, "plot", lambda *a: figures.append(real(*a)) or figures[-1])
    assert pretrain_figure.main([str(root), "--wandb", "disabled"]) == 0
    table = pd.read_csv(root / "pretraining.csv")
    acc = {key: json.loads((run / "summary.json").read_text())["metrics"]["eval/acc"] for key, run in runs.items()}
    scratch, selfsup = table.iloc[0], table.iloc[1]
    assert list(table["start"]) == ["none", "simclr"] and list(table["n"]) == [2, 1]
    assert scratch["acc_mean"] == pytest.approx(statistics.fmean([acc["none", 0], acc["none", 1]]))
    assert scratch["acc_std"] == pytest.approx(statistics.stdev([acc["none", 0], acc["none", 1]]))
    assert selfsup["acc_mean"] == pytest.approx(acc["simclr", 0]) and np.isnan(selfsup["acc_std"])
    assert scratch["label"] == "CoDeGAN (E_c from scratch)" and selfsup["label"].startswith("CoDeGAN (self)")
    (fig,) = figures
    legend = fig.legends[0]
    names = [t.get_text() for t in legend.get_texts()]
    assert names[:2] == list(table["label"]) and names[2].startswith("k-means on raw pixels")
    assert "1 sample standard deviation" in legend.get_title().get_text()
    assert Image.open(root / "pretraining.png").size[1] == 5.8 * 120
    assert os.path.getsize(root / "pretraining.png") > 10_000


def test_a_figure_loads_runs_scored_under_any_protocol():
    """A protocol's extractors are what its numbers need: a figure asks for its own (none, or the classifier)."""
    for extractors in ((), ("domain",)):
        cfg = build_config("digits", ["eval.protocol=paper", *quality(*extractors)])
        assert cfg.eval.quality == list(extractors) and cfg.eval.protocol == ""
