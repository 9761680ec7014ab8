"""The registered image-quality feature extractors: ``domain`` (a classifier of the dataset itself) and
``inception`` (clean-fid's Inception-v3 in its "clean" mode)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.core.cache import cache_dir
from harness.data.manifest import Manifest, sha256_file
from harness.data.remote import DEFAULT, Limits
from harness.data.sources.base import SourceMissing
from harness.data.sources.download import fetch
from harness.metrics.domain import load_extractor, train_extractor
from harness.metrics.features import Extractor

INCEPTION_NAME = "inception-2015-12-05.pt"  # the file name clean-fid's InceptionV3W loads
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/" + INCEPTION_NAME


class ExtractorUnavailable(RuntimeError):
    """The extractor cannot be had here (no weights, no network); its metrics are skipped."""


@dataclass
class ExtractorContext:
    location: str  # the run's shard location (the domain classifier trains on its training split)
    size: int  # image side the run generates
    device: torch.device
    inception_weights: str = ""
    progress: bool = True
    manifest: Manifest | None = None  # the shards' manifest (needed for scanned shards, which have no file)
    on_error: str = "stop"  # data.on_error, for the shards the domain classifier trains on
    limits: Limits = DEFAULT  # remote-read limits of those shards


class DomainExtractor(Extractor):
    name = "domain"
    has_logits = True
    knows_the_classes = True  # its logits are the dataset's classes: it can name the class a code stands for
    needs_labels = True  # trained on the dataset's labels: none for shards without them
    resize = "to the generator's size"

    def __init__(self, ctx: ExtractorContext):

        path, info = train_extractor(
            ctx.location,
            ctx.size,
            device=ctx.device,
            progress=ctx.progress,
            manifest=ctx.manifest,
            on_error=ctx.on_error,
            limits=ctx.limits,
        )
        self.net, self.info = load_extractor(path, ctx.device)
        self.identity = info.weights_sha256

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.net(images.float() / 255.0)


def inception_file(option: str) -> Path:
    """The Inception weights: ``eval.inception_weights`` if set, else the cached download (fetched once)."""
    if option:
        path = Path(option).expanduser()
        if not path.is_file():
            raise ExtractorUnavailable(f"eval.inception_weights={option}: no such file")
    else:
        try:
            path = fetch(INCEPTION_URL, cache=str(cache_dir("inception")))
        except SourceMissing as exc:
            raise ExtractorUnavailable(
                f"{exc}; on an offline machine copy {INCEPTION_NAME} somewhere and set eval.inception_weights"
            ) from None
    if path.name != INCEPTION_NAME:  # clean-fid loads <folder>/inception-2015-12-05.pt
        link = cache_dir("inception", sha256_file(path)[:12]) / INCEPTION_NAME
        if not link.exists():
            link.symlink_to(path.resolve())
        path = link
    return path


class InceptionExtractor(Extractor):
    """clean-fid's Inception-v3 (TorchScript) behind its PIL-bicubic resize to 299x299 (``eval.protocol=clean``)."""

    name = "inception"
    resize = "clean"

    def __init__(self, ctx: ExtractorContext):
        from cleanfid.inception_torchscript import InceptionV3W
        from cleanfid.resize import build_resizer

        path = inception_file(ctx.inception_weights)
        self.identity = sha256_file(path)
        self.model = InceptionV3W(str(path.parent), download=False, resize_inside=False).to(ctx.device).eval()
        self.resizer = build_resizer("clean")
        self.device = ctx.device

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        from cleanfid.fid import get_batch_features

        arr = images.cpu().numpy().transpose(0, 2, 3, 1)
        if arr.shape[-1] == 1:
            arr = np.repeat(arr, 3, axis=-1)
        batch = torch.from_numpy(np.stack([self.resizer(a) for a in arr]).transpose(0, 3, 1, 2).copy())
        return torch.from_numpy(get_batch_features(batch, self.model, self.device)).to(images.device), None


class TFInceptionExtractor(Extractor):
    """The paper's protocol (``eval.protocol=paper``): the same TF-ported Inception-v3 weights, resizing inside the
    network as TensorFlow did (clean-fid's ``legacy_tensorflow`` mode, the numbers LDAGAN and TTUR published), its
    2048 pool features for FID and KID and its class probabilities without the output bias for IS (as Salimans et
    al.'s code). Two forwards per batch: one for each."""

    name = "inception_tf"
    resize = "legacy_tensorflow"
    has_logits = True

    def __init__(self, ctx: ExtractorContext):
        path = inception_file(ctx.inception_weights)
        self.identity = sha256_file(path)
        self.net = torch.jit.load(str(path), map_location=ctx.device).eval()
        self.device = ctx.device

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = images.to(self.device)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = x.to(torch.float32)
        feats = self.net(x, return_features=True).reshape(len(x), -1)
        probs = self.net(x, no_output_bias=True).to(torch.float64)
        return feats.to(images.device), probs.clamp_min(1e-30).log().to(images.device)  # log p: IS's logits
