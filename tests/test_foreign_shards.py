"""Shards the harness did not build: written by webdataset's own ShardWriter under foreign names, read by
brace URL or as a folder without manifest.json, scanned once into the project's cache."""

import io
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.config import build_config
from harness.config.locations import expand
from harness.data.foreign import scan
from harness.data.stream import ShardStream, make_loader
from harness.training.trainer import train
from tests.launch import CPU_DDP, REPO, launch, tiny_run


def _encode(img: np.ndarray, kind: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG" if kind == "jpg" else "PNG", quality=95)
    return buf.getvalue()


def write_shards(folder: Path, pattern: str, start: int, n: int, per_shard: int, kind: str = "png",
                 json_labels: bool = False, side: int = 8, rgb: bool = False, labels: bool = True) -> None:  # fmt: skip
    """Real digits (scikit-learn's copy) as webdataset shards written by webdataset itself; ``side``: resized to
    side x side, ``rgb``: as three channels, ``labels=False``: images only."""
    import webdataset as wds
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * 255 / 16).astype(np.uint8)
    if side != 8:
        images = np.stack([np.asarray(Image.fromarray(im).resize((side, side))) for im in images])
    if rgb:
        images = np.repeat(images[..., None], 3, axis=-1)
    folder.mkdir(parents=True, exist_ok=True)
    with wds.ShardWriter(str(folder / pattern), maxcount=per_shard, verbose=0) as sink:
        for i in range(start, start + n):
            sample = {"__key__": f"photo_{i:05d}", kind: _encode(images[i], kind)}
            label = int(digits.target[i])
            if labels and json_labels:
                sample["json"] = json.dumps({"label": label}).encode()
            elif labels:
                sample["cls"] = str(label).encode()
            sink.write(sample)


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wds")
    write_shards(folder, "part-%04d.tar", 0, 600, 100)  # part-0000 .. part-0005
    write_shards(folder, "heldout-%02d.tar", 1400, 300, 150)  # heldout-00, heldout-01
    return folder


def test_training_on_foreign_shards_by_brace_url(foreign, tmp_path, capsys):
    before = sorted(p.name for p in foreign.iterdir())
    overrides = [
        *tiny_run("", tmp_path, "eval.quality=[]"),
        "data.dataset=my-digits",
        f"data.train_urls={foreign}/part-{{0000..0005}}.tar",
        f"data.eval_urls=[{foreign}/heldout-00.tar, {foreign}/heldout-01.tar]",
    ]
    result = train(build_config("digits", overrides))
    out = capsys.readouterr().out
    assert "scanned shards not built here (train: 600 samples in 6 shards, test: 300 samples in 2 shards" in out
    assert "10 classes of (1, 8, 8)" in out
    assert 0 <= result["eval/acc"] <= 1 and 0 <= result["baseline/pixels_acc"] <= 1
    assert sorted(p.name for p in foreign.iterdir()) == before  # nothing written beside the shards
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert summary["dataset"] == "my-digits" and summary["identity"]["data"]
    train(build_config("digits", [*overrides, "name=again"]))
    assert "scanned" not in capsys.readouterr().out  # the scan is cached


def readme_command(marker: str) -> list[str]:
    """The arguments after ``harness/run.py`` of the README's command that mentions ``marker``."""
    text = (REPO / "README.md").read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if marker in ln and "harness/run.py" in ln]
    words = shlex.split(line)
    return words[words.index("harness/run.py") + 1 :]


