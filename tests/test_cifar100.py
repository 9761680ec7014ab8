"""CIFAR-100 from small files in its real format (the "python version": ``cifar-100-python/{train,test,meta}``,
pickles with ``data``, ``fine_labels`` and ``coarse_labels``), built into shards with fine and coarse labels."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from harness.config.cards import DataError, load_card
from harness.data.build import build
from harness.data.manifest import read_manifest
from harness.data.sources.cifar import read_cifar100
from harness.data.stream import load_split
from tests.test_sources import shard_order, small_card


def cifar100_pickle(fine: np.ndarray, seed: int) -> tuple[bytes, np.ndarray]:
    """One CIFAR-100 pickle as the archive holds it (bytes keys, as Python 2's cPickle wrote them)."""
    data = np.random.default_rng(seed).integers(0, 256, (len(fine), 3072), dtype=np.uint8)
    batch = {
        b"filenames": [b"f.png"] * len(fine),
        b"batch_label": b"training batch 1 of 1",
        b"fine_labels": [int(v) for v in fine],
        b"coarse_labels": [int(v) // 5 for v in fine],  # a stand-in superclass map: 5 fine classes each
        b"data": data,
    }
    return pickle.dumps(batch, protocol=2), data


def write_cifar100(tmp_path: Path, packed: bool) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    made = {}
    for i, (split, per_class) in enumerate((("train", 2), ("test", 1))):
        fine = np.repeat(np.arange(100), per_class)
        blob, data = cifar100_pickle(fine, i)
        (folder / split).write_bytes(blob)
        made[split] = (data, fine)
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [], b"coarse_label_names": []}, protocol=2))
    if not packed:
        return folder, made
    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname="cifar-100-python")
    return archive, made


@pytest.mark.parametrize(("packed", "labels"), [(True, "fine"), (False, "coarse")])
def test_cifar100_fine_and_coarse_labels(tmp_path, packed, labels):
    source, made = write_cifar100(tmp_path, packed)
    name = "cifar100" if labels == "fine" else "cifar100-coarse"
    card = small_card(tmp_path, name, expected={"train": 200, "test": 100}, shard_size=64)
    out = build(str(card), root=str(tmp_path / "data"), progress=False, source=str(source))
    man = read_manifest(str(out))
    k = 100 if labels == "fine" else 20
    assert man.classes == k and man.shape == [3, 32, 32]
    assert man.splits["train"].per_class == [200 // k] * k and man.splits["test"].per_class == [100 // k] * k
    test = load_split(str(out), man, "test")
    data, fine = made["test"]
    order = shard_order(100)
    np.testing.assert_array_equal(test["image"].numpy(), data.reshape(-1, 3, 32, 32)[order])
    np.testing.assert_array_equal(test["label"].numpy(), (fine if labels == "fine" else fine // 5)[order])


def test_the_cards_hold_the_real_counts_and_checksum():
    fine, coarse = load_card("cifar100"), load_card("cifar100-coarse")
    assert (fine.classes, len(fine.class_names), coarse.classes, len(coarse.class_names)) == (100, 100, 20, 20)
    assert fine.class_names[:2] == ["apple", "aquarium_fish"] and coarse.class_names[-1] == "vehicles_2"
    for card in (fine, coarse):
        assert card.expected == {"train": 50000, "test": 10000}
        url = [s for s in card.sources if str(s["path"]).startswith("https://")]
        assert url == [{**url[0], "md5": "eb9058c3a382ffc7106e4002c42a8d85"}]
        assert url[0]["path"] == "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


def test_a_cifar10_archive_or_bad_labels_option_is_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname="cifar-10-batches-py")
    card = load_card("cifar100")
    with pytest.raises(DataError, match=r"archive lacks train, test"):
        read_cifar100({"path": str(archive)}, card)
    (tmp_path / "ok").mkdir()
    source, _ = write_cifar100(tmp_path / "ok", packed=False)
    with pytest.raises(DataError, match=r"labels must be one of \['coarse', 'fine'\], got 'medium'"):
        read_cifar100({"path": str(source), "labels": "medium"}, card)
    (source / "train").write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match=r"train: a CIFAR-100 batch needs 'data' and 'fine_labels'"):
        read_cifar100({"path": str(source)}, card)
