"""The image-quality evaluation of a run: extractors and reference statistics set up once, then FID,
KID and IS of the generator at every evaluation, with generation and features split across ranks."""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from harness import registry
from harness.config import Config
from harness.data.manifest import Manifest
from harness.data.stream import load_split
from harness.evaluate.extractors import ExtractorContext, ExtractorUnavailable
from harness.evaluate.quality import Extractor, gather_rows, generate_uint8, reference_stats, run_batched, scores
from harness.seeding import derive_seed


class QualityEvaluator:
    def __init__(
        self,
        cfg: Config,
        acc: Any,
        location: str,
        man: Manifest,
        size: int,
        real: dict[str, torch.Tensor] | None = None,
    ):
        """``real``: the main process's already-loaded copy of ``eval.fid_split``, if it has one."""
        self.cfg, self.acc, self.size = cfg, acc, size
        self.main = acc.is_main_process
        ctx = ExtractorContext(location, size, acc.device, cfg.eval.inception_weights, self.main and cfg.log.progress)
        self.extractors: list[Extractor] = []
        for name in cfg.eval.quality:
            try:
                with acc.main_process_first():
                    self.extractors.append(registry.extractor(name)(ctx))
            except ExtractorUnavailable as exc:
                if self.main:
                    print(f"warning: eval/*_{name} metrics skipped: {exc}")
        self.refs: dict[str, dict] = {}
        if self.main and self.extractors:
            loaded = {"split": real}

            def real_images() -> torch.Tensor:  # read the split only when some statistics are not cached
                if loaded["split"] is None:
                    loaded["split"] = load_split(location, man, cfg.eval.fid_split, cfg.data.on_error)
                return loaded["split"]["image"]

            for ext in self.extractors:
                self.refs[ext.name] = reference_stats(
                    ext, real_images, man, cfg.eval.fid_split, size, cfg.eval.batch_size, acc.device
                )

    def __bool__(self) -> bool:
        return bool(self.extractors)

    def __call__(self, method: Any, net: torch.nn.Module | None = None) -> dict[str, float]:
        """FID/KID/IS per extractor (on the main process; other ranks return {}); every rank must call it."""
        t = time.time()
        cfg, acc = self.cfg, self.acc
        n = cfg.eval.fid_samples
        per_rank = math.ceil(n / acc.num_processes)
        gen = torch.Generator(device=acc.device).manual_seed(derive_seed(cfg.seed, "fid", acc.process_index))
        images = generate_uint8(
            lambda z, c: method.sample(z, c, net), method.latent, per_rank, cfg.eval.batch_size, gen
        )
        out: dict[str, float] = {}
        for ext in self.extractors:
            feats, logits = run_batched(ext, images, cfg.eval.batch_size, acc.device)
            feats_all = gather_rows(acc, feats, n)
            logits_all = gather_rows(acc, logits, n) if logits is not None else None
            if self.main:
                out.update(scores(ext.name, feats_all, logits_all, self.refs[ext.name], derive_seed(cfg.seed, "kid")))
        if self.main:
            out["perf/quality_s"] = time.time() - t
        return out
