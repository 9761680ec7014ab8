"""The image-quality evaluation of a run: extractors and reference statistics set up once, then FID,
KID and IS of the generator at every evaluation, with generation and features split across ranks."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from harness.config import Config, registry
from harness.core.errors import RunError
from harness.core.progress import bar
from harness.core.seeding import derive_seed
from harness.data.manifest import Manifest
from harness.data.remote import Limits
from harness.data.stream import load_split
from harness.metrics.extractors import ExtractorContext, ExtractorUnavailable
from harness.metrics.features import (
    CodedSamples,
    Extractor,
    gather_chunks,
    generate_with_codes,
    real_floor,
    reference_stats,
    run_batched,
    scores,
)
from harness.parallel.threads import main_process_threads


class QualityEvaluator:
    def __init__(
        self,
        cfg: Config,
        acc: Any,
        location: str,
        man: Manifest,
        size: int,
        real: dict[str, torch.Tensor] | None = None,
        eval_data: dict[str, torch.Tensor] | None = None,
    ):
        """``real``: the main process's already-loaded copy of ``eval.fid_split``, if it has one; ``eval_data``: its
        copy of ``eval.split`` (the floor of each FID reads the split the statistics are not of)."""
        self.cfg, self.acc, self.size = cfg, acc, size
        self.shape = (man.shape[0], size, size)
        self.main = acc.is_main_process
        limits = Limits.of(cfg.data)
        progress = self.main and cfg.log.progress
        ctx = ExtractorContext(
            location, size, acc.device, cfg.eval.inception_weights, progress, man, cfg.data.on_error, limits
        )
        self.extractors: list[Extractor] = []
        for name in cfg.eval.quality:
            missing: ExtractorUnavailable | None = None
            with acc.main_process_first():  # every rank leaves it, so none is left waiting
                try:
                    self.extractors.append(registry.extractor(name)(ctx))
                except ExtractorUnavailable as exc:
                    missing = exc
            if missing is not None:  # asked for and not computable: stop before any work, never a silent gap
                raise RunError(
                    f"eval/*_{name} (eval.quality) cannot be computed: {missing}, or leave {name} out of eval.quality"
                )
        self.refs: dict[str, dict] = {}
        if self.main and self.extractors:
            loaded = {"split": real}

            def real_images() -> dict[str, torch.Tensor]:  # read the split only when some statistics are not cached
                if loaded["split"] is None:
                    loaded["split"] = load_split(location, man, cfg.eval.fid_split, cfg.data.on_error, limits)
                return loaded["split"]

            for ext in self.extractors:
                self.refs[ext.name] = reference_stats(
                    ext, real_images, man, cfg.eval.fid_split, size, cfg.eval.batch_size, acc.device,
                    progress=cfg.log.progress,
                )  # fmt: skip
            self._floors(location, man, eval_data, limits)

    def _floors(self, location: str, man: Manifest, eval_data: Any, limits: Limits) -> None:
        """Each extractor's real-vs-real FID: the split the statistics are not of, as many images as a model's FID
        draws (or all it has), against them."""
        cfg = self.cfg
        other = "test" if cfg.eval.fid_split == "train" else "train"
        self.floors: dict[str, tuple[float, int]] = {}
        if other not in man.splits:
            return
        n = min(cfg.eval.fid_samples, man.splits[other].count)

        def images() -> torch.Tensor:
            if other == cfg.eval.split and eval_data is not None:
                return eval_data["image"]
            return load_split(location, man, other, cfg.data.on_error, limits)["image"]

        for ext in self.extractors:
            splits = (cfg.eval.fid_split, other)
            floor = real_floor(ext, self.refs[ext.name], images, man, splits, n, self.size, cfg.eval.batch_size,
                               self.acc.device, progress=cfg.log.progress)  # fmt: skip
            self.floors[ext.name] = (floor, n)

    def identities(self) -> dict[str, dict[str, Any]]:
        """Each extractor's yardstick (weights, resize, input size): part of every result it measured."""
        return {ext.name: ext.yardstick(self.size) for ext in self.extractors}

    def yardstick_metrics(self) -> dict[str, float]:
        """What to read its numbers against (main process): each FID's real-vs-real floor, the domain classifier's
        test accuracy."""
        out: dict[str, float] = {}
        for ext in self.extractors:
            if ext.name in getattr(self, "floors", {}):
                out[f"yardstick/{ext.name}_floor_fid"], out[f"yardstick/{ext.name}_floor_n"] = self.floors[ext.name]
            info = getattr(ext, "info", None)
            if info is not None and hasattr(info, "test_acc"):
                out[f"yardstick/{ext.name}_test_acc"] = float(info.test_acc)
        return out

    def __bool__(self) -> bool:
        return bool(self.extractors)

    def classifier(self) -> Any:
        """uint8 images -> class logits of the dataset's own classifier (the domain extractor), or None."""
        for ext in self.extractors:
            if getattr(ext, "knows_the_classes", False):
                return lambda images, ext=ext: ext.features(images)[1]
        return None

    def __call__(self, method: Any, net: torch.nn.Module | None = None, progress: bool = False) -> dict[str, float]:
        """FID/KID/IS per extractor (on the main process; other ranks return {}); every rank must call it.

        The ``eval.fid_samples`` images are cut into chunks of ``eval.batch_size``, chunk ``k`` drawn with
        its own seed and made by rank ``k mod world``: the same images whatever the number of processes,
        so a re-scoring on another world size measures the same thing.
        """
        t = time.time()
        cfg, acc = self.cfg, self.acc
        n, batch, world = cfg.eval.fid_samples, cfg.eval.batch_size, acc.num_processes
        chunks = math.ceil(n / batch)
        mine = list(range(acc.process_index, chunks, world))
        per_rank = math.ceil(chunks / world)  # every rank gathers as many chunks (the last ones padded)
        images, codes = [], []
        names = ", ".join(e.name for e in self.extractors)
        for k in bar(mine, desc=f"eval: FID/KID/IS ({names})", unit="chunk", disable=not progress, leave=False):
            gen = torch.Generator(device=acc.device).manual_seed(derive_seed(cfg.seed, "fid", k))
            size = min(batch, n - k * batch)
            drawn, c = generate_with_codes(lambda z, c: method.sample(z, c, net), method.latent, size, size, gen)
            images.append(drawn)
            codes.append(c.to(torch.float32)[:, None])
        codes_all = gather_chunks(acc, [torch.zeros(0, 1, device=acc.device), *codes], per_rank, batch, chunks, n)
        out: dict[str, float] = {}
        probe = torch.zeros(2, *self.shape, dtype=torch.uint8, device=acc.device)  # widths, for a rank with no chunk
        for ext in self.extractors:
            f0, lg0 = ext.features(probe)
            feats = [f0.new_zeros(0, f0.shape[1])]
            logits = [lg0.new_zeros(0, lg0.shape[1])] if lg0 is not None else []
            for chunk in images:
                f, lg = run_batched(ext, chunk, batch, acc.device)
                feats.append(f)
                if lg0 is not None:
                    logits.append(lg)
            feats_all = gather_chunks(acc, feats, per_rank, batch, chunks, n)
            logits_all = gather_chunks(acc, logits, per_rank, batch, chunks, n) if lg0 is not None else None
            if self.main:  # FID's sqrtm, KID, IS while the other ranks wait: with every thread the main may use
                with main_process_threads(cfg, world, True):
                    kid_seed = derive_seed(cfg.seed, "kid")
                    ref, knows = self.refs[ext.name], getattr(ext, "knows_the_classes", False)
                    drawn_codes = codes_all[:, 0].astype(np.int64)
                    coded = CodedSamples(feats_all, logits_all, drawn_codes, ref, method.classes, knows, kid_seed)
                    out.update(scores(ext.name, feats_all, logits_all, self.refs[ext.name], kid_seed, coded))
        if self.main:
            out.update(self.yardstick_metrics())
            out["perf/quality_s"] = time.time() - t
        return out
