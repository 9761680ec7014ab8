import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from harness.config.cards import DataError
from harness.data.build import build
from harness.data.manifest import read_manifest, sha256_file, verify_shards
from harness.data.samples import iter_raw_samples
from harness.data.stream import load_split
from harness.data.tarstream import iter_members


def test_digits_manifest_counts(digits_shards):
    man = read_manifest(str(digits_shards))
    assert (man.dataset, man.classes, man.shape, man.source) == ("digits", 10, [1, 8, 8], "sklearn-digits")
    assert man.splits["train"].count == 1437 and man.splits["test"].count == 360
    assert sum(man.splits["train"].per_class) == 1437 and min(man.splits["test"].per_class) >= 35
    assert sum(s.count for s in man.splits["train"].shards) == 1437
    verify_shards(str(digits_shards), man)
    test = load_split(str(digits_shards), man, "test")
    assert test["image"].shape == (360, 1, 8, 8) and test["image"].dtype.is_floating_point is False
    assert np.bincount(test["label"].numpy()).tolist() == man.splits["test"].per_class


def test_rebuild_is_a_noop_and_bytes_are_reproducible(digits_shards, tmp_path):
    man = read_manifest(str(digits_shards))
    before = {p.name: p.stat().st_mtime_ns for p in digits_shards.glob("*.tar")}
    build("digits", root=str(digits_shards.parent), progress=False)
    assert before == {p.name: p.stat().st_mtime_ns for p in digits_shards.glob("*.tar")}
    other = build("digits", root=str(tmp_path), progress=False)
    assert read_manifest(str(other)).splits == man.splits  # same sha256 for every shard


def test_fast_tar_reader_matches_tarfile(digits_shards):
    path = digits_shards / "train-000000.tar"
    with tarfile.open(path) as tf:
        expected = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers() if m.isreg()]
    assert list(iter_members(path.read_bytes(), str(path))) == expected


def _copy_shards(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_truncated_shard_names_the_shard(digits_shards, tmp_path):
    d = _copy_shards(digits_shards, tmp_path / "d")
    shard = d / "train-000003.tar"
    shard.write_bytes(shard.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"train-000003\.tar.*(truncated|manifest)"):
        verify_shards(str(d), read_manifest(str(d)))
    with pytest.raises(DataError, match=r"train-000003\.tar is truncated"):
        list(iter_raw_samples(str(shard)))


def test_corrupt_header_names_the_shard(digits_shards, tmp_path):
    d = _copy_shards(digits_shards, tmp_path / "d")
    shard = d / "test-000001.tar"
    data = bytearray(shard.read_bytes())
    data[1024 + 10] ^= 0xFF  # a byte inside the second member's header name
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"test-000001\.tar is corrupt"):
        load_split(str(d), read_manifest(str(d)), "test")


def _tar_with(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Boom:
    """Unpickling this writes a marker file: proof that nothing is ever unpickled."""

    marker = ""

    def __reduce__(self):
        return (Path(self.marker).write_text, ("unpickled",))


def test_unexpected_member_is_refused_never_unpickled(digits_shards, tmp_path):
    d = _copy_shards(digits_shards, tmp_path / "d")
    marker = tmp_path / "marker"
    _Boom.marker = str(marker)
    payload = pickle.dumps(_Boom())
    good = next(iter(iter_raw_samples(str(d / "test-000000.tar"))))
    bad = _tar_with({"test-0000000.png": good["png"], "test-0000000.cls": b"3", "test-0000000.pyd": payload})
    (d / "test-000000.tar").write_bytes(bad)
    man = read_manifest(str(d))
    needle = r"test-000000\.tar, sample 'test-0000000': unexpected member type\(s\) \['pyd'\]"
    with pytest.raises(DataError, match=needle):
        load_split(str(d), man, "test")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("members", "needle"),
    [
        ({"k-0000000.png": b"not a png", "k-0000000.cls": b"1"}, "undecodable png"),
        ({"k-0000000.cls": b"1"}, r"no image member \(one of png, jpg, jpeg; a label is cls or json\)"),
        ({"k-0000000.png": None}, r"no label member \(cls or json\), though the dataset has labels"),
        ({"k-0000000.png": None, "k-0000000.cls": b"12"}, r"label 12 outside \[0, 10\)"),
        ({"k-0000000.png": "rgb", "k-0000000.cls": b"1"}, r"image torch.uint8 \(3, 8, 8\)"),
    ],
)
def test_bad_samples_name_shard_and_key(digits_shards, tmp_path, members, needle):
    from PIL import Image

    d = _copy_shards(digits_shards, tmp_path / "d")
    png = next(iter(iter_raw_samples(str(d / "test-000000.tar"))))["png"]
    rgb = io.BytesIO()
    Image.new("RGB", (8, 8)).save(rgb, format="PNG")
    resolved = {k: (png if v is None else rgb.getvalue() if v == "rgb" else v) for k, v in members.items()}
    (d / "test-000002.tar").write_bytes(_tar_with(resolved))
    with pytest.raises(DataError, match=rf"test-000002\.tar, sample 'k-0000000'.*{needle}"):
        load_split(str(d), read_manifest(str(d)), "test")


