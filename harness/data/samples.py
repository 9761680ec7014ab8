"""Reading shard members safely: only the expected member types are accepted, nothing is unpickled."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image

from harness.data.cards import DataError
from harness.data.tarstream import iter_samples

ALLOWED = frozenset({"png", "cls", "json"})


def encode_sample(key: str, image: np.ndarray, label: int) -> dict[str, Any]:
    """A webdataset sample dict: PNG image (from H, W, C uint8) and the ASCII class index.

    (A ``json`` member is accepted on reading but not written: tar pads every member to 512 bytes,
    which for 28x28 images would add half the shard size.)
    """
    arr = image[..., 0] if image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return {"__key__": key, "png": buf.getvalue(), "cls": str(int(label)).encode()}


def read_shard(url: str) -> bytes:
    """The bytes of one shard from a path, URL or ``pipe:`` command (webdataset's gopen)."""
    import webdataset as wds

    try:
        with wds.gopen(url) as stream:
            return stream.read()
    except Exception as exc:  # noqa: BLE001 - any transport error is reported the same way
        raise DataError(f"cannot read shard {url}: {exc}") from None


def iter_raw_samples(url: str) -> Iterator[dict[str, Any]]:
    """Undecoded samples of one shard, grouped by key; errors name the shard (and the sample)."""
    yield from iter_samples(read_shard(url), url)


def check_members(sample: dict[str, Any], url: str) -> None:
    members = {k for k in sample if not k.startswith("__")}
    unexpected = members - ALLOWED
    if unexpected:
        raise DataError(
            f"shard {url}, sample '{sample['__key__']}': unexpected member type(s) {sorted(unexpected)};"
            f" only {sorted(ALLOWED)} are read (nothing is ever unpickled)"
        )
    if not {"png", "cls"} <= members:
        raise DataError(f"shard {url}, sample '{sample['__key__']}': missing png or cls member")


def decode_image(sample: dict[str, Any], url: str, shape: tuple[int, int, int]) -> np.ndarray:
    """PNG bytes -> (C, H, W) uint8, checked against the manifest's shape."""
    from torchvision.io import ImageReadMode, decode_png

    try:
        arr = decode_png(torch.frombuffer(bytearray(sample["png"]), dtype=torch.uint8), ImageReadMode.UNCHANGED)
    except Exception as exc:  # noqa: BLE001 - the decoder raises several types
        raise DataError(f"shard {url}, sample '{sample['__key__']}': undecodable png ({exc})") from None
    if tuple(arr.shape) != tuple(shape) or arr.dtype != torch.uint8:
        raise DataError(
            f"shard {url}, sample '{sample['__key__']}': image {arr.dtype} {tuple(arr.shape)},"
            f" the manifest says uint8 {tuple(shape)}"
        )
    return arr.numpy()


def decode_label(sample: dict[str, Any], url: str, classes: int) -> int:
    try:
        label = int(sample["cls"].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise DataError(f"shard {url}, sample '{sample['__key__']}': cls is not an integer") from None
    if not 0 <= label < classes:
        raise DataError(f"shard {url}, sample '{sample['__key__']}': label {label} outside [0, {classes})")
    return label
