"""3D-Cars and 3D-Chairs from small files in their real formats (``car_<NNN>_mesh.mat`` with an ``im`` array of
(H, W, 3, 24 azimuths, 4 elevations); ``rendered_chairs/<model>/renders/*.png``), built into shards: the class rules
(the reference's car indices, the seeded chair draw), the counts, the image shape and the split."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from harness.config.cards import DataError, load_card
from harness.data.build import build
from harness.data.manifest import read_manifest
from harness.data.sources.cars3d import read_cars3d
from harness.data.sources.chairs3d import choose, read_chairs3d
from harness.data.stream import load_split
from tests.test_sources import small_card

CAR_MODELS = [54, 141, 4, 7, 1, 25, 26, 24, 43, 23]  # the reference's 10 cars, by index into the sorted files


def car_mesh(index: int, side: int = 8) -> np.ndarray:
    """``im`` of one car: every view a flat colour (R = the car's sorted index, G = 10 * azimuth + elevation)."""
    im = np.zeros((side, side, 3, 24, 4), dtype=np.uint8)
    im[:, :, 0] = index
    im[:, :, 1] = (10 * np.arange(24)[:, None] + np.arange(4)[None, :])[None, None]
    im[:, :, 2] = 7
    return im


@pytest.fixture(scope="module")
def cars(tmp_path_factory) -> tuple[Path, Path]:
    """183 car files under data/cars (numbers with gaps, written out of order) and the same as the real archive."""
    root = tmp_path_factory.mktemp("cars")
    folder = root / "data" / "cars"
    folder.mkdir(parents=True)
    numbers = sorted(np.random.default_rng(0).choice(np.arange(1, 200), 183, replace=False))
    names = [f"car_{n:03d}_mesh" for n in numbers]
    for index in np.random.default_rng(1).permutation(183):
        im = car_mesh(int(index))
        scipy.io.savemat(folder / f"{names[index]}.mat", {"im": im, "mask": np.ones(im.shape[:2] + (24, 4), np.uint8)})
    (folder / "list.txt").write_text("\n".join(names) + "\n")
    archive = root / "nips2015-analogy-data.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root / "data", arcname="data")
    return folder, archive


def test_cars3d_builds_the_reference_cars_at_64px(cars, tmp_path, capsys):
    folder, archive = cars
    out = build("cars3d", root=str(tmp_path / "data"), progress=False, source=str(archive))
    man = read_manifest(str(out))
    assert man.classes == 10 and man.shape == [3, 64, 64]
    assert (man.splits["train"].count, man.splits["test"].count) == (768, 192)
    assert [a + b for a, b in zip(man.splits["train"].per_class, man.splits["test"].per_class, strict=True)] == [
        96
    ] * 10
    assert set(man.splits["test"].per_class) <= {19, 20}
    test = load_split(str(out), man, "test")
    image, label = test["image"].numpy(), test["label"].numpy()
    assert image.shape == (192, 3, 64, 64)
    # the red channel names the car: class k is the car at sorted index CAR_MODELS[k]
    np.testing.assert_array_equal(image[:, 0, 32, 32], np.array(CAR_MODELS)[label])
    assert (image[:, 0] == image[:, 0, :1, :1]).all()  # a flat view stays flat through the resize
    assert "cars3d: classes 0-9 are car_" in capsys.readouterr().out
    card = load_card("cars3d")
    spec = {**card.sources[0], "path": str(folder)}
    from_folder = read_cars3d(spec, card)["all"]
    assert from_folder[0].shape == (960, 64, 64, 3)
    np.testing.assert_array_equal(from_folder[1], np.repeat(np.arange(10), 96))
    # the views of a car in order: elevation-major (view = elevation * 24 + azimuth)
    views = from_folder[0][:96, 0, 0, 1]
    np.testing.assert_array_equal(views, [10 * a + e for e in range(4) for a in range(24)])
    from_archive = read_cars3d({**spec, "path": str(archive)}, card)["all"]
    np.testing.assert_array_equal(from_folder[0], from_archive[0])


def test_cars3d_refuses_a_list_its_indices_were_not_taken_from(cars, tmp_path):
    folder, _ = cars
    card = load_card("cars3d")
    partial = tmp_path / "cars"
    partial.mkdir()
    for p in sorted(folder.glob("*.mat"))[:-1]:
        (partial / p.name).symlink_to(p)
    with pytest.raises(DataError, match=r"182 car_\*_mesh.mat files, the card's class rule indexes a list of 183"):
        read_cars3d({**card.sources[0], "path": str(partial)}, card)
    with pytest.raises(DataError, match=r"the card's indices name one of the car_\*_mesh.mat files twice"):
        read_cars3d({**card.sources[0], "path": str(partial), "models": [0] * 10, "total": 0}, card)
    scipy.io.savemat(partial / "car_000_mesh.mat", {"im": np.zeros((8, 8, 3, 24), np.uint8)})  # sorts first
    with pytest.raises(DataError, match=r"car_000_mesh.mat: 'im' uint8 \(8, 8, 3, 24\), expected uint8"):
        read_cars3d({**card.sources[0], "path": str(partial), "models": list(range(10))}, card)


def chair_png(model: int, view: int, side: int = 80, margin: int = 10) -> bytes:
    """A render: white margin, the centre a flat colour (R = model, G = view); RGBA, transparent outside."""
    arr = np.zeros((side, side, 4), dtype=np.uint8)
    arr[margin : side - margin, margin : side - margin] = (model, view, 100, 255)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


CHAIR_NAMES = [hashlib.md5(str(i).encode()).hexdigest() for i in range(14)]  # folder names like the real ones


def write_chairs(root: Path) -> Path:
    for m, name in enumerate(CHAIR_NAMES):
        renders = root / "rendered_chairs" / name / "renders"
        renders.mkdir(parents=True)
        for v in range(5):
            (renders / f"image_{v:03d}_p020_t{v * 20:03d}_r096.png").write_bytes(chair_png(m, v))
    (root / "rendered_chairs" / "all_chair_names.mat").write_bytes(b"not read")
    return root / "rendered_chairs"


def test_chairs3d_draws_ten_models_by_seed_and_crops_the_renders(tmp_path, capsys):
    folder = write_chairs(tmp_path / "src")
    archive = tmp_path / "rendered_chairs.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname="rendered_chairs")
    real = load_card("chairs3d")
    assert {k: real.sources[0][k] for k in ("seed", "total", "crop")} == {"seed": 0, "total": 1393, "crop": 450}
    spec = {"kind": "chairs3d", "path": str(archive), "seed": 0, "total": 14, "crop": 60}
    card = small_card(tmp_path, "chairs3d", sources=[spec], expected={"train": 40, "test": 10}, shard_size=16,
                      split={"test_size": 10, "seed": 0})  # fmt: skip
    out = build(str(card), root=str(tmp_path / "data"), progress=False)
    man = read_manifest(str(out))
    assert man.classes == 10 and man.shape == [3, 64, 64]
    assert man.splits["train"].per_class == [4] * 10 and man.splits["test"].per_class == [1] * 10
    chosen = choose(CHAIR_NAMES, 10, 0)
    ranked = sorted(CHAIR_NAMES, key=lambda n: hashlib.sha256(f"0:{n}".encode()).hexdigest())
    assert chosen == sorted(ranked[:10]) == choose(CHAIR_NAMES[::-1], 10, 0)  # the stated rule, order-free
    assert choose(CHAIR_NAMES, 10, 1) != chosen
    assert f"chairs3d: classes 0-9 are chair models {', '.join(chosen)}" in capsys.readouterr().out
    test = load_split(str(out), man, "test")
    image, label = test["image"].numpy(), test["label"].numpy()
    models = np.array([CHAIR_NAMES.index(n) for n in chosen])
    # the 60x60 centre crop is the render's flat centre: no white margin survives the resize to 64x64
    np.testing.assert_array_equal(image[:, 0], np.broadcast_to(models[label][:, None, None], (10, 64, 64)))
    assert (image[:, 2] == 100).all()
    arrays = read_chairs3d({**spec, "path": str(folder)}, load_card(str(card)))["all"]
    np.testing.assert_array_equal(arrays[1], np.repeat(np.arange(10), 5))
    np.testing.assert_array_equal(arrays[0][:5, 0, 0, 1], np.arange(5))  # views in name order
    whole = read_chairs3d({**spec, "path": str(tmp_path / "src"), "crop": 0}, load_card(str(card)))["all"][0]
    assert (whole[:, 0, 0] == 255).all()  # no crop: the transparent margin comes out white
    with pytest.raises(DataError, match=r"14 chair models, the card's class rule indexes a list of 1393"):
        read_chairs3d({**spec, "total": 1393}, load_card(str(card)))
