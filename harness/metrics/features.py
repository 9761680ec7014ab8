"""What the image-quality metrics share: feature extractors, generated and real images as features, and the
reference statistics of a real split; the metrics themselves (fid.py, kid.py, inception_score.py) are registered in
:mod:`harness.metrics` and computed by :func:`scores`.

Generated images are drawn in memory (class codes uniform, a fixed seeded set of latents at every
evaluation), quantised to uint8 like real images, split across ranks and gathered. Each feature
extractor's name is part of the metric keys (``eval/fid_domain``, ``eval/fid_inception``), so a domain
classifier's FID is never shown as an Inception FID. Reference statistics of the real split are
computed once per (dataset, split, resolution, extractor weights) and cached in the project's cache.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from cleanfid.fid import frechet_distance

from harness.config import registry
from harness.core.atomic import atomic_write_bytes
from harness.core.cache import cache_dir
from harness.core.errors import RunError
from harness.core.progress import bar
from harness.data.manifest import Manifest
from harness.data.transforms import to_unit

KID_REFERENCE_MAX = 10_000  # reference features kept for KID (clean-fid draws subsets of <= 1,000)


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> uint8, as a PNG writer would store them."""
    return (x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def resized_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Real uint8 images brought to the generator's resolution the way training sees them."""
    if images.shape[-1] == size:
        return images
    return quantise(to_unit(images, size))


def moments(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features; at least two finite rows are needed (else the matrix square root
    of FID would work on NaNs)."""
    feats = np.asarray(feats, dtype=np.float64)
    if len(feats) < 2:
        raise RunError(f"FID needs at least 2 feature rows, got {len(feats)}")
    if not np.isfinite(feats).all():
        raise RunError("features hold NaN or infinity (a diverged generator?); FID is undefined")
    return feats.mean(0), np.cov(feats, rowvar=False)


class Extractor:
    """A named feature extractor: uint8 images (N, C, H, W) -> features (and logits, for IS)."""

    name = ""
    identity = ""  # digest of the weights: part of every reference-statistics cache key and result identity
    resize = ""  # how images reach its input (part of a result's identity)
    has_logits = False

    def yardstick(self, size: int) -> dict[str, Any]:
        """What makes its numbers comparable: weights, resize, the side of the images it is given."""
        return {"weights_sha256": self.identity[:16], "resize": self.resize, "input_size": size}

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


def run_batched(
    extractor: Extractor, images: torch.Tensor, batch: int, device: torch.device, desc: str | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Features (and logits) of many images, batch by batch on ``device``; results stay on ``device``."""
    feats, logits = [], []
    for chunk in bar(images.split(batch), desc=desc, unit="batch", disable=desc is None):
        f, lg = extractor.features(chunk.to(device))
        feats.append(f.float())
        if lg is not None:
            logits.append(lg.float())
    return torch.cat(feats), (torch.cat(logits) if logits else None)


def _split_key(man: Manifest, split: str) -> str:
    return hashlib.sha256(json.dumps([s.sha256 for s in man.splits[split].shards]).encode()).hexdigest()[:12]


def reference_stats(
    extractor: Extractor,
    real: torch.Tensor | Callable[[], torch.Tensor],
    man: Manifest,
    split: str,
    size: int,
    batch: int,
    device: torch.device,
    cache: Path | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """mu, sigma and (up to 10,000) features of a real split (with their labels), cached by dataset, split, size
    and weights.

    ``real`` is the split's uint8 images, or its ``image``/``label`` dict, or a function returning either (called only
    on a cache miss).
    """
    folder = cache or cache_dir("fid-stats")
    ident = f"{extractor.name}-{extractor.identity[:12]}"
    name = f"{man.dataset}-{split}-{_split_key(man, split)}-{size}px-{ident}-labelled.npz"
    path = folder / name
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    split_data = real() if callable(real) else real
    images, labels = (split_data["image"], split_data["label"]) if isinstance(split_data, dict) else (split_data, None)
    if progress:
        print(f"one-time: {extractor.name} reference statistics of {man.dataset}/{split} ({len(images)} images,"
              f" {size}px); cached in {path}", flush=True)  # fmt: skip
    desc = f"reference statistics {man.dataset}/{split} (once)" if progress else None
    feats, _ = run_batched(extractor, resized_uint8(images, size), batch, device, desc)
    feats_np = feats.cpu().numpy().astype(np.float64)
    mu, sigma = moments(feats_np)
    keep = np.random.default_rng(0).permutation(len(feats_np))[:KID_REFERENCE_MAX]
    stats = {"mu": mu, "sigma": sigma, "feats": feats_np[np.sort(keep)].astype(np.float32)}
    if labels is not None:  # the kept features' classes: per-code metrics compare a code with its class's images
        stats["labels"] = np.asarray(labels)[np.sort(keep)].astype(np.int64)
    buf = io.BytesIO()
    np.savez(buf, **stats)
    atomic_write_bytes(path, buf.getbuffer())
    return stats


def real_floor(
    extractor: Extractor,
    ref: dict[str, np.ndarray],
    other: Callable[[], torch.Tensor],
    man: Manifest,
    splits: tuple[str, str],
    n: int,
    size: int,
    batch: int,
    device: torch.device,
    progress: bool = False,
) -> float:
    """The FID of ``n`` real images of one split (``other()``, ``splits[1]``) against the reference statistics
    ``ref`` of the other (``splits[0]``): what a generator that drew real images would score at this sample count,
    the floor to read a model's FID against. Cached beside the reference statistics."""
    ref_split, other_split = splits
    key = f"{_split_key(man, ref_split)}-{other_split}-{_split_key(man, other_split)}-{n}"
    path = (
        cache_dir("fid-stats")
        / f"floor-{man.dataset}-{ref_split}-{key}-{size}px-{extractor.name}-{extractor.identity[:12]}.json"
    )  # noqa: E501
    if path.is_file():
        return float(json.loads(path.read_text())["fid"])
    images = other()[:n]  # shards are shuffled when built: the first n are a random subset
    desc = f"real-vs-real floor {man.dataset}/{other_split} (once)" if progress else None
    feats, _ = run_batched(extractor, resized_uint8(images, size), batch, device, desc)
    mu, sigma = moments(feats.cpu().numpy().astype(np.float64))
    value = float(frechet_distance(mu, sigma, ref["mu"], ref["sigma"]))
    atomic_write_bytes(path, json.dumps({"fid": value, "n": int(len(images))}).encode())
    return value


@torch.no_grad()
def generate_with_codes(
    sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latent: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    n: int,
    batch: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` generated images as uint8 and the class codes they were drawn with (uniform), with ``generator``."""
    images, codes = [], []
    for start in range(0, n, batch):
        z, c = latent(min(batch, n - start), generator=generator)
        images.append(quantise(sample(z, c)))
        codes.append(c)
    return torch.cat(images), torch.cat(codes)


def generate_uint8(
    sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    latent: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    n: int,
    batch: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """``n`` generated images as uint8, class codes uniform, drawn with ``generator`` (on the device)."""
    return generate_with_codes(sample, latent, n, batch, generator)[0]


@dataclass
class CodedSamples:
    """What a ``codes`` metric sees of one extractor: generated images' features (and logits), the class code each
    was drawn with, the real split's reference statistics (``feats`` and their ``labels``), the number of classes,
    and whether the logits are of the dataset's own classes."""

    feats: np.ndarray
    logits: np.ndarray | None
    codes: np.ndarray
    ref: dict[str, np.ndarray]
    classes: int
    knows_the_classes: bool
    seed: int


def scores(
    name: str,
    feats: np.ndarray,
    logits: np.ndarray | None,
    ref: dict[str, np.ndarray],
    seed: int,
    coded: CodedSamples | None = None,
) -> dict[str, float]:
    """Every registered metric of generated images for extractor ``name``: those of its features against the real
    split's statistics (FID, KID, precision and recall), with logits those of its logits (IS), and with the codes
    the images were drawn with (``coded``) those of the codes (generated-image ACC, per-code recall); a metric's
    ``<m>`` is logged as ``eval/<m>_<name>`` and its ``<m>_std`` as ``eval/<m>_<name>_std``."""
    out: dict[str, float] = {}
    for entry in registry.metrics_needing("samples"):
        out.update(registry.metric(entry.name)(feats, ref, seed))
    if logits is not None:
        for entry in registry.metrics_needing("logits"):
            out.update(registry.metric(entry.name)(logits))
    if coded is not None:
        for entry in registry.metrics_needing("codes"):
            out.update(registry.metric(entry.name)(coded))
    return {metric_key(k, name): v for k, v in out.items()}


def metric_key(metric: str, extractor: str) -> str:
    """``fid`` -> ``eval/fid_<extractor>``; ``kid_std`` -> ``eval/kid_<extractor>_std``."""
    base, std = (metric[:-4], "_std") if metric.endswith("_std") else (metric, "")
    return f"eval/{base}_{extractor}{std}"


def gather_chunks(acc: Any, parts: list[torch.Tensor], per_rank: int, batch: int, chunks: int, n: int) -> np.ndarray:
    """Rows of chunks made round-robin by the ranks (rank r made chunks r, r + W, ...), back in chunk order.

    ``parts[0]`` is an empty (0, width) tensor that fixes the width on every rank; each rank pads its list to
    ``per_rank`` chunks of ``batch`` rows so the gather has equal sizes."""
    head, parts = parts[0], parts[1:]
    if acc.num_processes == 1:
        return torch.cat([head, *parts])[:n].cpu().numpy().astype(np.float64)
    padded = [torch.cat([p, p.new_zeros(batch - len(p), p.shape[1])]) if len(p) < batch else p for p in parts]
    while len(padded) < per_rank:
        padded.append(head.new_zeros(batch, head.shape[1]))
    gathered = acc.gather(torch.stack(padded).contiguous())  # (world * per_rank, batch, width)
    world = acc.num_processes
    ordered = [gathered[(k % world) * per_rank + k // world] for k in range(chunks)]
    return torch.cat(ordered)[:n].cpu().numpy().astype(np.float64)
