"""SimCLR pre-training of E_c: the loss by definition, artifacts, loading, refusing, auto-running, few labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from codegan.artifacts import ARTIFACT
from codegan.losses import nt_xent_loss
from harness.config import ConfigError, build_config
from harness.training.trainer import Trainer, train


def nt_xent_by_definition(f: torch.Tensor, tau: float) -> float:
    """Chen et al. (2020), eq. 1, averaged over all 2N anchors, written as loops."""
    two_n = len(f)
    n = two_n // 2
    total = 0.0
    for i in range(two_n):
        j = (i + n) % two_n
        denom = sum(math.exp(float(f[i] @ f[k]) / tau) for k in range(two_n) if k != i)
        total += -math.log(math.exp(float(f[i] @ f[j]) / tau) / denom)
    return total / two_n


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nt_xent_matches_definition(tau):
    f = F.normalize(torch.randn(10, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64), dim=1)
    assert math.isclose(float(nt_xent_loss(f, tau)), nt_xent_by_definition(f, tau), rel_tol=1e-6)


def _overrides(digits_shards, tmp_path, *extra):
    return [
        f"data.root={digits_shards.parent}",
        f"log.root={tmp_path / 'runs'}",
        "log.wandb=disabled",
        "log.progress=false",
        "eval.kmeans_seeds=1",
        "eval.kmeans_n_init=1",
        "eval.quality=[]",
        "pretrain.steps=4",
        "pretrain.batch_size=32",
        *extra,
    ]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_pretrain_stage_writes_an_artifact_that_codegan_loads(digits_shards, tmp_path, own_cache):
    result = train(build_config("codegan/configs/digits.yaml", _overrides(digits_shards, tmp_path, "stage=pretrain")))
    assert 0 <= result["eval/acc"] <= 1  # the "SimCLR + k-means" row
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("codegan-digits-simclr-")
    art = torch.load(run / ARTIFACT, weights_only=True)
    assert art["metrics"]["eval/acc"] == result["eval/acc"] and list(own_cache.glob("encoders/digits-*.pt"))

    cfg = build_config(
        "codegan/configs/digits.yaml", _overrides(digits_shards, tmp_path, f"codegan.pretrain={run / ARTIFACT}")
    )
    trainer = Trainer(cfg)
    loaded = trainer.method.raw("E").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in art["state"].items())
    trainer.tracker.finish()

    wrong = _overrides(digits_shards, tmp_path, f"codegan.pretrain={run / ARTIFACT}", "model.e_width=16")
    with pytest.raises(ConfigError, match=r"another E_c architecture; model.e_width: artifact 32, this run 16"):
        Trainer(build_config("codegan/configs/digits.yaml", wrong))


def test_pretrain_simclr_without_artifact_runs_the_stage_once(digits_shards, tmp_path, own_cache, capsys):
    cfg = build_config(
        "codegan/configs/digits.yaml", _overrides(digits_shards, tmp_path, "codegan.pretrain=simclr", "train.steps=2")
    )
    train(cfg)
    assert capsys.readouterr().out.count("running the pre-training stage first") == 1
    names = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "runs").iterdir())
    assert names == ["codegan-digits", "codegan-digits-simclr"]
    cfg2 = build_config(
        "codegan/configs/digits.yaml",
        _overrides(digits_shards, tmp_path, "codegan.pretrain=simclr", "train.steps=2", "seed=1"),
    )
    train(cfg2)  # another CoDeGAN seed finds the cached encoder
    assert "running the pre-training stage first" not in capsys.readouterr().out
    assert len(list((tmp_path / "runs").iterdir())) == 3


def test_few_labels_are_balanced_and_join_the_contrastive_batch(digits_shards, tmp_path):
    cfg = build_config(
        "codegan/configs/digits.yaml", _overrides(digits_shards, tmp_path, "codegan.few_labels=20", "train.steps=2")
    )
    trainer = Trainer(cfg)
    images, labels = trainer.method.labelled
    assert images.shape == (20, 1, 8, 8) and float(images.max()) <= 1.0
    assert np.bincount(labels.numpy(), minlength=10).tolist() == [2] * 10
    logs = trainer.method.e_step()
    assert torch.isfinite(logs["e_lc"])
    trainer.tracker.finish()


def test_a_bad_encoder_file_is_one_line_and_exit_2(digits_shards, tmp_path, capsys):
    from harness.commands.train import main
    from tests.launch import tiny_run

    bad = tmp_path / "encoder.pt"
    bad.write_bytes(b"not a checkpoint at all")
    assert main([*tiny_run(digits_shards.parent, tmp_path / "runs"), f"codegan.pretrain={bad}"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"config error: codegan.pretrain: cannot read {bad}")
