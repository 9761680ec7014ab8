"""The evaluation a run performs: class features of a real split -> k-means scores, plus a sample grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.config import Config, registry, training_config
from harness.core.seeding import derive_seed
from harness.data.transforms import to_unit
from harness.metrics.cluster import assignment_scores, kmeans_scores
from harness.metrics.features import quantise
from harness.metrics.grids import add_title, class_grid, label_rows, match_codes
from harness.metrics.per_code import is_collapsed


def kmeans_seeds(cfg: Config) -> list[int]:
    return [derive_seed(cfg.seed, "kmeans", i) for i in range(cfg.eval.kmeans_seeds)]


@torch.no_grad()
def batched(fn: Any, device: torch.device, images: torch.Tensor, size: int, batch_size: int) -> np.ndarray:
    """``fn`` (class_features, predict_class) over uint8 images, in batches on ``device``."""
    out = []
    for chunk in images.split(batch_size):
        out.append(fn(to_unit(chunk.to(device), size)).cpu())
    return torch.cat(out).numpy()


def cluster_eval(
    method: Any, data: dict[str, torch.Tensor], classes: int, size: int, cfg: Config, progress: bool = False
) -> dict[str, float]:
    """k-means scores of the method's class features; for methods that predict a class directly
    (InfoGAN's Q, ClusterGAN's encoder) also the scores of that argmax, as ``eval/<score>_<tag>``."""
    labels = data["label"].numpy()
    feats = batched(method.class_features, method.device, data["image"], size, cfg.eval.batch_size)
    desc = "eval: k-means" if progress else None
    out = kmeans_scores(feats, labels, classes, kmeans_seeds(cfg), cfg.eval.kmeans_n_init, desc=desc)
    if method.argmax_tag:
        pred = batched(method.predict_class, method.device, data["image"], size, cfg.eval.batch_size)
        out.update({f"eval/{k}_{method.argmax_tag}": v for k, v in assignment_scores(labels, pred).items()})
    return out


def real_row(real: dict[str, torch.Tensor], columns: int, classes: int, size: int) -> torch.Tensor:
    """``columns`` real images in [0, 1] at side ``size``: the first image of class ``j mod K`` in column ``j``
    (the first images of the split where a class is missing)."""
    labels = real["label"]
    picks = []
    for j in range(columns):
        found = (labels == j % classes).nonzero()
        picks.append(int(found[j // classes % len(found)]) if len(found) else j % len(labels))
    return to_unit(real["image"][picks], size).cpu()


def grid_title(cfg: Config, step: int, metrics: dict[str, float]) -> str:
    """``<method> <dataset> seed <s> | step <n> | FID (<extractor>) <v>``: what a reader of a grid needs."""
    parts = [f"{registry.label(training_config(cfg))} {Path(cfg.data.dataset).stem} seed {cfg.seed}", f"step {step:,}"]
    parts += [f"FID ({k.removeprefix('eval/fid_')}) {v:.2f}" for k, v in sorted(metrics.items())
              if k.startswith("eval/fid_") and not k.endswith("_std")]  # fmt: skip
    if "eval/acc" in metrics:
        parts.append(f"ACC {metrics['eval/acc']:.3f}")
    return " | ".join(parts)


@torch.no_grad()
def sample_grid(
    method: Any,
    classes: int,
    columns: int,
    seed: int,
    generator_net: Any = None,
    classifier: Any = None,
    names: list[str] | None = None,
    real: dict[str, torch.Tensor] | None = None,
    title: str = "",
    real_label: str = "real images",
    notes: list[str] | None = None,
) -> np.ndarray:
    """One row per class code; column j uses the same z_n in every row (a fixed, seeded z per column).

    With a ``classifier`` (uint8 images -> logits: the domain classifier), 50 samples per code are
    classified and each row is labelled "code k -> <class>" with the class its code is matched to
    (Hungarian), so a reader sees which class each code stands for. With ``real`` (a split's images and
    labels) a last row shows real images, one class per column; ``title`` heads the picture; ``notes`` are added to
    the rows' labels (each code's recall)."""
    gen = torch.Generator(device=method.device).manual_seed(derive_seed(seed, "grid"))
    z, _ = method.latent(columns, class_index=0, generator=gen)
    z = z.repeat(classes, 1)
    c = torch.arange(classes, device=method.device).repeat_interleave(columns)
    fakes = method.sample(z, c, generator_net).cpu()
    rows = classes
    if real is not None:
        fakes = torch.cat([fakes, real_row(real, columns, classes, fakes.shape[-1]).to(fakes.dtype)])
        rows += 1
    grid = class_grid(fakes, rows=rows)
    labels = [f"code {k}" for k in range(classes)]
    if classifier is not None:
        zs, _ = method.latent(50 * classes, generator=gen)
        codes = torch.arange(classes, device=method.device).repeat_interleave(50)
        predicted = classifier(quantise(method.sample(zs, codes, generator_net))).argmax(1).cpu().numpy()
        matched = match_codes(predicted, codes.cpu().numpy(), classes)
        names = names or [str(k) for k in range(classes)]
        labels = [f"code {k} -> {names[m]}" for k, m in enumerate(matched)]
    if notes:  # each code's recall, the collapsed ones marked (harness.metrics.per_code)
        labels = [f"{label} {note}".rstrip() for label, note in zip(labels, notes, strict=False)]
    if classifier is not None or real is not None or notes:
        grid = label_rows(grid, labels + ([real_label] if real is not None else []), rows)
    return add_title(grid, title) if title else grid


def code_notes(metrics: dict[str, float], classes: int) -> list[str]:
    """Each code's recall (and FID) as its grid row's note, the collapsed ones marked, from the per-code metric of the
    dataset's classifier (or of the first extractor that has one)."""
    suffixes = sorted(k.removeprefix("eval/code_recall_min_") for k in metrics if k.startswith("eval/code_recall_min_"))
    if not suffixes:
        return []
    ext = "domain" if "domain" in suffixes else suffixes[0]
    notes = []
    for k in range(classes):
        r, share = metrics.get(f"eval/code_recall_{k}_{ext}"), metrics.get(f"eval/code_share_{k}_{ext}")
        text = "" if r is None else f"recall {r:.2f}" + (f", {share:.0%} in its class" if share is not None else "")
        code_fid = metrics.get(f"eval/code_fid_{k}_{ext}")
        text += f", FID {code_fid:.1f}" if text and code_fid is not None and np.isfinite(code_fid) else ""
        notes.append(
            text + (" COLLAPSED" if r is not None and is_collapsed(r, 1.0 if share is None else share) else "")
        )
    return notes
