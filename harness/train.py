"""The Trainer: one training function for the command line, Ray Tune trials, re-scoring and the tests.

``train(cfg)`` sets up Accelerate (CPU or GPU, any number of processes), locks the run folder, builds
the shards on first use, builds the registered method, resumes from the run folder's latest checkpoint,
runs the loop (progress bar, logging, evaluation, atomic checkpoints, EMA of G, the step guard) and
returns the final metrics. Only the main process writes files and logs; failures on one rank are
agreed by all (:func:`harness.runtime.together`), so no rank is left waiting.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object

from harness import catalogue, checkpoint, distributed, identity_versions, registry
from harness.cadence import Rate, due
from harness.checkpoint import check_checkpoint
from harness.config import Config, ConfigError
from harness.data.remote import Limits
from harness.data.run_data import RunData
from harness.data.stream import ShardStream, balanced_subset, loader_workers, make_loader
from harness.data.transforms import to_unit
from harness.ema import EMA
from harness.errors import NonFiniteError
from harness.evaluate.pixels import pixel_baseline
from harness.evaluate.quality import QualityEvaluator
from harness.evaluate.suite import cluster_eval, grid_title, sample_grid
from harness.gan import DataInfo
from harness.guard import StepGuard, StopRequest, die_with_parent
from harness.identity import eval_settings, launch_settings
from harness.progress import bar
from harness.result_files import eval_tag, keep_earlier_result, result_record, write_eval
from harness.results import lower_is_better
from harness.rundir import read_summary, write_config, write_json, write_summary
from harness.runlock import RunLock
from harness.runtime import all_finite, check_precision, make_accelerator, param_digest, together
from harness.seeding import derive_seed
from harness.threads import main_process_threads
from harness.track import NullTracker, Tracker

EvalCallback = Callable[[int, dict[str, float], Path | None], None]


class Trainer:
    def __init__(
        self,
        cfg: Config,
        run_dir: Path | None = None,
        tracker: Any = None,
        on_eval: EvalCallback | None = None,
        init_from: Path | None = None,
        checkpoint_path: Path | None = None,
        identity: tuple[int, str, str] | None = None,
    ):
        """``checkpoint_path`` and ``identity`` (the run's world size, precision and device type) are for
        re-scoring: load that checkpoint of the run folder ``run_dir`` whatever this launch's process count
        and device."""
        self.t0 = time.time()
        if cfg.stage == "pretrain":
            stage = registry.method(cfg.method).stage_config(cfg)
            if stage is None:
                raise ConfigError(f"stage=pretrain: method '{cfg.method}' has no pre-training stage")
            cfg = stage
        self.cfg, self.init_from, self.on_eval, self.checkpoint_path = cfg, init_from, on_eval, checkpoint_path
        world, precision = launch_settings(cfg)
        check_precision(precision)
        distributed.join(cfg)  # the ranks meet first: a pre-training stage runs on all of them
        # what the method starts from (a pre-trained encoder): it may run a pre-training stage first
        self.artifact = registry.method(cfg.method).start_artifact(cfg, lambda stage: Trainer(stage).fit())
        self.acc = make_accelerator(cfg)
        self.main = self.acc.is_main_process
        launch = (self.acc.num_processes, str(self.acc.mixed_precision), self.acc.device.type)
        self.world, self.precision, self.device_type = identity or launch
        launch = (self.world, self.precision, self.device_type)
        if run_dir is None:  # this launch's folder, or the one an earlier identity version named for it
            self.run_dir, self.run_hash, self.identity_version = distributed.from_rank0(
                lambda: identity_versions.locate(cfg, *launch)
            )
        else:
            self.run_dir = Path(run_dir)
            self.run_hash, self.identity_version = identity_versions.folder_identity(self.run_dir, cfg, *launch)
        die_with_parent()
        self.lock = RunLock(self.run_dir) if self.main else None
        together(self.acc, lambda: self.lock.acquire() if self.lock else None)
        self.external_tracker = tracker
        self.tracker: Any = NullTracker()
        try:
            together(self.acc, self._setup)
        except BaseException:
            self.release()
            raise

    # set-up ----------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        if self.main and self.checkpoint_path is None:  # a re-scoring leaves the run's files as they are
            write_config(self.run_dir, cfg)
        self.data = RunData(cfg, self.acc)
        self.manifest, self.location, self.size = self.data.manifest, self.data.location, self.data.size
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.rng = torch.Generator(device=self.acc.device)
        self.rng.manual_seed(derive_seed(cfg.seed, "rank", self.acc.process_index))
        self.info = DataInfo(self.manifest.classes, (self.manifest.shape[0], self.size, self.size))
        self.method = registry.method(cfg.method)(cfg, self.info, self.acc, self.rng)
        use_ema = cfg.train.ema_decay > 0 and self.method.generates
        self.ema = EMA(self.method.generator_net(), cfg.train.ema_decay) if use_ema else None
        self.resumed_from: Path | None = None
        self.lineage: list[dict[str, Any]] = []  # the foreign checkpoints this run started from
        self.start = self._resume()
        if self.main and self.checkpoint_path is None:  # only once its checkpoint has accepted this launch
            info = {"run_hash": self.run_hash, "identity_version": self.identity_version, "world_size": self.world,
                    "mixed_precision": self.precision, "device": self.device_type}  # fmt: skip
            write_json(self.run_dir / identity_versions.RUN_INFO, info)
        if self.artifact is not None and self.start == 0:
            self.method.load_artifact(self.artifact)
        if self.method.labelled_count():
            few = balanced_subset(
                self.location, self.manifest, "train", self.method.labelled_count(), derive_seed(cfg.seed, "few"),
                Limits.of(cfg.data),
            )  # fmt: skip
            self.method.set_labelled(
                to_unit(few["image"].to(self.acc.device), self.size), few["label"].to(self.acc.device)
            )
        self.trace: list[int] = []
        self.quality = None
        if self.method.generates and cfg.eval.quality:
            same = cfg.eval.fid_split == cfg.eval.split
            with self.main_work():  # the domain classifier and reference statistics, on the main process
                self.quality = QualityEvaluator(
                    cfg, self.acc, self.location, self.manifest, self.size, self.data.eval_data if same else None
                )

    def main_work(self) -> Any:
        """The context of work the main process does alone while the other ranks wait: every thread it may use
        (``runtime.eval_threads``)."""
        return main_process_threads(self.cfg, self.acc.num_processes, self.main)

    def _resume(self) -> int:
        """Continue from the run folder's latest checkpoint, else from ``init_from`` (a checkpoint of another
        config: a Tune trial cloned by PBT), else start at step 0."""
        path, state = self.checkpoint_path, None
        if path is None:  # the newest that loads: a damaged newer one is named and passed over
            path, state = checkpoint.load_latest(self.run_dir / "checkpoints", print if self.main else lambda _: None)
        foreign = path is None and self.init_from is not None
        if foreign:
            path = self.init_from
        if path is None:
            return 0
        if state is None:
            state = checkpoint.load(path, map_location="cpu")  # tensors are moved by load_state_dict
        if not foreign:
            launch = (self.world, self.precision, self.device_type)
            check_checkpoint(path, state, self.run_dir, self.run_hash, launch)
        step = int(state["step"])
        self.lineage = list(state.get("lineage", []))
        if foreign:  # started from another config's weights: part of what this run's results are
            self.lineage.append({"run_hash": state.get("run_hash", state.get("config_hash")), "step": step})
        if step > self.cfg.train.steps and self.checkpoint_path is None:
            raise ConfigError(
                f"{self.run_dir} is at step {step}, past train.steps={self.cfg.train.steps}: raise train.steps to"
                f" continue it, re-score a checkpoint with codegan-eval {path}, or add name=<new name> to train a"
                f" {self.cfg.train.steps}-step run in a folder of its own"
            )
        self.method.load_state_dict(state["method"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.acc.scaler is not None and state.get("scaler"):
            self.acc.scaler.load_state_dict(state["scaler"])
        if self.checkpoint_path is None:  # re-scoring draws nothing from the training streams
            self._restore_rng(path, state.get("rng") or [], step)
        self.resumed_from = path
        return step

    def _restore_rng(self, path: Path, states: list[torch.Tensor], step: int) -> None:
        """This rank's generator state from the checkpoint; where it cannot continue (a checkpoint of another
        world size, or of another device type: a CUDA generator's state is not a CPU one's), fresh streams
        seeded from the seed and the step, said in one line."""
        mine = self.rng.get_state()
        n, rank = self.acc.num_processes, self.acc.process_index
        if len(states) != n:
            why = f"it holds {len(states)} rank state(s), this launch has {n} process(es)"
        elif states[rank].dtype != mine.dtype or states[rank].numel() != mine.numel():
            why = (f"its generator state ({states[rank].numel()} bytes) is not a {self.acc.device.type} generator's"
                   f" ({mine.numel()} bytes): made on another device type")  # fmt: skip
        else:
            self.rng.set_state(states[rank].cpu())
            return
        self.rng.manual_seed(derive_seed(self.cfg.seed, "rank", rank, "resume", step))
        if self.main:
            print(f"{path}: random streams reseeded from seed {self.cfg.seed} and step {step}, not restored ({why})")

    # checkpoints -----------------------------------------------------------------------------
    def save(self, step: int, best: dict[str, Any] | None = None) -> Path | None:
        """Checkpoint ``step`` (every rank must call it); with ``best``, write it as checkpoints/best.pt.
        Weights that are not finite are never written (every rank checks its identical copy)."""
        bad = all_finite(self.method.networks())
        if bad:
            raise NonFiniteError(f"the weights of {bad} are NaN or infinite at step {step}; no checkpoint written")
        rng_states = gather_object([self.rng.get_state()]) if self.acc.num_processes > 1 else [self.rng.get_state()]

        def write() -> Path | None:
            if not self.main:
                return None
            payload = {
                "step": step,
                "run_hash": self.run_hash,
                "lineage": self.lineage,
                "world_size": self.world,
                "mixed_precision": self.precision,
                "device": self.device_type,
                "method": self.method.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.acc.scaler.state_dict() if self.acc.scaler is not None else None,
                "rng": [s.cpu() for s in rng_states],
                "data": {"batches_consumed": step, "streams": self.cfg.data.streams},
            }
            folder = self.run_dir / "checkpoints"
            if best is None:
                return checkpoint.save(folder, step, payload, self.cfg.train.keep_checkpoints)
            return checkpoint.save_best(folder, {**payload, "best": best})

        return together(self.acc, write)

    def _keep_best(self, step: int, metrics: dict[str, float]) -> None:
        """Save checkpoints/best.pt when ``train.best_by`` improved (FID/KID: lower; others: higher)."""
        key = self.cfg.train.best_by
        value = torch.tensor([metrics.get(key, float("nan")) if self.main else 0.0], dtype=torch.float64)
        if self.acc.num_processes > 1:  # every rank must agree before the collective save
            value = self.acc.reduce(value.to(self.acc.device), reduction="sum").cpu()
        value = float(value)
        if math.isnan(value):
            if self.main and step == self.cfg.train.steps:
                print(f"warning: train.best_by={key} was never measured (eval/ keys: {sorted(metrics)})")
            return
        lower = lower_is_better(key)
        prev = checkpoint.best_info(self.run_dir / "checkpoints")
        if prev is None or (value < prev["value"] if lower else value > prev["value"]):
            self.save(step, best={"metric": key, "value": value, "step": step})

    # evaluation ------------------------------------------------------------------------------
    def evaluate(self, step: int, keep_best: bool = True) -> dict[str, float]:
        """Clustering scores (main process), image quality (all ranks), a sample grid; logged; best kept."""
        metrics: dict[str, float] = {}
        net = self.ema.net if self.ema else None
        progress = self.main and self.cfg.log.progress
        if self.acc.num_processes > 1:  # BatchNorm statistics drift apart between DDP forwards: rank 0's, as saved
            distributed.broadcast_buffers(list(self.method.networks().values()) + ([net] if net else []))
        if self.quality:
            metrics.update(self.quality(self.method, net, progress))
        if self.main:
            with self.main_work():
                scores, grid = self._main_evaluation(net, step, metrics, progress)
            metrics.update(scores)
            self.tracker.log(step, metrics)
            if grid is not None:
                self.tracker.log_images(step, "grid", grid)
        if keep_best and self.cfg.train.best_by and self.method.trains:
            self._keep_best(step, metrics)
        self.acc.wait_for_everyone()
        return metrics

    def _main_evaluation(
        self, net: Any, step: int, so_far: dict[str, float], progress: bool
    ) -> tuple[dict[str, float], Any]:
        """Clustering scores and the sample grid, titled with ``so_far``'s image scores and the ACC (main process)."""
        t = time.time()
        data = self.data.eval_data
        if self.method.scores_pixels:  # k-means on pixels: the cached baseline itself
            metrics = dict(pixel_baseline(data, self.manifest, self.cfg, prefix="eval/", progress=progress))
        else:
            metrics = dict(cluster_eval(self.method, data, self.info.classes, self.size, self.cfg, progress))
        metrics["perf/eval_s"] = time.time() - t
        grid = None
        if self.method.generates:
            classify = self.quality.classifier() if self.quality else None
            title, below = grid_title(self.cfg, step, {**so_far, **metrics}), f"real ({self.cfg.eval.split})"
            grid = sample_grid(self.method, self.info.classes, self.cfg.eval.grid_columns, self.cfg.seed, net,
                               classify, self.data.class_names, data, title, below)  # fmt: skip
        return metrics, grid

    # the run ---------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train to ``train.steps``, evaluate, write the summary. The W&B run is closed and the run folder
        unlocked whatever happens (a crashed attempt must not hold either against the retry)."""
        try:
            return self._fit()
        except BaseException:
            self.tracker.finish(exit_code=1)
            raise
        finally:
            self.release()

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def _open_tracker(self, job_type: str = "train", eval_id: str = "") -> None:
        if self.external_tracker is not None:
            self.tracker = self.external_tracker
        elif self.main:
            self.tracker = Tracker(self.run_dir, self.cfg, job_type=job_type, eval_id=eval_id)

    def _fit(self) -> dict[str, float]:
        cfg = self.cfg
        steps = cfg.train.steps if self.method.trains else 0  # k-means baselines only evaluate
        done = read_summary(self.run_dir) if self.start == steps else None
        if done and done.get("status") == "complete" and done.get("step") == steps:
            if done.get("identity", {}).get("eval") in (None, eval_settings(cfg)):
                if self.main:
                    print(f"run {self.run_dir} is already complete at step {steps} (codegan-eval re-scores it)")
                if self.on_eval:  # a caller that lost the final report (a resumed Tune trial) gets it again
                    self.on_eval(steps, done["metrics"], checkpoint.latest(self.run_dir / "checkpoints"))
                return done["metrics"]
            if self.main:
                print(f"run {self.run_dir} is complete at step {steps}; scoring it with the new eval settings")
            return self.rescore()
        if self.main and self.resumed_from is not None:
            print(f"resumed from {self.resumed_from} (step {self.start})")
            keep_earlier_result(self.run_dir)
        self._open_tracker()
        # what an interrupted attempt logged after this start goes; so does its evaluation of the step evaluated again
        # (the final one, or step 0)
        self.tracker.truncate(self.start, drop_eval=self.start in (0, steps))
        if (
            self.start == 0 and cfg.train.eval_at_start and steps > 0
        ):  # the untrained networks, as a curve's first point
            start_metrics = self.evaluate(0, keep_best=False)
            if self.on_eval:
                self.on_eval(0, start_metrics, None)
        baseline = {}
        if self.main and cfg.eval.pixel_baseline:
            with self.main_work():
                baseline = pixel_baseline(self.data.eval_data, self.manifest, cfg, progress=cfg.log.progress)
        rate, train_s, skipped_all = 0.0, 0.0, 0
        if steps > self.start:
            rate, train_s, skipped_all = self._loop(steps)
            self.save(steps)
        metrics = self.evaluate(steps)
        self._write_trace(steps)
        result = {**metrics, **baseline, "perf/img_per_s": rate, "perf/train_s": train_s}
        if cfg.data.on_error == "skip":
            eval_skipped = int(self.data.eval_data["skipped"]) if self.main else 0
            bad = self.data.bad_shards
            result.update({"data/skipped": skipped_all, "data/eval_skipped": eval_skipped, "data/bad_shards": bad})
        if self.main:
            path = self.method.save_artifact(self.run_dir, result)
            if path is not None:
                self.tracker.log_artifact(path, f"encoder-{self.run_dir.name}", "model")
            final = checkpoint.latest(self.run_dir / "checkpoints")
            if cfg.log.checkpoint_artifacts and final is not None:
                self.tracker.log_artifact(final, f"checkpoint-{self.run_dir.name}", "checkpoint")
            self._finish(steps, result)
        if self.on_eval:
            self.on_eval(steps, result, checkpoint.latest(self.run_dir / "checkpoints"))
        self.tracker.finish()
        return result

    def rescore(self, checkpoint_path: Path | None = None) -> dict[str, float]:
        """Evaluate the loaded checkpoint with this config's eval settings into ``eval-<hash>.json`` and a
        W&B run of job type ``eval``; training state and ``summary.json`` are left as they are."""
        step = self.start
        self._open_tracker("eval", eval_tag(eval_settings(self.cfg), step))
        scored = checkpoint_path or self.resumed_from
        if scored is not None:  # the W&B eval run names the checkpoint artifact it scored as its input
            self.tracker.use_checkpoint(Path(scored), f"checkpoint-{self.run_dir.name}")
        metrics = self.evaluate(step, keep_best=False)
        if self.main and self.cfg.eval.pixel_baseline:
            with self.main_work():
                metrics.update(pixel_baseline(self.data.eval_data, self.manifest, self.cfg))
        if self.main:
            record = self._record(step, metrics)
            path = write_eval(self.run_dir, self.cfg, record, str(checkpoint_path or self.resumed_from or ""))
            self.tracker.set_identity(record)
            self.tracker.set_summary(metrics)
            print(f"wrote {path}")
        self.tracker.finish()
        return metrics

    def _loop(self, steps: int) -> tuple[float, float, int]:
        """Steps ``start+1 .. steps``; returns (images/s at the last log, loop seconds, samples skipped)."""
        cfg, acc = self.cfg, self.acc
        batches, stop = self._train_batches(), StopRequest()
        guard = StepGuard(acc, cfg.train.sync_every or (1 if acc.device.type == "cpu" else 25), stop)
        imgs_per_step = cfg.train.batch_size * acc.num_processes
        progress = self._train_bar(steps, imgs_per_step)
        rate_since, t_loop = Rate(self.start, imgs_per_step), time.time()
        rate, skipped, skipped_all, latest = 0.0, 0, 0, {}
        try:
            for step in range(self.start + 1, steps + 1):
                batch = next(batches)
                skipped += int(batch["skipped"])
                latest.update(self._step(batch, step, steps, guard))  # G/E losses persist between G steps
                progress.update(imgs_per_step)
                now = due(cfg.train, step, steps)
                if (guard.due(step) or now.any) and guard.check(step):
                    self.save(step)
                    raise KeyboardInterrupt(f"stopped at step {step}; resume with --resume {self.run_dir}")
                if now.log:
                    rate, skipped_all = rate_since(step), self._sum_skipped(skipped)
                    self._log_train(step, latest, rate, skipped_all, progress)
                if now.eval:
                    metrics = self.evaluate(step)
                    path = self.save(step) if step % cfg.train.ckpt_every == 0 else None
                    if self.on_eval:
                        self.on_eval(step, metrics, path)
                elif now.ckpt:
                    self.save(step)
        finally:
            progress.close()
            stop.restore()
        return rate, time.time() - t_loop, skipped_all

    def _train_batches(self) -> Any:
        """This rank's training batches from ``start`` on (the same order whatever the interruptions)."""
        cfg, acc = self.cfg, self.acc
        stream = ShardStream(
            self.location,
            self.manifest,
            "train",
            cfg.train.batch_size,
            derive_seed(cfg.seed, "data"),
            acc.process_index,
            acc.num_processes,
            cfg.data.streams,
            start_batch=self.start,
            on_error=cfg.data.on_error,
            limits=Limits.of(cfg.data),
        )
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        workers = loader_workers(cfg.data.num_workers, cfg.data.streams, acc.device.type, local)
        return iter(make_loader(stream, workers, pin_memory=acc.device.type == "cuda"))

    def _train_bar(self, steps: int, imgs_per_step: int) -> Any:
        return bar(
            total=steps * imgs_per_step,
            initial=self.start * imgs_per_step,
            disable=not (self.main and self.cfg.log.progress),
            desc=f"train {self.manifest.dataset} {self.cfg.method}",
            unit="img",
            unit_scale=True,
        )

    def _step(self, batch: dict[str, Any], step: int, steps: int, guard: StepGuard) -> dict[str, torch.Tensor]:
        """One training iteration on ``batch`` (``step`` counts from 1); its losses."""
        real = to_unit(batch["image"].to(self.acc.device, non_blocking=True), self.size)
        if self.cfg.train.lr_decay == "linear":
            self.method.set_lr_scale(1.0 - (step - 1) / steps)
        logs = self.method.train_step(real, step - 1)
        guard.watch(step, logs)
        if self.ema is not None:
            self.ema.update(self.method.generator_net())
        if self.cfg.train.trace:
            self.trace.extend(batch["index"].tolist())
        return logs

    def _log_train(self, step: int, latest: dict[str, torch.Tensor], rate: float, skipped: int, progress: Any) -> None:
        """The training losses, the image rate and (skip mode) the samples skipped; the method's losses on the bar."""
        values = {f"train/{k}": float(v) for k, v in latest.items()}
        values["perf/img_per_s"] = rate
        if self.cfg.data.on_error == "skip":
            values["data/skipped"] = skipped
        self.tracker.log(step, values)
        shown = catalogue.entry(self.cfg.method).progress
        progress.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in values.items() if k.split("/")[-1] in shown})

    def _sum_skipped(self, skipped: int) -> int:
        """Training samples skipped on all ranks (one all-reduce per log step)."""
        if self.acc.num_processes == 1:
            return skipped
        total = self.acc.reduce(torch.tensor([float(skipped)], device=self.acc.device), reduction="sum")
        return int(total.item())

    def _write_trace(self, steps: int) -> None:
        if not self.cfg.train.trace:
            return
        out = self.run_dir / "trace" / f"rank{self.acc.process_index}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        nets = self.method.networks()
        out.write_text(json.dumps({"steps": steps, "indices": self.trace, "param_digest": param_digest(nets)}))

    def _record(self, step: int, metrics: dict[str, float]) -> dict[str, Any]:
        splits = ["train", self.cfg.eval.split, *([self.cfg.eval.fid_split] if self.quality else [])]
        launch = (self.world, self.precision, self.device_type)
        return result_record(
            self.cfg, self.run_dir, self.run_hash, launch, self.manifest, splits, step, metrics, self.lineage
        )

    def _finish(self, steps: int, result: dict[str, float]) -> None:
        summary = {
            **self._record(steps, result),
            "status": "complete",
            "resumed_from_step": self.start,
            "wall_time_s": time.time() - self.t0,
            "device": str(self.acc.device),
            "image_size": self.size,
            "eval_split": self.cfg.eval.split,
            "eval_images": int(len(self.data.eval_data["label"])),
            "best": checkpoint.best_info(self.run_dir / "checkpoints"),
        }
        write_summary(self.run_dir, summary)
        self.tracker.set_identity(summary)
        self.tracker.set_summary({k: v for k, v in result.items()})


def train(
    cfg: Config,
    tracker: Any = None,
    run_dir: Path | None = None,
    on_eval: EvalCallback | None = None,
    init_from: Path | None = None,
) -> dict[str, float]:
    """Train ``cfg`` to ``train.steps`` (resuming from its run folder if possible); return final metrics.

    The one training function behind the command line, Ray Tune trials and the tests. ``on_eval(step,
    metrics, checkpoint path or None)`` is called after every evaluation and once more with the final
    metrics; ``init_from`` starts a fresh run folder from a checkpoint of another config.
    """
    return Trainer(cfg, run_dir=run_dir, tracker=tracker, on_eval=on_eval, init_from=init_from).fit()
