"""One evaluation of a run: image quality on every rank (FID/KID/IS), then on the main process the clustering scores
of the method's class features (or the pixel baseline, for k-means on pixels) and a sample grid, logged."""

from __future__ import annotations

import time
from typing import Any

from harness.config import Config
from harness.metrics.pixels import pixel_baseline
from harness.metrics.quality import QualityEvaluator
from harness.metrics.suite import cluster_eval, code_notes, grid_title, sample_grid
from harness.parallel import distributed
from harness.parallel.threads import main_process_threads
from harness.training.run_data import RunData
from harness.training.unlabelled import SKIPPED


class Evaluation:
    """Evaluates the method of a run as it stands; every rank calls it, only the main process scores and logs."""

    def __init__(self, cfg: Config, acc: Any, method: Any, ema: Any, data: RunData, quality: QualityEvaluator | None):
        self.cfg, self.acc, self.method, self.ema, self.data, self.quality = cfg, acc, method, ema, data, quality
        self.main = acc.is_main_process
        self.said_unlabelled = False

    def main_work(self) -> Any:
        """The context of work the main process does alone while the other ranks wait: every thread it may use
        (``runtime.eval_threads``)."""
        return main_process_threads(self.cfg, self.acc.num_processes, self.main)

    def __call__(self, step: int, tracker: Any) -> dict[str, float]:
        """Every metric of ``step`` (the main process's; the others return the image scores they helped make)."""
        metrics: dict[str, float] = {}
        net = self.ema.net if self.ema else None
        progress = self.main and self.cfg.log.progress
        if self.acc.num_processes > 1:  # BatchNorm statistics drift apart between DDP forwards: rank 0's, as saved
            distributed.broadcast_buffers(list(self.method.networks().values()) + ([net] if net else []))
        if self.quality:
            metrics.update(self.quality(self.method, net, progress))
        if self.main:
            with self.main_work():
                scores, grid = self._main_scores(net, step, metrics, progress)
            metrics.update(scores)
            tracker.log(step, metrics)
            if grid is not None:
                tracker.log_images(step, "grid", grid)
        return metrics

    def pixel_baseline(self, prefix: str = "baseline/pixels_") -> dict[str, float]:
        """k-means on the raw pixels of the evaluation split (cached once per split; main process)."""
        if not (self.main and self.cfg.eval.pixel_baseline and self.data.manifest.labelled):
            return {}
        with self.main_work():
            data, cfg = self.data, self.cfg
            return pixel_baseline(data.eval_data, data.manifest, cfg, prefix=prefix, progress=cfg.log.progress)

    def _main_scores(self, net: Any, step: int, so_far: dict[str, float], progress: bool) -> tuple[dict, Any]:
        """Clustering scores and the sample grid, titled with ``so_far``'s image scores and the ACC."""
        t, cfg, method, data = time.time(), self.cfg, self.method, self.data
        if not data.manifest.labelled:  # no classes to score clusters against
            if not self.said_unlabelled:
                print(SKIPPED, flush=True)
                self.said_unlabelled = True
            metrics: dict[str, float] = {}
        elif method.scores_pixels:  # k-means on pixels: the cached baseline itself
            metrics = dict(pixel_baseline(data.eval_data, data.manifest, cfg, prefix="eval/", progress=progress))
        else:
            metrics = dict(cluster_eval(method, data.eval_data, method.classes, data.size, cfg, progress))
        metrics["perf/eval_s"] = time.time() - t
        grid = None
        if method.generates:
            classify = self.quality.classifier() if self.quality else None
            title, below = grid_title(cfg, step, {**so_far, **metrics}), f"real ({cfg.eval.split})"
            notes = code_notes(so_far, method.classes)
            grid = sample_grid(method, method.classes, cfg.eval.grid_columns, cfg.seed, net, classify,
                               data.class_names, data.eval_data, title, below, notes)  # fmt: skip
        return metrics, grid
