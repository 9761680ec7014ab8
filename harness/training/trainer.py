"""The Trainer: one training function for the command line, Ray Tune trials, re-scoring and the tests.

``train(cfg)`` sets up Accelerate (CPU or GPU, any number of processes), locks the run folder, builds the shards on
first use, builds the registered method, resumes (:mod:`harness.runs.resume`), runs the loop of :meth:`Trainer.fit`
(progress bar, logging, evaluation, atomic checkpoints, EMA of G, the step guard) and returns the final metrics.
Only the main process writes files and logs; failures on one rank are agreed by all
(:func:`harness.parallel.accelerator.together`), so no rank is left waiting.
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

from harness.config import Config, ConfigError, registry
from harness.core.errors import NonFiniteError
from harness.core.progress import bar
from harness.core.seeding import derive_seed
from harness.data.remote import Limits
from harness.data.stream import ShardStream, balanced_subset, loader_workers, make_loader
from harness.data.transforms import to_unit
from harness.methods.contract import DataInfo
from harness.metrics.quality import QualityEvaluator
from harness.parallel import distributed
from harness.parallel.accelerator import all_finite, check_precision, make_accelerator, param_digest, together
from harness.parallel.threads import main_process_threads
from harness.runs import checkpoint, identity_versions, start_nets
from harness.runs.folder import read_summary, write_config, write_json, write_summary
from harness.runs.identity import eval_settings, launch_settings
from harness.runs.lock import RunLock
from harness.runs.result_files import eval_tag, keep_earlier_result, result_record, write_eval
from harness.runs.results import lower_is_better
from harness.runs.resume import find_start, restore_rng
from harness.runs.track import NullTracker, Tracker
from harness.training import first_run
from harness.training.cadence import Rate, due
from harness.training.ema import EMA
from harness.training.evaluation import Evaluation
from harness.training.failures import explain
from harness.training.guard import StepGuard, StopRequest, die_with_parent
from harness.training.health import Health, optimizer_state_problem
from harness.training.run_data import RunData
from harness.training.unlabelled import check_method

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
        method_cls = registry.method(cfg.method)
        if cfg.stage == "pretrain":
            stage = method_cls.stage_config(cfg)
            if stage is None:
                raise ConfigError(f"stage=pretrain: method '{cfg.method}' has no pre-training stage")
            cfg, method_cls = stage, registry.method(stage.method)
        self.cfg, self.init_from, self.on_eval, self.checkpoint_path = cfg, init_from, on_eval, checkpoint_path
        check_precision(launch_settings(cfg)[1])
        distributed.join(cfg)  # the ranks meet first: a pre-training stage runs on all of them
        # what the method starts from (a pre-trained encoder): it may run a pre-training stage first
        self.artifact = method_cls.start_artifact(cfg, lambda stage: Trainer(stage).fit())
        self.acc = make_accelerator(cfg)
        self.main = self.acc.is_main_process
        self.launch = identity or (self.acc.num_processes, str(self.acc.mixed_precision), self.acc.device.type)
        self.world, self.precision, self.device_type = self.launch
        if run_dir is None:  # this launch's folder, or the one an earlier identity version named for it
            self.run_dir, self.run_hash, self.identity_version = distributed.from_rank0(
                lambda: identity_versions.locate(cfg, *self.launch)
            )
        else:
            self.run_dir = Path(run_dir)
            self.run_hash, self.identity_version = identity_versions.folder_identity(self.run_dir, cfg, *self.launch)
        die_with_parent()
        self.lock = RunLock(self.run_dir) if self.main else None
        together(self.acc, lambda: self.lock.acquire() if self.lock else None)
        self.external_tracker = tracker
        self.tracker: Any = NullTracker()
        try:
            together(self.acc, lambda: self._setup(method_cls))
        except BaseException:
            self.release()
            raise

    # set-up ----------------------------------------------------------------------------------
    def _setup(self, method_cls: Any) -> None:
        cfg, acc = self.cfg, self.acc
        if self.main and self.checkpoint_path is None:  # a re-scoring leaves the run's files as they are
            write_config(self.run_dir, cfg)
        if self.main and (line := first_run.announcement(cfg)):
            print(line, flush=True)
        self.data = RunData(cfg, acc)
        self.manifest, self.location, self.size = self.data.manifest, self.data.location, self.data.size
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.rng = torch.Generator(device=acc.device)
        self.rng.manual_seed(derive_seed(cfg.seed, "rank", acc.process_index))
        info = DataInfo(self.data.classes, (self.manifest.shape[0], self.size, self.size))
        self.method = method_cls(cfg, info, acc, self.rng)
        use_ema = cfg.train.ema_decay > 0 and self.method.generates
        self.ema = EMA(self.method.generator_net(), cfg.train.ema_decay) if use_ema else None
        self._resume()
        if self.main and self.checkpoint_path is None:  # only once its checkpoint has accepted this launch
            info_json = {"run_hash": self.run_hash, "identity_version": self.identity_version, "world_size": self.world,
                         "mixed_precision": self.precision, "device": self.device_type}  # fmt: skip
            write_json(self.run_dir / identity_versions.RUN_INFO, info_json)
        if self.artifact is not None and self.start == 0:
            self.method.load_artifact(self.artifact)
        if cfg.train.init_from and self.start == 0 and self.checkpoint_path is None:
            entry = start_nets.load_networks(self.method, cfg)
            self.lineage = [*self.lineage, entry]  # part of what the run's results are
            if self.ema is not None:  # the average starts from the loaded generator
                self.ema = EMA(self.method.generator_net(), cfg.train.ema_decay)
            if self.main:
                print(f"networks {', '.join(entry['nets'])} start from {cfg.train.init_from} (step {entry['step']} of"
                      f" run {entry['run_hash']}); their optimizers start fresh")  # fmt: skip
        if not self.manifest.labelled:
            check_method(cfg, self.method.labelled_count())
        if self.method.labelled_count():
            few = balanced_subset(self.location, self.manifest, "train", self.method.labelled_count(),
                                  derive_seed(cfg.seed, "few"), Limits.of(cfg.data))  # fmt: skip
            self.method.set_labelled(to_unit(few["image"].to(acc.device), self.size), few["label"].to(acc.device))
        self.trace: list[int] = []
        self.quality = None
        if self.method.generates and cfg.eval.quality:
            same = cfg.eval.fid_split == cfg.eval.split
            with self.main_work():  # the domain classifier and reference statistics, on the main process
                self.quality = QualityEvaluator(cfg, acc, self.location, self.manifest, self.size,
                                                self.data.eval_data if same else None, self.data.eval_data)  # fmt: skip
        self.evaluation = Evaluation(cfg, acc, self.method, self.ema, self.data, self.quality)
        self.where = f"step {self.start}"  # where the run is, for a failure's one line
        self.health = Health(self.method)

    def main_work(self) -> Any:
        """The context of work the main process does alone while the other ranks wait (every thread it may use)."""
        return main_process_threads(self.cfg, self.acc.num_processes, self.main)

    def _resume(self) -> None:
        """Load where the run starts (:func:`harness.runs.resume.find_start`) into the method, EMA and scaler."""
        warn = print if self.main else (lambda _: None)
        writes = self.main and self.checkpoint_path is None  # a re-scoring leaves the run's files as they are
        start = find_start(self.run_dir, self.run_hash, self.launch, self.cfg.train.steps, self.checkpoint_path,
                           self.init_from, warn, keep_aside=writes)  # fmt: skip
        self.start, self.lineage, self.resumed_from = start.step, start.lineage, start.path
        if start.state is None:
            return
        state = start.state
        self.method.load_state_dict(state["method"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.acc.scaler is not None and state.get("scaler"):
            self.acc.scaler.load_state_dict(state["scaler"])
        if self.checkpoint_path is None:  # re-scoring draws nothing from the training streams
            why = restore_rng(self.rng, state.get("rng") or [], self.acc.process_index, self.acc.num_processes)
            if why is not None:
                self.rng.manual_seed(derive_seed(self.cfg.seed, "rank", self.acc.process_index, "resume", start.step))
                if self.main:
                    print(f"{start.path}: random streams reseeded from seed {self.cfg.seed} and step {start.step},"
                          f" not restored ({why})")  # fmt: skip

    # the run ---------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train to ``train.steps``, evaluate, write the summary. The W&B run is closed and the run folder
        unlocked whatever happens (a crashed attempt must not hold either against the retry)."""
        try:
            return self._fit()
        except BaseException as exc:
            self.tracker.finish(exit_code=1)
            timeout = self.cfg.runtime.dist_timeout_s
            explained = explain(exc, self.acc.process_index, self.where, self.run_dir, timeout)
            if explained is not None:  # another rank gone or silent, memory run out: one line naming it
                raise explained from exc
            raise
        finally:
            self.release()

    def _fit(self) -> dict[str, float]:
        """The training loop, top to bottom."""
        cfg, acc = self.cfg, self.acc
        steps = cfg.train.steps if self.method.trains else 0  # k-means baselines only evaluate

        # Done already? A complete run is reported again, or re-scored with new evaluation settings.
        if self.start == steps and self._complete(steps):
            return self._report_complete(steps)

        # Start: the tracker, what an interrupted attempt logged after this start dropped, step 0 evaluated.
        if self.main and self.resumed_from is not None:
            print(f"resumed from {self.resumed_from} (step {self.start})")
            keep_earlier_result(self.run_dir)
        self._open_tracker()
        self.tracker.truncate(self.start, drop_eval=self.start in (0, steps))
        if self.start == 0 and cfg.train.eval_at_start and steps > 0:  # the untrained networks: a curve's first point
            self._report(0, self.evaluate(0, keep_best=False), None)
        baseline = self.evaluation.pixel_baseline()

        # Train: one real batch per step; losses watched on the device, checked every sync_every steps.
        rate, train_s, skipped_all = 0.0, 0.0, 0
        if steps > self.start:
            batches, stop = self._train_batches(), StopRequest()
            guard = StepGuard(acc, cfg.train.sync_every or (1 if acc.device.type == "cpu" else 25), stop)
            imgs_per_step = cfg.train.batch_size * acc.num_processes
            progress, rate_since = self._train_bar(steps, imgs_per_step), Rate(self.start, imgs_per_step)
            skipped, latest, t_loop = 0, {}, time.time()
            try:
                for step in range(self.start + 1, steps + 1):
                    self.where = f"step {step}"
                    batch = next(batches)
                    skipped += int(batch["skipped"])
                    latest.update(self._step(batch, step, steps, guard))  # G/E losses persist between G steps
                    progress.update(imgs_per_step)
                    now = due(cfg.train, step, steps)
                    health = self.health if now.any else None  # at log, evaluation and checkpoint steps
                    if (guard.due(step) or now.any) and guard.check(step, health):  # a stop request: checkpoint, stop
                        self.save(step)
                        raise KeyboardInterrupt(f"stopped at step {step}; resume with --resume {self.run_dir}")
                    if now.log:
                        rate, skipped_all = rate_since(step), self._sum_skipped(skipped)
                        self._log_train(step, latest, rate, skipped_all, progress)
                    if now.eval:
                        metrics = self.evaluate(step)
                        self._report(step, metrics, self.save(step) if step % cfg.train.ckpt_every == 0 else None)
                    elif now.ckpt:
                        self.save(step)
            finally:
                progress.close()
                stop.restore()
            train_s = time.time() - t_loop
            self.save(steps)

        # Evaluate the last step and finish: summary, artifacts, W&B.
        result = {**self.evaluate(steps), **baseline, "perf/img_per_s": rate, "perf/train_s": train_s}
        self._write_trace(steps)
        if cfg.data.on_error == "skip":
            eval_skipped = int(self.data.eval_data["skipped"]) if self.main else 0
            result.update({"data/skipped": skipped_all, "data/eval_skipped": eval_skipped,
                           "data/bad_shards": self.data.bad_shards})  # fmt: skip
        if self.main:
            self._finish(steps, result)
        self._report(steps, result, checkpoint.latest(self.run_dir / "checkpoints"))
        self.tracker.finish()
        return result

    # the loop's parts ------------------------------------------------------------------------------
    def _complete(self, steps: int) -> bool:
        done = read_summary(self.run_dir)
        return bool(done and done.get("status") == "complete" and done.get("step") == steps)

    def _report_complete(self, steps: int) -> dict[str, float]:
        """A complete run asked for again: its result (the same evaluation settings), or a re-scoring."""
        done = read_summary(self.run_dir) or {}
        if done.get("identity", {}).get("eval") in (None, eval_settings(self.cfg)):
            if self.main:
                print(f"run {self.run_dir} is already complete at step {steps} (codegan-eval re-scores it)")
            # a caller that lost the final report (a resumed Tune trial) gets it again
            self._report(steps, done["metrics"], checkpoint.latest(self.run_dir / "checkpoints"))
            return done["metrics"]
        if self.main:
            print(f"run {self.run_dir} is complete at step {steps}; scoring it with the new eval settings")
        return self.rescore()

    def _report(self, step: int, metrics: dict[str, float], path: Path | None) -> None:
        if self.on_eval:
            self.on_eval(step, metrics, path)

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

    def _train_batches(self) -> Any:
        """This rank's training batches from ``start`` on (the same order whatever the interruptions)."""
        cfg, acc = self.cfg, self.acc
        stream = ShardStream(self.location, self.manifest, "train", cfg.train.batch_size, derive_seed(cfg.seed, "data"),
                             acc.process_index, acc.num_processes, cfg.data.streams, start_batch=self.start,
                             on_error=cfg.data.on_error, limits=Limits.of(cfg.data))  # fmt: skip
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
        workers = loader_workers(cfg.data.num_workers, cfg.data.streams, acc.device.type, local)
        return iter(make_loader(stream, workers, pin_memory=acc.device.type == "cuda"))

    def _train_bar(self, steps: int, imgs_per_step: int) -> Any:
        return bar(total=steps * imgs_per_step, initial=self.start * imgs_per_step, unit="img", unit_scale=True,
                   disable=not (self.main and self.cfg.log.progress),
                   desc=f"train {self.manifest.dataset} {self.cfg.method}")  # fmt: skip

    def _log_train(self, step: int, latest: dict[str, torch.Tensor], rate: float, skipped: int, progress: Any) -> None:
        """The training losses, the image rate and (skip mode) the samples skipped; the method's losses on the bar."""
        values = {f"train/{k}": float(v) for k, v in latest.items()}
        values["perf/img_per_s"] = rate
        if self.cfg.data.on_error == "skip":
            values["data/skipped"] = skipped
        self.tracker.log(step, values)
        shown = registry.entry(self.cfg.method).progress
        progress.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in values.items() if k.split("/")[-1] in shown})

    def _sum_skipped(self, skipped: int) -> int:
        """Training samples skipped on all ranks (one all-reduce per log step)."""
        if self.acc.num_processes == 1:
            return skipped
        total = self.acc.reduce(torch.tensor([float(skipped)], device=self.acc.device), reduction="sum")
        return int(total.item())

    # evaluation ------------------------------------------------------------------------------
    def evaluate(self, step: int, keep_best: bool = True) -> dict[str, float]:
        """Every metric of ``step`` (:class:`harness.training.evaluation.Evaluation`), logged; the best kept."""
        self.where = f"the evaluation of step {step}"
        metrics = self.evaluation(step, self.tracker)
        if keep_best and self.cfg.train.best_by and self.method.trains:
            self._keep_best(step, metrics)
        self.acc.wait_for_everyone()
        return metrics

    def rescore(self, checkpoint_path: Path | None = None) -> dict[str, float]:
        """Evaluate the loaded checkpoint with this config's eval settings into ``eval-<hash>.json`` and a
        W&B run of job type ``eval``; training state and ``summary.json`` are left as they are."""
        step = self.start
        self._open_tracker("eval", eval_tag(eval_settings(self.cfg), step))
        scored = checkpoint_path or self.resumed_from
        if scored is not None:  # the W&B eval run names the checkpoint artifact it scored as its input
            self.tracker.use_checkpoint(Path(scored), f"checkpoint-{self.run_dir.name}")
        metrics = {**self.evaluate(step, keep_best=False), **self.evaluation.pixel_baseline()}
        if self.main:
            record = self._record(step, metrics)
            path = write_eval(self.run_dir, self.cfg, record, str(checkpoint_path or self.resumed_from or ""))
            self.tracker.set_identity(record)
            self.tracker.set_summary(metrics)
            print(f"wrote {path}")
        self.tracker.finish()
        return metrics

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

    # checkpoints and files ---------------------------------------------------------------------
    def save(self, step: int, best: dict[str, Any] | None = None) -> Path | None:
        """Checkpoint ``step`` (every rank must call it); with ``best``, write it as checkpoints/best.pt.
        Weights that are not finite are never written (every rank checks its identical copy)."""
        bad = all_finite(self.method.networks())
        if bad:
            raise NonFiniteError(f"the weights of {bad} are NaN or infinite at step {step}; no checkpoint written")
        state = optimizer_state_problem(self.method.optimizers())
        if state:
            raise NonFiniteError(f"the optimizer state of {state} is NaN or infinite at step {step}; no checkpoint"
                                 " written (a loss weight or learning rate too large for the precision)")  # fmt: skip
        rng_states = gather_object([self.rng.get_state()]) if self.acc.num_processes > 1 else [self.rng.get_state()]

        def write() -> Path | None:
            if not self.main:
                return None
            payload = {
                "step": step, "run_hash": self.run_hash, "lineage": self.lineage, "world_size": self.world,
                "mixed_precision": self.precision, "device": self.device_type, "method": self.method.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.acc.scaler.state_dict() if self.acc.scaler is not None else None,
                "rng": [s.cpu() for s in rng_states],
                "data": {"batches_consumed": step, "streams": self.cfg.data.streams},
            }  # fmt: skip
            folder = self.run_dir / "checkpoints"
            if best is None:
                return checkpoint.save(folder, step, payload, self.cfg.train.keep_checkpoints)
            return checkpoint.save_best(folder, {**payload, "best": best})

        return together(self.acc, write)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def _open_tracker(self, job_type: str = "train", eval_id: str = "") -> None:
        if self.external_tracker is not None:
            self.tracker = self.external_tracker
        elif self.main:
            self.tracker = Tracker(self.run_dir, self.cfg, job_type=job_type, eval_id=eval_id)

    def _write_trace(self, steps: int) -> None:
        if not self.cfg.train.trace:
            return
        out = self.run_dir / "trace" / f"rank{self.acc.process_index}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        nets = self.method.networks()
        out.write_text(json.dumps({"steps": steps, "indices": self.trace, "param_digest": param_digest(nets)}))

    def _record(self, step: int, metrics: dict[str, float]) -> dict[str, Any]:
        splits = ["train", self.cfg.eval.split, *([self.cfg.eval.fid_split] if self.quality else [])]
        extractors = self.quality.identities() if self.quality else None
        return result_record(self.cfg, self.run_dir, self.run_hash, self.launch, self.manifest, splits, step, metrics,
                             self.lineage, extractors)  # fmt: skip

    def _finish(self, steps: int, result: dict[str, float]) -> None:
        """The main process's end of a run: its artifacts (W&B too), then ``summary.json`` marking it complete."""
        path = self.method.save_artifact(self.run_dir, result)
        if path is not None:
            self.tracker.log_artifact(path, f"encoder-{self.run_dir.name}", "model")
        final = checkpoint.latest(self.run_dir / "checkpoints")
        if self.cfg.log.checkpoint_artifacts and final is not None:
            self.tracker.log_artifact(final, f"checkpoint-{self.run_dir.name}", "checkpoint")
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
        self.tracker.set_summary(dict(result))


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
