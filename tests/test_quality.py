"""FID, KID and IS on real digits through the domain extractor; clean-fid agreement; the Inception path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cleanfid import fid as cleanfid
from PIL import Image

from harness.config import build_config
from harness.core.errors import RunError
from harness.data.manifest import read_manifest
from harness.data.stream import load_split
from harness.metrics.extractors import DomainExtractor, ExtractorContext, InceptionExtractor
from harness.metrics.features import moments, run_batched, scores
from harness.metrics.fid import fid
from harness.metrics.inception_score import inception_score
from harness.metrics.kid import kid
from harness.metrics.suite import grid_title
from harness.training.trainer import train
from tests.launch import run_folder, tiny_run


@pytest.fixture(scope="module")
def digits(digits_shards):
    man = read_manifest(str(digits_shards))
    ext = DomainExtractor(ExtractorContext(str(digits_shards), 8, torch.device("cpu"), progress=False))
    split = {s: load_split(str(digits_shards), man, s)["image"] for s in ("train", "test")}
    feats = {s: run_batched(ext, x, 256, torch.device("cpu")) for s, x in split.items()}
    return ext, split, {s: (f.numpy().astype(np.float64), lg.numpy()) for s, (f, lg) in feats.items()}


def test_domain_extractor_is_accurate_and_cached(digits, digits_shards):
    ext, _, _ = digits
    assert ext.info.test_acc > 0.95
    again = DomainExtractor(ExtractorContext(str(digits_shards), 8, torch.device("cpu"), progress=False))
    assert again.identity == ext.identity  # loaded from the cache, not retrained


def test_fid_orders_real_splits_and_noise(digits):
    ext, split, feats = digits
    train_f, test_f = feats["train"][0], feats["test"][0]
    mu, sigma = moments(train_f)
    rng = np.random.default_rng(0)
    noise = split["test"].flatten(1).numpy()
    noise = torch.from_numpy(np.stack([rng.permutation(row) for row in noise]).reshape(split["test"].shape))
    noise_f = run_batched(ext, noise, 256, torch.device("cpu"))[0].numpy().astype(np.float64)
    same, real, fake = fid(train_f, mu, sigma), fid(test_f, mu, sigma), fid(noise_f, mu, sigma)
    assert abs(same) < 1e-6
    assert real < 0.05 * fake, (real, fake)
    assert kid(test_f, train_f, 0) < 0.05 * kid(noise_f, train_f, 0)


def test_values_equal_clean_fid_on_the_same_features(digits):
    _, _, feats = digits
    a, b = feats["test"][0], feats["train"][0]
    assert fid(a, *moments(b)) == pytest.approx(cleanfid.fid_from_feats(a, b), rel=1e-9)
    np.random.seed(3)
    want = cleanfid.kernel_distance(a, b)
    assert kid(a, b, 3) == pytest.approx(want, rel=1e-12)
    out = scores("domain", a, feats["test"][1], {"mu": moments(b)[0], "sigma": moments(b)[1], "feats": b}, 3)
    assert set(out) == {"eval/fid_domain", "eval/kid_domain", "eval/kid_domain_std", "eval/is_domain",
                        "eval/is_domain_std", "eval/precision_domain", "eval/recall_domain", "eval/density_domain",
                        "eval/coverage_domain"}  # fmt: skip
    assert out["eval/kid_domain"] == pytest.approx(want, rel=1e-12) and out["eval/kid_domain_std"] > 0


def test_folder_fid_through_clean_fid_custom_extractor_matches(digits, tmp_path):
    """clean-fid's own folder pipeline, with our extractor as its custom_feat_extractor, agrees."""
    ext, split, feats = digits
    for name in ("train", "test"):
        folder = tmp_path / name
        folder.mkdir()
        for i, img in enumerate(split[name][:, 0].numpy()):
            Image.fromarray(img).save(folder / f"{i:05d}.png")

    def feature_fn(x: torch.Tensor) -> torch.Tensor:  # clean-fid passes RGB in [0, 255]
        return ext.net(x[:, :1].float() / 255.0)[0]

    got = cleanfid.compute_fid(
        str(tmp_path / "test"),
        str(tmp_path / "train"),
        mode="clean",
        custom_feat_extractor=feature_fn,
        custom_fn_resize=lambda x: x,
        device=torch.device("cpu"),
        num_workers=0,
        batch_size=128,
        verbose=False,
    )
    mu, sigma = moments(feats["train"][0])
    assert got == pytest.approx(fid(feats["test"][0], mu, sigma), rel=1e-4)


def test_domain_inception_score_of_real_and_of_one_image(digits):
    _, split, feats = digits
    is_real, _ = inception_score(feats["test"][1])
    assert is_real > 8.0  # close to K = 10 for an accurate classifier on a balanced split
    one = np.repeat(feats["test"][1][:1], 500, axis=0)
    assert inception_score(one)[0] == pytest.approx(1.0, abs=1e-6)