def test_hash_mismatch_is_reported(digits_shards, tmp_path):
    d = _copy_shards(digits_shards, tmp_path / "d")
    man = json.loads((d / "manifest.json").read_text())
    man["splits"]["train"]["shards"][2]["sha256"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DataError, match=r"train-000002\.tar: sha256 .* does not match"):
        verify_shards(str(d), read_manifest(str(d)))


def test_interrupted_build_leaves_no_manifest(tmp_path, monkeypatch):
    import harness.data.build as b

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(b, "atomic_write_text", explode)
    with pytest.raises(KeyboardInterrupt):
        build("digits", root=str(tmp_path), progress=False)
    out = tmp_path / "digits"
    assert not (out / "manifest.json").exists() and not list(out.glob(".tmp-build-*"))
    monkeypatch.undo()
    build("digits", root=str(tmp_path), progress=False)
    verify_shards(str(out), read_manifest(str(out)))
    assert sha256_file(out / "train-000000.tar")


def test_skip_mode_counts_bad_samples_and_keeps_going(digits_shards, tmp_path):
    from harness.data.stream import ShardStream, make_loader

    d = _copy_shards(digits_shards, tmp_path / "d")
    man = read_manifest(str(d))
    good = list(iter_raw_samples(str(d / "test-000000.tar")))
    bad_label = {**good[1], "cls": b"42"}
    members = {}
    for smp in [good[0], bad_label, *good[2:]]:
        members.update({f"{smp['__key__']}.{ext}": smp[ext] for ext in ("png", "cls")})
    (d / "test-000000.tar").write_bytes(_tar_with(members))
    shard = d / "test-000001.tar"
    shard.write_bytes(shard.read_bytes()[:5000])  # truncated: only its first samples survive
    with pytest.raises(DataError, match=r"test-000000\.tar, sample 'test-0000001'.*label 42"):
        load_split(str(d), man, "test")
    data = load_split(str(d), man, "test", on_error="skip")
    lost = int(data["skipped"])
    assert lost > 1 and len(data["label"]) + lost == man.splits["test"].count

    stream = ShardStream(str(d), man, "test", 40, seed=0, streams=1, on_error="skip")
    it = iter(make_loader(stream, 0))
    batches = [next(it) for _ in range(9)]  # 360 samples: one epoch and a bit
    assert all(len(b["label"]) == 40 for b in batches)
    assert sum(int(b["skipped"]) for b in batches) >= lost  # every bad sample met once in the first epoch
    with pytest.raises(DataError, match=r"test-00000[01]\.tar"):
        next(iter(make_loader(ShardStream(str(d), man, "test", 360, seed=0, streams=1), 0)))


def test_run_with_a_replaced_shard_stops_or_skips(digits_shards, tmp_path):
    from harness.config import build_config
    from harness.training.trainer import train

    d = _copy_shards(digits_shards, tmp_path / "digits")
    shard = d / "train-000004.tar"
    good = list(iter_raw_samples(str(shard)))
    members = {f"{s['__key__']}.{ext}": s[ext] for s in good for ext in ("png", "cls")}
    members[f"{good[3]['__key__']}.cls"] = b"77"  # a label outside [0, 10): the shard no longer matches its hash
    shard.write_bytes(_tar_with(members))
    overrides = [
        f"data.root={tmp_path}",
        f"log.root={tmp_path / 'runs'}",
        "log.wandb=disabled",
        "log.progress=false",
        "train.steps=30",
        "train.batch_size=64",
        "eval.kmeans_seeds=1",
        "eval.quality=[]",
    ]
    with pytest.raises(DataError, match=r"train-000004\.tar: sha256 .* does not match"):
        train(build_config("codegan/configs/digits.yaml", overrides))
    result = train(build_config("codegan/configs/digits.yaml", [*overrides, "data.on_error=skip"]))
    assert result["data/bad_shards"] == 1 and result["data/skipped"] >= 1 and result["data/eval_skipped"] == 0
