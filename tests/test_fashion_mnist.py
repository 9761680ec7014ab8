"""Real Fashion-MNIST (Debian's dataset-fashion-mnist IDX files): shards, verification, a short run.

Skipped where the files are absent, unless CODEGAN_REQUIRE_FASHION=1 (CI sets it after installing them).
"""

import json
import os
from pathlib import Path

import pytest

from harness.data.build import build
from harness.data.manifest import read_manifest
from harness.data.verify import verify_contents
from tests.launch import launch, run_folder

SOURCE = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fashion_shards(tmp_path_factory) -> Path:
    if not (SOURCE / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CODEGAN_REQUIRE_FASHION") == "1":
            pytest.fail(f"{SOURCE} is missing: apt-get install dataset-fashion-mnist")
        pytest.skip(f"{SOURCE} is missing (apt-get install dataset-fashion-mnist)")
    return build("fashion-mnist", root=str(tmp_path_factory.mktemp("data")), progress=False)


def test_real_fashion_mnist_shards(fashion_shards):
    man = read_manifest(str(fashion_shards))
    assert man.source == f"idx:{SOURCE}" and man.shape == [1, 28, 28]
    assert (man.splits["train"].count, man.splits["test"].count) == (60000, 10000)
    assert man.splits["train"].per_class == [6000] * 10 and man.splits["test"].per_class == [1000] * 10
    verify_contents(str(fashion_shards), man, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in fashion_shards.iterdir()}
    build("fashion-mnist", root=str(fashion_shards.parent), progress=False)
    assert before == {p.name: p.stat().st_mtime_ns for p in fashion_shards.iterdir()}, "second build was not a no-op"


def test_short_real_fashion_mnist_run(fashion_shards, tmp_path):
    args = [
        "--config",
        "codegan/configs/fashion-mnist.yaml",
        f"data.root={fashion_shards.parent}",
        f"log.root={tmp_path}",
        "train.steps=60",
        "train.log_every=20",
        "train.eval_every=30",
        "train.ckpt_every=30",
        "codegan.e_batch_size=64",
        "eval.kmeans_seeds=2",
        "eval.kmeans_n_init=2",
        "eval.quality=[]",  # image quality on this data: test_fashion_mnist_fid_orders_real_and_noise
        "log.wandb=disabled",
    ]
    proc = launch(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = run_folder(tmp_path)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["eval_images"] == 10000 and summary["step"] == 60
    assert 0.1 < summary["metrics"]["eval/acc"] <= 1.0
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step-00000030.pt", "step-00000060.pt"]


def test_fashion_mnist_fid_orders_real_and_noise(fashion_shards):
    """FID/KID/IS on real Fashion-MNIST through a (briefly trained) domain extractor."""
    import numpy as np
    import torch

    from harness.data.stream import load_split
    from harness.metrics.domain import train_extractor
    from harness.metrics.extractors import DomainExtractor, ExtractorContext
    from harness.metrics.features import moments, run_batched
    from harness.metrics.fid import fid
    from harness.metrics.inception_score import inception_score
    from harness.metrics.kid import kid

    cpu = torch.device("cpu")
    _, info = train_extractor(str(fashion_shards), steps=300, device=cpu, progress=False)
    assert info.test_acc > 0.75
    ext = DomainExtractor(ExtractorContext(str(fashion_shards), 28, cpu, progress=False))
    man = read_manifest(str(fashion_shards))
    test = load_split(str(fashion_shards), man, "test")["image"]
    train_part = load_split(str(fashion_shards), man, "train")["image"][:10000]
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(
        np.stack([rng.permutation(r) for r in test[:2000].flatten(1).numpy()]).reshape(-1, 1, 28, 28)
    )
    f_train, _ = run_batched(ext, train_part, 500, cpu)
    f_test, logits = run_batched(ext, test, 500, cpu)
    f_noise, _ = run_batched(ext, noise, 500, cpu)
    ref = f_train.numpy().astype(np.float64)
    mu, sigma = moments(ref)
    real, fake = fid(f_test.numpy(), mu, sigma), fid(f_noise.numpy(), mu, sigma)
    assert real < 0.05 * fake, (real, fake)
    assert kid(f_test.numpy().astype(np.float64), ref, 0) < 0.05 * kid(f_noise.numpy().astype(np.float64), ref, 0)
    assert inception_score(logits.numpy())[0] > 4.0  # K = 10 at a perfect, confident classifier; 300 steps give ~5
