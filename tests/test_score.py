"""codegan-score: FID, KID (with its std) and IS of image folders and arrays the tests write, and of a run's samples,
against a dataset split's cached reference statistics, with torch-fidelity's flags."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from harness.commands.score import main as score
from harness.config import ConfigError, build_config
from harness.data.manifest import read_manifest
from harness.data.stream import load_split
from harness.metrics.extractors import DomainExtractor, ExtractorContext
from harness.metrics.features import reference_stats, run_batched
from harness.metrics.fid import fid
from harness.training.trainer import train
from tests.launch import run_folder, tiny_run

pytestmark = pytest.mark.slow


def _write_folder(folder, images):
    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:05d}.png")


def _scores(capsys, *args):
    assert score([*args, "--json", "--silent"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def digits_images(digits_shards):
    man = read_manifest(str(digits_shards))
    return {s: load_split(str(digits_shards), man, s)["image"] for s in ("train", "test")}


def test_folders_and_arrays_against_a_splits_cached_statistics(digits_shards, digits_images, tmp_path, capsys):
    root = ["--datasets-root", str(digits_shards.parent)]
    test = digits_images["test"][:, 0].numpy()
    _write_folder(tmp_path / "real", test)
    rng = np.random.default_rng(0)
    _write_folder(tmp_path / "noise", np.stack([rng.permutation(img.ravel()).reshape(img.shape) for img in test]))
    real = _scores(capsys, "--input1", str(tmp_path / "real"), "--input2", "digits-train", *root)
    noise = _scores(capsys, "--input1", str(tmp_path / "noise"), "--input2", "digits-train", *root)
    assert set(real) >= {"eval/fid_domain", "eval/kid_domain", "eval/kid_domain_std", "eval/is_domain"}
    assert real["n1"] == 360 and real["n2"] == 1437 and real["input2"] == "digits-train"
    assert real["eval/fid_domain"] < 0.05 * noise["eval/fid_domain"] and real["eval/kid_domain_std"] > 0
    assert real["eval/is_domain"] > 2 * noise["eval/is_domain"]  # real digits are confidently classified

    # the very numbers the harness's own functions give on those images and the cached statistics
    cpu = torch.device("cpu")
    ext = DomainExtractor(ExtractorContext(str(digits_shards), 8, cpu, progress=False))
    man = read_manifest(str(digits_shards))
    ref = reference_stats(ext, digits_images["train"], man, "train", 8, 500, cpu)
    feats = run_batched(ext, digits_images["test"], 500, cpu)[0].numpy().astype(np.float64)
    assert real["eval/fid_domain"] == pytest.approx(fid(feats, ref["mu"], ref["sigma"]), rel=1e-9)

    # the same images as arrays (N,H,W uint8; N,C,H,W floats in [0, 1]) and the train split as a folder
    np.savez(tmp_path / "a.npz", arr_0=test)
    np.save(tmp_path / "b.npy", test[:, None].astype(np.float32) / 255)
    _write_folder(tmp_path / "train", digits_images["train"][:, 0].numpy())
    folders = ["--input1", str(tmp_path / "real"), "--input2", str(tmp_path / "train"), "--dataset", "digits"]
    arrays = [["--input1", str(tmp_path / name), "--input2", "digits-train", *root] for name in ("a.npz", "b.npy")]
    for args in (*arrays, [*folders, *root]):
        again = _scores(capsys, *args)
        assert again["eval/fid_domain"] == pytest.approx(real["eval/fid_domain"], rel=1e-6), args

    # only what is asked for; bad input is one line
    only = _scores(capsys, "--input1", str(tmp_path / "real"), "--input2", "digits-train", "--kid", *root)
    assert {k for k in only if k.startswith("eval/")} == {"eval/kid_domain", "eval/kid_domain_std"}
    (tmp_path / "empty").mkdir()
    cases = [
        (["--input1", str(tmp_path / "empty"), "--input2", "digits-train"], 1, "no images"),
        (["--input1", str(tmp_path / "real")], 2, "--fid and --kid compare two inputs: give --input2"),
        (["--input1", str(tmp_path / "real"), "--input2", str(tmp_path / "train")], 2, "classifier of one dataset"),
        (["--input1", str(tmp_path / "nope"), "--input2", "digits-train"], 2, "no such folder"),
        (["--input1", str(tmp_path / "real"), "--input2", "digits-train", "--feature-extractor", "inception",
          "--feature-extractor-weights-path", str(tmp_path / "w.pt")], 1, "--feature-extractor-weights-path="),
    ]  # fmt: skip
    for args, code, needle in cases:
        assert score([*args, *root, "--silent"]) == code, args
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert needle in line, line


def test_a_runs_samples_score_exactly_as_its_own_evaluation(digits_shards, tmp_path, capsys):
    train(build_config("digits", tiny_run(digits_shards.parent, tmp_path / "runs", "eval.fid_samples=300")))
    folder = run_folder(tmp_path / "runs")
    want = json.loads((folder / "summary.json").read_text())["metrics"]
    got = _scores(capsys, "--input1", str(folder), "--save-samples", str(tmp_path / "s.npz"))
    assert got["n1"] == 300 and got["input2"] == "digits-train"  # its own eval.fid_split
    for key in ("eval/fid_domain", "eval/kid_domain", "eval/kid_domain_std", "eval/is_domain", "eval/is_domain_std"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    with np.load(tmp_path / "s.npz") as saved:
        assert saved["arr_0"].shape == (300, 8, 8, 1) and saved["arr_0"].dtype == np.uint8
    root = ["--datasets-root", str(digits_shards.parent)]
    again = _scores(capsys, "--input1", str(tmp_path / "s.npz"), "--input2", "digits-train", "--fid", *root)
    assert again["eval/fid_domain"] == pytest.approx(want["eval/fid_domain"], rel=1e-9)


def test_two_image_folders_are_scored_from_python_with_the_papers_extractor(tmp_path):
    """No dataset at all: two folders of colour images, the TF-ported Inception (a stand-in of its interface), one
    call; their colour is kept, a KID subset larger than the images is refused as torch-fidelity refuses it, and
    --cuda without a GPU is one line."""
    from tests.test_protocols import StandIn, _folder

    torch.manual_seed(0)
    weights = tmp_path / "w" / "inception-2015-12-05.pt"
    weights.parent.mkdir()
    torch.jit.script(StandIn()).save(str(weights))
    _folder(tmp_path / "a", 0, 20), _folder(tmp_path / "b", 1, 20)
    from harness.commands.score import score_images

    common = {"feature_extractor": "inception_tf", "feature_extractor_weights_path": str(weights), "cpu": True,
              "silent": True}  # fmt: skip
    out = score_images(tmp_path / "a", tmp_path / "b", kid_subset_size=10, save_samples=tmp_path / "s.npz", **common)
    assert out["eval/fid_inception_tf"] > 0 and "eval/kid_inception_tf_std" in out and out["eval/is_inception_tf"] > 1
    assert np.load(tmp_path / "s.npz")["arr_0"].shape == (20, 16, 16, 3)  # colour, as it came
    same = score_images(tmp_path / "a", tmp_path / "a", fid=True, **common)
    assert abs(same["eval/fid_inception_tf"]) < 1e-6
    with pytest.raises(ConfigError, match="--kid-subset-size 21 is larger than the 20 images of the smaller input"):
        score_images(tmp_path / "a", tmp_path / "b", kid=True, kid_subset_size=21, **common)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--cuda: no CUDA GPU is visible here"):
            score_images(tmp_path / "a", tmp_path / "b", cuda=True, fid=True, feature_extractor="inception_tf")