def test_the_readmes_own_shards_command_trains_and_scores_with_the_default_evaluation(tmp_path, private_cache):
    """Bring-your-own shards with the default eval.quality=[domain]: the domain classifier trains on the scanned
    training shards (their labels), on one process and on two ranks, and FID/KID/IS are reported."""
    wds = tmp_path / "wds"
    write_shards(wds, "train-%06d.tar", 0, 1200, 100)  # train-000000 .. train-000011
    write_shards(wds, "test-%06d.tar", 1400, 300, 100)  # test-000000 .. test-000002
    args = [a.replace("/data/wds", str(wds)) for a in readme_command("data.train_urls=")]
    assert any(a.startswith("data.train_urls=") for a in args) and not any(a.startswith("eval.quality") for a in args)
    quick = ["train.steps=4", "eval.fid_samples=200", "eval.kmeans_seeds=1", "log.wandb=disabled", "log.progress=false"]
    one = launch([*args, *quick, f"log.root={tmp_path / 'runs'}"], accelerate=[])
    assert one.returncode == 0, one.stderr[-3000:]
    assert "FID_DOMAIN" in one.stdout
    (found,) = (private_cache / "extractors").glob("domain-my-digits-8px-*.json")  # keyed by the data it learned
    info = json.loads(found.read_text())
    assert info["dataset"] == "my-digits" and info["test_acc"] > 0.8  # trained on the scanned shards' labels
    two = launch([*args, *quick, f"log.root={tmp_path / 'two'}"], accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert two.returncode == 0, two.stderr[-3000:]
    for root in ("runs", "two"):
        (summary,) = (tmp_path / root).glob("*/summary.json")
        metrics = json.loads(summary.read_text())["metrics"]
        assert {"eval/fid_domain", "eval/kid_domain", "eval/is_domain"} <= set(metrics), root
    assert sorted(p.name for p in wds.iterdir()) == [f"test-{i:06d}.tar" for i in range(3)] + [
        f"train-{i:06d}.tar" for i in range(12)
    ]  # nothing written beside the shards


def test_a_folder_of_own_shards_without_manifest_is_read_not_rebuilt(tmp_path, capsys):
    shards = tmp_path / "mine"
    write_shards(shards, "train-%03d.tar", 0, 400, 100, kind="jpg", json_labels=True)
    write_shards(shards, "test-%03d.tar", 1500, 200, 100, kind="jpg", json_labels=True)
    before = sorted(p.name for p in shards.iterdir())
    overrides = [*tiny_run(shards, tmp_path / "runs", "eval.quality=[]"), "data.dataset=jpg"]
    result = train(build_config("digits", overrides))
    assert "train: 400 samples in 4 shards, test: 200 samples in 2 shards" in capsys.readouterr().out
    assert 0 <= result["eval/acc"] <= 1
    assert sorted(p.name for p in shards.iterdir()) == before


def test_foreign_streams_keep_equal_steps_per_rank_and_exact_resume(foreign):
    urls = {"train": expand(f"{foreign}/part-{{0000..0005}}.tar")}
    man = scan(urls, "my-digits", None, progress=False)
    assert [s.count for s in man.splits["train"].shards] == [100] * 6 and man.classes == 10

    def batches(rank: int, world: int, start: int, n: int) -> list[torch.Tensor]:
        stream = ShardStream("", man, "train", 16, seed=3, rank=rank, world=world, streams=2, start_batch=start)
        it = iter(make_loader(stream, 0))
        return [next(it)["index"] for _ in range(n)]

    r0, r1 = batches(0, 2, 0, 18), batches(1, 2, 0, 18)  # one epoch of 300 samples per rank is 18 batches
    seen0, seen1 = torch.cat(r0).tolist(), torch.cat(r1).tolist()
    assert len(seen0) == len(seen1) and not set(seen0) & set(seen1)
    resumed = batches(0, 2, 7, 11)
    assert all(torch.equal(a, b) for a, b in zip(r0[7:], resumed, strict=True))


def test_a_changed_foreign_shard_is_rescanned(tmp_path):
    folder = tmp_path / "s"
    write_shards(folder, "x-%02d.tar", 0, 200, 100)
    urls = {"train": expand(f"{folder}/x-{{00..01}}.tar")}
    first = scan(urls, "d", None, progress=False)
    write_shards(folder, "x-%02d.tar", 0, 150, 100)  # x-01 now holds 50 samples
    again = scan(urls, "d", None, progress=False)
    assert [s.count for s in first.splits["train"].shards] == [100, 100]
    assert [s.count for s in again.splits["train"].shards] == [100, 50]
