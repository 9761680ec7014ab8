"""A run on shards the harness did not build uses the preset whose networks take their images: chosen, and said, when
no --config is given; refused, naming the images' shape and the presets that fit, when the one given does not."""

import json

import pytest
import yaml

from harness.commands.train import main
from harness.config.preset_fit import family, fitting
from harness.runs.folder import CONFIG, SUMMARY
from tests.test_foreign_shards import write_shards

QUICK = [
    "train.steps=2",
    "log.wandb=disabled",
    "log.progress=false",
    "eval.quality=[]",
    "eval.kmeans_seeds=1",
    "eval.kmeans_n_init=1",
]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Three folders of foreign shards (train-*.tar, test-*.tar) of real digits: 8x8 grey, 28x28 grey, 20x20 RGB."""
    root = tmp_path_factory.mktemp("shapes")
    for name, side, rgb in (("d8", 8, False), ("g28", 28, False), ("c20", 20, True)):
        write_shards(root / name, "train-%02d.tar", 0, 200, 100, side=side, rgb=rgb)
        write_shards(root / name, "test-%02d.tar", 1500, 100, 100, side=side, rgb=rgb)
    return root


def test_each_image_shape_has_the_presets_of_its_dataset():
    presets = family()
    assert {p.name: p.sizes() for p in presets} == {
        "cars3d": "3x64x64",
        "chairs3d": "3x64x64",
        "cifar10": "3x32x32",
        "cifar100": "3x32x32",
        "coil20": "1x128x128 or 1x32x32",  # its networks take 32x32: the preset resizes COIL-20's images
        "digits": "1x8x8",
        "fashion-mnist": "1x28x28",
        "mnist": "1x28x28",
    }  # one per dataset: the -reference variants are never chosen

    def names(shape, size=0, prefer=""):
        return [p.name for p in fitting(presets, shape, size, prefer)]

    assert names((1, 8, 8)) == ["digits"]
    assert names((1, 28, 28)) == ["fashion-mnist", "mnist"] and names((1, 28, 28), prefer="mnist")[0] == "mnist"
    assert names((3, 32, 32)) == ["cifar10", "cifar100"] and names((3, 32, 32), prefer="cifar100")[0] == "cifar100"
    assert names((1, 128, 128)) == ["coil20"] and names((1, 32, 32)) == ["coil20"]
    assert names((3, 28, 28)) == [] and names((1, 64, 64)) == [] and names((3, 64, 64), 32) == ["cifar10", "cifar100"]
    assert names((3, 64, 64)) == ["cars3d", "chairs3d"]
    assert [p.name for p in fitting(family("infogan"), (1, 28, 28))] == ["infogan/fashion-mnist", "infogan/mnist"]


def test_28px_grey_shards_without_config_train_the_28px_networks(shards, tmp_path, capsys):
    args = [f"data.root={shards / 'g28'}", "data.dataset=my-clothes", f"log.root={tmp_path}", *QUICK]
    assert main(args) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if ln.startswith("preset:")]
    assert line.startswith("preset: fashion-mnist (no --config given): its networks take the training shards' 1x28x28")
    assert "mnist fits too (--config mnist)" in line
    (folder,) = tmp_path.iterdir()
    cfg = yaml.safe_load((folder / CONFIG).read_text())
    assert folder.name.startswith("codegan-fashion-mnist-") and cfg["model"]["zn_dim"] == 40  # not digits' 16
    assert cfg["data"]["dataset"] == "my-clothes" and cfg["data"]["image_size"] == 0
    assert 0 <= json.loads((folder / SUMMARY).read_text())["metrics"]["eval/acc"] <= 1


def test_a_preset_whose_networks_do_not_take_the_images_is_refused(shards, tmp_path, capsys):
    args = [f"data.root={shards / 'g28'}", "data.dataset=my-clothes", f"log.root={tmp_path}", *QUICK]
    assert main(["--config", "digits", *args]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--config digits: its networks take 1x8x8 images" in line and "1x28x28 images" in line
    assert line.endswith("presets that fit: fashion-mnist, mnist") and str(shards / "g28" / "train-00.tar") in line
    assert main(["--config", "infogan/digits", *args]) == 2
    assert capsys.readouterr().err.strip().endswith("presets that fit: infogan/fashion-mnist, infogan/mnist")
    assert main(["--config", "mnist", *args]) == 0  # one that fits is taken as given
    assert "preset:" not in capsys.readouterr().out
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("codegan-mnist-")


def test_images_no_preset_takes_are_refused_naming_the_resize_that_fits(shards, tmp_path, capsys):
    args = [f"data.root={shards / 'c20'}", "data.dataset=my-rgb", f"log.root={tmp_path}", *QUICK]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "the training shards hold 3x20x20 images" in line and "set data.image_size=32 (cifar10)" in line
    assert main(["--print-config", *args, "data.image_size=32"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("preset: cifar10 (no --config given)") and "resized to 32x32 by data.image_size" in out


def test_digits_shards_keep_the_digits_preset_and_its_run_hash(shards, tmp_path, capsys):
    args = ["--print-config", f"data.root={shards / 'd8'}", "data.dataset=my-digits", f"log.root={tmp_path}", *QUICK]
    assert main(args) == 0
    chosen = capsys.readouterr().out
    assert main(["--config", "digits", *args]) == 0
    given = capsys.readouterr().out
    assert chosen.startswith("preset: digits (no --config given)") and chosen.splitlines()[1:] == given.splitlines()
