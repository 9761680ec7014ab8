"""Reading shard members safely: only the expected member types are accepted, nothing is unpickled."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from PIL import Image

from harness.config.cards import DataError
from harness.data.remote import DEFAULT, Limits, fetch
from harness.data.tarstream import iter_samples

IMAGES = ("png", "jpg", "jpeg")  # image members, in the order they are looked for
LABELS = ("cls", "json")  # the class index as ASCII text, or a JSON object with a label/cls/class field
ALLOWED = frozenset({*IMAGES, *LABELS, "txt"})  # txt (captions) is accepted and ignored


def encode_sample(key: str, image: np.ndarray, label: int) -> dict[str, Any]:
    """A webdataset sample dict: PNG image (from H, W, C uint8) and the ASCII class index.

    (A ``json`` member is accepted on reading but not written: tar pads every member to 512 bytes,
    which for 28x28 images would add half the shard size.)
    """
    arr = image[..., 0] if image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return {"__key__": key, "png": buf.getvalue(), "cls": str(int(label)).encode()}


def read_shard(url: str, sha256: str | None = None, limits: Limits = DEFAULT) -> bytes:
    """The bytes of one shard from a path, URL or command (:func:`harness.data.remote.fetch`, bounded);
    with ``sha256``, only if they match it."""
    return fetch(url, limits, sha256)


def iter_raw_samples(url: str, sha256: str | None = None, limits: Limits = DEFAULT) -> Iterator[dict[str, Any]]:
    """Undecoded samples of one shard, grouped by key; errors name the shard (and the sample). With
    ``sha256`` the whole shard is checked against it before the first sample."""
    yield from iter_samples(read_shard(url, sha256, limits), url)


def check_members(sample: dict[str, Any], url: str, labelled: bool = True) -> None:
    """Only readable member types, an image, and (``labelled``: a dataset with classes) a label."""
    members = {k for k in sample if not k.startswith("__")}
    unexpected = members - ALLOWED
    if unexpected:
        raise DataError(
            f"shard {url}, sample '{sample['__key__']}': unexpected member type(s) {sorted(unexpected)};"
            f" only {sorted(ALLOWED)} are read (nothing is ever unpickled)"
        )
    if not members & set(IMAGES):
        raise DataError(
            f"shard {url}, sample '{sample['__key__']}': no image member (one of {', '.join(IMAGES)}; a label is"
            f" {' or '.join(LABELS)})"
        )
    if labelled and not has_label(sample):
        raise DataError(
            f"shard {url}, sample '{sample['__key__']}': no label member ({' or '.join(LABELS)}), though the dataset"
            " has labels"
        )


def has_label(sample: dict[str, Any]) -> bool:
    return any(k in sample for k in LABELS)


def decode_image(sample: dict[str, Any], url: str, shape: tuple[int, int, int] | None) -> np.ndarray:
    """The image member (png, jpg) -> (C, H, W) uint8, checked against the manifest's shape (if given)."""
    from torchvision.io import ImageReadMode
    from torchvision.io import decode_image as decode

    kind = next(k for k in IMAGES if k in sample)
    try:
        arr = decode(torch.frombuffer(bytearray(sample[kind]), dtype=torch.uint8), ImageReadMode.UNCHANGED)
    except Exception as exc:  # noqa: BLE001 - the decoder raises several types
        raise DataError(f"shard {url}, sample '{sample['__key__']}': undecodable {kind} ({exc})") from None
    if shape is None:
        return arr.numpy()
    if tuple(arr.shape) != tuple(shape) or arr.dtype != torch.uint8:
        raise DataError(
            f"shard {url}, sample '{sample['__key__']}': image {arr.dtype} {tuple(arr.shape)},"
            f" the manifest says uint8 {tuple(shape)}"
        )
    return arr.numpy()


def label_of(sample: dict[str, Any], url: str) -> int:
    """The class index of a sample: its ``cls`` member, else the label/cls/class field of its ``json``."""
    if "cls" in sample:
        try:
            return int(sample["cls"].decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            raise DataError(f"shard {url}, sample '{sample['__key__']}': cls is not an integer") from None
    try:
        meta = json.loads(sample["json"])
        return int(next(meta[k] for k in ("label", "cls", "class") if k in meta))
    except (KeyError, StopIteration, ValueError, TypeError, AttributeError):
        raise DataError(f"shard {url}, sample '{sample['__key__']}': no class in its json (label/cls/class)") from None


def decode_label(sample: dict[str, Any], url: str, classes: int) -> int:
    label = label_of(sample, url)
    if not 0 <= label < classes:
        raise DataError(f"shard {url}, sample '{sample['__key__']}': label {label} outside [0, {classes})")
    return label
