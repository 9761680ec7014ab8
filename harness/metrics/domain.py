"""The domain feature extractor: a small classifier trained with labels on a dataset's training shards.

Offline machines cannot fetch Inception's weights, and Inception features of 8x8 digits or 28x28
clothes are a poor yardstick anyway; a classifier of the domain itself gives FID/KID features (its
penultimate layer) and Inception-Score logits. It is trained once per (dataset, resolution) and cached
in the project's cache with its test accuracy (``codegan-extractor train <dataset>`` makes it ahead of a run).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.config.cards import DataError
from harness.core.atomic import atomic_write_bytes, atomic_write_text
from harness.core.cache import cache_dir, cache_lock
from harness.core.progress import bar
from harness.data.manifest import Manifest, read_manifest
from harness.data.remote import DEFAULT, Limits
from harness.data.stream import ShardStream, load_split, make_loader
from harness.data.transforms import to_unit

FEATURE_DIM = 128


class DomainClassifier(nn.Module):
    """conv 32 -> conv 64 (stride 2) -> conv 128 (stride 2) -> global average -> 128-d features -> K logits."""

    def __init__(self, channels: int, classes: int):
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.trunk = nn.Sequential(
            *block(channels, 32, 1), *block(32, 64, 2), *block(64, 128, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.embed = nn.Linear(128, FEATURE_DIM)
        self.out = nn.Linear(FEATURE_DIM, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0, 1] -> (features, logits)."""
        feats = self.embed(self.trunk(x))
        return feats, self.out(F.relu(feats))


@dataclass
class ExtractorInfo:
    dataset: str
    image_size: int
    channels: int
    classes: int
    test_acc: float
    steps: int
    weights_sha256: str
    trained_on: str  # shard manifest the classifier saw (its card hash and train shard hashes)
    seconds: float


def extractor_path(dataset: str, size: int, trained_on: str = "") -> Path:
    """The cached classifier of a dataset's training shards (``trained_on``: their card and shard hashes), so two
    datasets, or a dataset and a doctored copy of it under the same name, never share one."""
    key = f"-{trained_on}" if trained_on else ""
    return cache_dir("extractors") / f"domain-{dataset}-{size}px{key}.pt"


def training_data_key(man: Manifest) -> str:
    """What the classifier is trained on: the card's hash and the training shards' hashes."""
    src = json.dumps([man.card_sha256, [s.sha256 for s in man.splits["train"].shards]])
    return hashlib.sha256(src.encode()).hexdigest()[:16]


def load_extractor(path: Path, device: torch.device) -> tuple[DomainClassifier, ExtractorInfo]:
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        raise FileNotFoundError(f"no domain extractor at {path}")
    info = ExtractorInfo(**json.loads(meta.read_text()))
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != info.weights_sha256:
        raise DataError(f"{path}: weights do not match the sha256 in {meta.name}; retrain it")
    net = DomainClassifier(info.channels, info.classes)
    net.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    return net.to(device).eval(), info


@torch.no_grad()
def accuracy(net: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, size: int, device) -> float:
    net.eval()
    hits = 0
    for x, y in zip(images.split(500), labels.split(500), strict=True):
        hits += int((net(to_unit(x.to(device), size))[1].argmax(1).cpu() == y).sum())
    return hits / len(labels)


def train_extractor(
    location: str,
    size: int = 0,
    steps: int = 0,
    device: torch.device | None = None,
    progress: bool = True,
    manifest: Manifest | None = None,
    on_error: str = "stop",
    limits: Limits = DEFAULT,
) -> tuple[Path, ExtractorInfo]:
    """Train (or, if cached for these shards, load) the domain classifier of the shards at ``location``
    (a folder or a remote location) for images of side ``size`` (default: native). ``manifest``: the
    shards' manifest when it is not a file there (shards scanned by :mod:`harness.data.foreign`, whose
    location is empty and whose manifest names every shard by its full address); ``on_error`` and
    ``limits`` are the run's ``data.on_error`` and remote-read limits."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    man = manifest or read_manifest(location, limits)
    size = size or man.shape[1]
    trained_on = training_data_key(man)
    path = extractor_path(man.dataset, size, trained_on)
    with cache_lock(path):
        for found in (path, extractor_path(man.dataset, size)):  # (unkeyed: a cache made before the key joined)
            try:
                net, info = load_extractor(found, device)
                if info.trained_on == trained_on:
                    return found, info
            except FileNotFoundError:
                pass
        t0 = time.time()
        torch.manual_seed(0)
        steps = steps or max(600, 3 * man.splits["train"].count // 128)
        if progress:
            print(f"one-time: training the domain classifier of {man.dataset} at {size}px for FID/KID/IS ({steps}"
                  f" steps of 128 images); cached in {path} for every later run", flush=True)  # fmt: skip
        net = DomainClassifier(man.shape[0], man.classes).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
        stream = ShardStream(location, man, "train", 128, seed=0, streams=1, on_error=on_error, limits=limits)
        batches = iter(make_loader(stream, 0))
        net.train()
        for _ in bar(range(steps), desc=f"domain classifier {man.dataset} {size}px (once)", disable=not progress):
            batch = next(batches)
            x = to_unit(batch["image"].to(device), size)
            shift = torch.randint(-1, 2, (2,))  # a one-pixel jitter keeps the features from memorising
            x = torch.roll(x, (int(shift[0]), int(shift[1])), dims=(2, 3))
            loss = F.cross_entropy(net(x)[1], batch["label"].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        test = load_split(location, man, "test" if "test" in man.splits else "train", on_error, limits)
        acc = accuracy(net, test["image"], test["label"], size, device)
        buf = io.BytesIO()
        torch.save({k: v.cpu() for k, v in net.state_dict().items()}, buf)
        data = buf.getvalue()
        info = ExtractorInfo(
            man.dataset,
            size,
            man.shape[0],
            man.classes,
            acc,
            steps,
            hashlib.sha256(data).hexdigest(),
            trained_on,
            time.time() - t0,
        )
        atomic_write_bytes(path, data)
        atomic_write_text(path.with_suffix(".json"), json.dumps(asdict(info), indent=1))
        return path, info
