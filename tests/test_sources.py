"""Source readers on small files written in the datasets' exact real formats, built into shards."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from harness.config.cards import CARDS_DIR, DataError
from harness.data.build import build
from harness.data.manifest import read_manifest
from harness.data.stream import load_split
from harness.data.verify import verify_contents


def small_card(tmp_path: Path, name: str, **changes) -> Path:
    """The real card of ``name`` with only the expected counts (and any ``changes``) made small."""
    card = yaml.safe_load((CARDS_DIR / f"{name}.yaml").read_text())
    card.update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: two zero bytes, type 0x08 (unsigned byte), rank, big-endian uint32 dims, then the data."""
    head = b"\0\0\x08" + bytes([array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, n_train: int, n_test: int, gz: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    made = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        for stem, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            data = idx_bytes(arr)
            (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(data) if gz else data)
        made[split] = (images, labels)
    return made


def shard_order(n: int, shuffle_seed: int = 0) -> np.ndarray:
    """Shards hold a split's samples in this seeded permutation of the source order (see the manifest)."""
    return np.random.default_rng(shuffle_seed).permutation(n)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_folder(tmp_path, gz):
    made = write_idx_folder(tmp_path / "raw", 50, 20, gz)
    card = small_card(tmp_path, "mnist", expected={"train": 50, "test": 20}, shard_size=16)
    out = build(str(card), root=str(tmp_path / "data"), progress=False, source=str(tmp_path / "raw"))
    man = read_manifest(str(out))
    assert man.source == f"idx:{tmp_path / 'raw'}"
    assert (man.splits["train"].count, man.splits["test"].count) == (50, 20)
    assert man.splits["train"].per_class == [5] * 10 and len(man.splits["train"].shards) == 4
    test = load_split(str(out), man, "test")
    assert test["image"].shape == (20, 1, 28, 28)
    order = shard_order(20)
    np.testing.assert_array_equal(test["image"][:, 0].numpy(), made["test"][0][order])
    np.testing.assert_array_equal(test["label"].numpy(), made["test"][1][order])
    verify_contents(str(out), man, progress=False)


def test_idx_with_a_wrong_header_is_refused(tmp_path):
    write_idx_folder(tmp_path / "raw", 10, 10, gz=False)
    path = tmp_path / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    card = small_card(tmp_path, "mnist", expected={"train": 10, "test": 10})
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: header says \[10, 28, 28\]"):
        build(str(card), root=str(tmp_path / "data"), progress=False, source=str(tmp_path / "raw"))


def cifar_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    blob = pickle.dumps({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"f"] * n}, protocol=2)
    return blob, data, np.array(labels)


@pytest.mark.parametrize("packed", [True, False])
def test_cifar10_python_batches(tmp_path, packed):
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    blobs = {name: cifar_batch(6, i) for i, name in enumerate(names)}
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, (blob, _, _) in blobs.items():
        (folder / name).write_bytes(blob)
    source = folder
    if packed:
        source = tmp_path / "cifar-10-python.tar.gz"
        with tarfile.open(source, "w:gz") as tf:
            tf.add(folder, arcname="cifar-10-batches-py")
    card = small_card(tmp_path, "cifar10", expected={"train": 30, "test": 6}, shard_size=8)
    out = build(str(card), root=str(tmp_path / "data"), progress=False, source=str(source))
    man = read_manifest(str(out))
    assert man.shape == [3, 32, 32] and man.splits["train"].count == 30
    test = load_split(str(out), man, "test")
    _, data, labels = blobs["test_batch"]
    order = shard_order(6)
    want = data.reshape(-1, 3, 32, 32)[order]  # CHW rows, as in the official files
    np.testing.assert_array_equal(test["image"].numpy(), want)
    np.testing.assert_array_equal(test["label"].numpy(), labels[order])


# A pickle that calls builtins.print when loaded, spelled out in opcodes: pickling the live ``print``
# would name whatever a library has patched it to (Ray replaces it in processes that ran a sweep).
EVIL = b"\x80\x02}q\x00(C\x04dataq\x01cbuiltins\nprint\nX\x13\x00\x00\x00this must never run\x85RC\x06labels]K\x00au."


def test_cifar_batch_with_foreign_globals_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        (folder / name).write_bytes(cifar_batch(2, i)[0])
    (folder / "test_batch").write_bytes(EVIL)
    card = small_card(tmp_path, "cifar10", expected={"train": 10, "test": 1})
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR-10 batch \(refusing to load global builtins.print"):
        build(str(card), root=str(tmp_path / "data"), progress=False, source=str(folder))


def coil_png(obj: int, view: int) -> bytes:
    arr = np.full((128, 128), (obj * 11 + view) % 256, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("zipped", [True, False])
def test_coil20_processed_archive(tmp_path, zipped):
    views = 5
    files = {f"coil-20-proc/obj{o}__{v}.png": coil_png(o, v) for o in range(1, 21) for v in range(views)}
    if zipped:
        source = tmp_path / "coil-20-proc.zip"
        with zipfile.ZipFile(source, "w") as zf:
            for name, data in reversed(files.items()):  # archive order must not matter
                zf.writestr(name, data)
    else:
        source = tmp_path / "unpacked"
        for name, data in files.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes(data)
    card = small_card(tmp_path, "coil20", expected={"train": 60, "test": 40}, split={"test_size": 40, "seed": 0})
    out = build(str(card), root=str(tmp_path / "data"), progress=False, source=str(source))
    man = read_manifest(str(out))
    assert man.classes == 20 and man.shape == [1, 128, 128]
    assert man.splits["test"].per_class == [2] * 20 and man.splits["train"].per_class == [3] * 20
    test = load_split(str(out), man, "test")
    # every image's grey level encodes (object, view): its label must be object - 1
    levels = test["image"][:, 0, 0, 0].numpy()
    objects = test["label"].numpy() + 1
    assert all(any((o * 11 + v) % 256 == lv for v in range(views)) for o, lv in zip(objects, levels, strict=True))


def test_missing_source_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEGAN_DOWNLOADS", str(tmp_path / "dl"))
    card = small_card(
        tmp_path,
        "coil20",
        sources=[{"kind": "coil20", "path": str(tmp_path / "nowhere")}],
    )
    with pytest.raises(DataError) as err:
        build(str(card), root=str(tmp_path / "data"), progress=False)
    assert str(tmp_path / "nowhere") in str(err.value) and "To get it: download coil-20-proc.zip" in str(err.value)


def test_source_accepts_a_torchvision_root_and_says_once_what_it_found(tmp_path, capsys):
    write_idx_folder(tmp_path / "tv" / "FashionMNIST" / "raw", 30, 10, gz=True)
    card = small_card(tmp_path, "fashion-mnist", expected={"train": 30, "test": 10}, shard_size=16)
    out = build(str(card), root=str(tmp_path / "data"), progress=False, source=str(tmp_path / "tv"))
    assert read_manifest(str(out)).splits["train"].count == 30
    printed = capsys.readouterr().out
    assert printed.count(f"found the IDX files in {tmp_path / 'tv' / 'FashionMNIST' / 'raw'}") == 1
    with pytest.raises(DataError) as err:  # a folder with nothing in it: named once, not once per source
        build(str(card), root=str(tmp_path / "d2"), progress=False, source=str(tmp_path / "empty"), force=True)
    assert str(err.value).count(str(tmp_path / "empty")) == 1
