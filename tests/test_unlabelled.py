"""Any image data: shards without labels train, with the clustering scores skipped and the label-trained extractor
refused in one line; a plain folder of PNG/JPEG images (with or without class subfolders) is read as shards."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.config import build_config
from harness.config.locations import expand
from harness.core.errors import ConfigError, DataError
from harness.data.foreign import scan
from harness.data.image_folder import shard_urls
from harness.training.trainer import train
from harness.training.unlabelled import SKIPPED
from tests.launch import CPU_DDP, launch, tiny_run
from tests.test_foreign_shards import write_shards


def digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:n] * 255 / 16).astype(np.uint8), d.target[:n]


def test_unlabelled_shards_train_without_the_clustering_scores(tmp_path, capsys):
    shards = tmp_path / "plain"
    write_shards(shards, "train-%02d.tar", 0, 300, 100, labels=False)
    write_shards(shards, "test-%02d.tar", 1500, 100, 100, labels=False)
    base = [*tiny_run(shards, tmp_path / "runs"), "data.dataset=no-labels"]
    with pytest.raises(ConfigError, match=r"the shards have no labels .*: set data\.classes=K"):
        train(build_config("digits", [*base, "eval.quality=[]"]))
    assert "no labels (no cls or json member) of (1, 8, 8)" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"the domain extractor is trained on the dataset's labels.*eval\.quality=\["):
        train(build_config("digits", [*base, "data.classes=10", "name=domain"]))  # the default eval.quality=[domain]
    result = train(build_config("digits", [*base, "data.classes=10", "eval.quality=[]", "name=ok"]))
    assert SKIPPED in capsys.readouterr().out
    assert not any(k.startswith(("eval/acc", "eval/nmi", "baseline/")) for k in result) and "perf/eval_s" in result
    labelled = build_config("digits", [*base, "data.classes=7", "eval.quality=[]"])
    write_shards(tmp_path / "lab", "train-%02d.tar", 0, 100, 100)
    labelled.data.root = str(tmp_path / "lab")
    labelled.eval.split = "train"
    with pytest.raises(ConfigError, match=r"data\.classes=7, but the shards have labels of 10 classes"):
        train(labelled)


def test_labels_on_some_samples_only_are_refused(tmp_path):
    write_shards(tmp_path / "mix", "a-%d.tar", 0, 50, 50)
    write_shards(tmp_path / "mix", "b-%d.tar", 50, 50, 50, labels=False)
    urls = {"train": expand(f"{tmp_path}/mix/{{a,b}}-0.tar")}
    with pytest.raises(DataError, match=r"b-0\.tar, sample 'photo_00050' has no label .*: label every sample or none"):
        scan(urls, "mix", None, progress=False)


def _save(folder: Path, name: str, image: np.ndarray, fmt: str = "PNG") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / name, format=fmt, quality=95)


def test_a_folder_of_class_subfolders_trains_and_scores(tmp_path, capsys):
    images, labels = digits(300)
    for i, (img, y) in enumerate(zip(images, labels, strict=True)):
        _save(tmp_path / "pics" / f"class-{y}", f"{i}.png", img)
    result = train(build_config("digits", [*tiny_run(tmp_path / "pics", tmp_path / "runs", "eval.quality=[]"),
                                           "data.dataset=pics"]))  # fmt: skip
    out = capsys.readouterr().out
    held = sum(max(1, n // 10) for n in np.bincount(labels))  # one in ten of each class held out
    assert f"train: {300 - held} samples in 1 shards, test: {held} samples in 1 shards; 10 classes of (1, 8, 8)" in out
    assert 0 <= result["eval/acc"] <= 1
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == [f"class-{k}" for k in range(10)]  # nothing added


def test_a_folder_of_rgb_jpegs_is_unlabelled_rgb_shards(tmp_path):
    images, _ = digits(40)
    for i, img in enumerate(images):
        _save(tmp_path / "jpegs", f"photo.{i}.jpg", np.repeat(img[..., None], 3, axis=-1), "JPEG")
    cfg = build_config("digits", ["data.root=" + str(tmp_path / "jpegs"), "data.dataset=jpegs", "data.classes=3"])
    urls = shard_urls(cfg, "jpegs", progress=False)
    man = scan(urls, "jpegs", None, progress=False)
    assert not man.labelled and man.shape == [3, 8, 8] and man.splits["train"].count + man.splits["test"].count == 40


def test_a_folder_of_images_of_two_sizes_is_refused_naming_two_files(tmp_path):
    images, _ = digits(3)
    _save(tmp_path / "m", "a.png", images[0])
    _save(tmp_path / "m", "b.png", np.asarray(Image.fromarray(images[1]).resize((9, 8))))
    _save(tmp_path / "m", "c.png", images[2])
    cfg = build_config("digits", ["data.root=" + str(tmp_path / "m"), "data.dataset=m", "data.classes=2"])
    with pytest.raises(DataError, match=r"m/a\.png is a 8x8 L image, .*m/b\.png a 9x8 L one: .* one size"):
        shard_urls(cfg, "m", progress=False)
    _save(tmp_path / "m" / "cats", "d.png", images[0])
    with pytest.raises(DataError, match=r"images both in it \(a\.png\) and in subfolders \(cats/\)"):
        shard_urls(cfg, "m", progress=False)


def test_two_ranks_train_on_a_folder_of_unlabelled_images_named_after_it(tmp_path):
    images, _ = digits(120)
    for i, img in enumerate(images):
        _save(tmp_path / "my-pics", f"{i}.png", img)
    cache = tmp_path / "cache"  # empty: both ranks meet the one-time conversion into shards
    args = [f"data.root={tmp_path / 'my-pics'}", f"log.root={tmp_path / 'runs'}", "data.classes=10",
            "eval.quality=[]", "train.steps=4", "train.log_every=2", "log.wandb=disabled", "log.progress=false",
            "eval.kmeans_seeds=1"]  # fmt: skip
    proc = launch(args, accelerate=CPU_DDP, OMP_NUM_THREADS="1", CODEGAN_CACHE=str(cache))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.count("data.dataset=my-pics: the name tables give these shards") == 1  # said once, not per rank
    assert SKIPPED in proc.stdout
    (folder,) = (tmp_path / "runs").iterdir()  # named after the images, not after the preset's dataset (digits)
    assert folder.name.startswith("codegan-my-pics-") and json.loads((folder / "summary.json").read_text())["dataset"]
    (converted,) = (cache / "images").iterdir()  # written once, by one rank
    assert sorted(p.name for p in converted.iterdir() if p.suffix == ".tar") == ["test-000000.tar", "train-000000.tar"]
