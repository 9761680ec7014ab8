"""The CIFAR-10 preset's architecture (ResNet G/D, separate encoders, colour views, hinge, linear decay)
trains, evaluates and checkpoints on shards built from files in CIFAR-10's real format."""

import json

import pytest

from harness.config import build_config
from harness.data.build import build
from harness.runs import checkpoint
from harness.training.trainer import train
from tests.test_sources import cifar_batch, small_card

pytestmark = pytest.mark.slow


def test_cifar10_preset_architecture_runs(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        (folder / name).write_bytes(cifar_batch(16, i)[0])
    card = small_card(tmp_path, "cifar10", expected={"train": 80, "test": 16}, shard_size=10)
    build(str(card), root=str(tmp_path / "data"), progress=False, source=str(folder))
    cfg = build_config(
        "codegan/configs/cifar10.yaml",
        [
            f"data.dataset={card}",
            f"data.root={tmp_path / 'data'}",
            f"log.root={tmp_path / 'runs'}",
            "log.wandb=disabled",
            "log.progress=false",
            "model.g_width=16",
            "model.d_width=16",
            "model.e_width=4",
            "model.hidden=32",
            "train.steps=6",
            "train.batch_size=8",
            "train.g_batch_size=8",
            "train.ckpt_every=3",
            "train.log_every=3",
            "codegan.e_batch_size=16",
            "codegan.ez_batch_size=4",
            "eval.kmeans_seeds=1",
            "eval.kmeans_n_init=1",
            "eval.grid_columns=2",
            "eval.quality=[]",  # image quality is tested elsewhere; a domain classifier would dominate the time
        ],
    )
    result = train(cfg)
    (run,) = (tmp_path / "runs").iterdir()
    assert 0 <= result["eval/acc"] <= 1 and "baseline/pixels_acc" in result
    state = checkpoint.load(checkpoint.latest(run / "checkpoints"))
    assert state["step"] == 6 and set(state["method"]["nets"]) == {"G", "D", "Ec", "Ez"}
    # linear decay: after the last step the rate is (1 - 5/6) of the configured 2e-4
    lr = state["method"]["opts"]["G"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(2e-4 / 6)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    g_steps = [r["step"] for r in rows if "train/g_lc" in r]
    assert g_steps == [3, 6] and all("train/e_lz" in r for r in rows if "train/g_lc" in r)
    assert (run / "samples" / "grid-00000006.png").is_file()