class StandIn(torch.nn.Module):
    """Shaped like clean-fid's TorchScript Inception: ``layers`` maps 299x299 inputs to 2048 features."""

    def __init__(self):
        super().__init__()
        pool, conv = torch.nn.AdaptiveAvgPool2d(8), torch.nn.Conv2d(3, 2048, 8, stride=8)  # cheap, same shapes
        self.layers = torch.nn.Sequential(pool, conv, torch.nn.AdaptiveAvgPool2d(1))

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return self.layers(x)


@pytest.fixture(scope="module")
def stand_in_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "my-inception.pt"
    torch.manual_seed(0)
    torch.jit.script(StandIn()).save(str(path))
    return path


def two_step_run(digits_shards, tmp_path, weights, *extra):
    """A 2-step digits run scoring image quality with Inception (weights at ``weights``) and the domain."""
    overrides = [
        f"data.root={digits_shards.parent}",
        f"log.root={tmp_path}",
        "log.wandb=disabled",
        "log.progress=false",
        "train.steps=2",
        "eval.kmeans_seeds=1",
        "eval.kmeans_n_init=1",
        "eval.quality=[inception, domain]",
        "eval.fid_samples=64",
        f"eval.inception_weights={weights}",
        *extra,
    ]
    return train(build_config("codegan/configs/digits.yaml", overrides))


def test_inception_extractor_resizes_cleanly_and_keys_by_name(stand_in_weights, digits_shards, tmp_path):
    ext = InceptionExtractor(ExtractorContext("", 8, torch.device("cpu"), str(stand_in_weights)))
    feats, logits = ext.features(torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8))
    assert feats.shape == (3, 2048) and logits is None
    result = two_step_run(digits_shards, tmp_path, stand_in_weights, "train.best_by=eval/fid_inception")
    assert result["eval/fid_inception"] > 0 and result["eval/fid_domain"] > 0 and "eval/is_domain" in result
    assert not any("is_inception" in k for k in result)
    (run,) = tmp_path.iterdir()
    assert (run / "checkpoints" / "best.pt").is_file()


def test_missing_inception_weights_stop_the_run_before_any_step(digits_shards, tmp_path):
    """Asked for and not computable: one error naming the metric, the key and the fix, before any training."""
    with pytest.raises(
        RunError,
        match=r"eval/\*_inception \(eval.quality\) cannot be computed: "
        r"eval.inception_weights=.*absent.pt: no such file, or leave inception out of eval.quality",
    ):
        two_step_run(digits_shards, tmp_path, tmp_path / "absent.pt")
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert not (run / "checkpoints").exists() and not (run / "summary.json").exists()


def test_grid_rows_are_labelled_with_the_class_their_code_is_matched_to():
    import numpy as np
    import torch

    from harness.metrics.grids import class_grid, label_rows, match_codes

    codes = np.repeat(np.arange(4), 10)
    truth = np.array([2, 0, 3, 1])
    predicted = truth[codes].copy()
    predicted[::7] = 0  # some misclassified samples do not change the one-to-one matching
    assert match_codes(predicted, codes, 4) == truth.tolist()
    grid = class_grid(torch.rand(12, 1, 8, 8), rows=4)
    labelled = label_rows(grid, [f"code {k} -> {c}" for k, c in enumerate(truth)], 4)
    margin = labelled.shape[1] - grid.shape[1]
    assert margin > 40 and (labelled[:, :margin] < 128).any()  # dark text in the white margin
    assert np.array_equal(labelled[:, margin:], grid)


def test_a_runs_sample_grid_is_titled_and_ends_with_a_row_of_real_images(digits_shards, tmp_path):
    overrides = tiny_run(digits_shards.parent, tmp_path, "eval.fid_samples=64", "eval.pixel_baseline=false")
    result = train(build_config("digits", overrides))
    (png,) = (run_folder(tmp_path) / "samples").glob("grid-*.png")
    grid = np.asarray(Image.open(png).convert("L"))
    rows, cell, pad = 10 + 1, 32, 2  # ten class codes and the real row; 8 px digits drawn at 32 px
    band = grid.shape[0] - (rows * (cell + pad) + pad)
    assert band > 10 and (grid[:band] < 128).any()  # a title band with text
    fid_acc = f"FID (domain) {result['eval/fid_domain']:.2f} | ACC {result['eval/acc']:.3f}"
    assert grid_title(build_config("digits", overrides), 4, result) == f"CoDeGAN digits seed 0 | step 4 | {fid_acc}"
    test = load_split(str(digits_shards), read_manifest(str(digits_shards)), "test")
    margin = grid.shape[1] - (10 * (cell + pad) + pad)
    top = band + pad + 10 * (cell + pad)
    for column, cls in enumerate(range(10)):  # column j: the split's first image of class j
        first = test["image"][int((test["label"] == cls).nonzero()[0])][0].numpy()
        left = margin + pad + column * (cell + pad)
        assert np.array_equal(grid[top : top + cell, left : left + cell], first.repeat(4, 0).repeat(4, 1)), column
