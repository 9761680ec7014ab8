"""The Trainer: one training function for the command line, Ray Tune trials and the tests.

``train(cfg)`` sets up Accelerate (CPU or GPU, any number of processes), builds the shards on first
use, builds the registered method, resumes from the run folder's latest checkpoint if there is one,
runs the loop (progress bar, logging, evaluation, atomic checkpoints, EMA of G) and returns the
final metrics. Only the main process writes files and logs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object

from harness import checkpoint, encoders, registry
from harness.config import Config, ConfigError, config_hash
from harness.data.build import ensure_built
from harness.data.cards import DataError, load_card
from harness.data.manifest import dataset_location, is_remote, read_manifest, shard_problems
from harness.data.stream import ShardStream, balanced_subset, load_split, make_loader
from harness.data.transforms import to_unit
from harness.ema import EMA
from harness.evaluate.quality_eval import QualityEvaluator
from harness.evaluate.suite import cluster_eval, pixel_baseline, sample_grid
from harness.gan import DataInfo
from harness.progress import bar
from harness.rundir import git_commit, read_summary, run_dir_for, versions, write_config, write_summary
from harness.runtime import StopRequest, make_accelerator, param_digest
from harness.seeding import derive_seed
from harness.track import NullTracker, Tracker

EvalCallback = Callable[[int, dict[str, float], Path | None], None]
POSTFIX = ("d_loss", "g_lc", "e_lc", "g_mi_cat", "e_zc", "img_per_s")  # what the progress bar shows


class Trainer:
    def __init__(
        self,
        cfg: Config,
        run_dir: Path | None = None,
        tracker: Any = None,
        on_eval: EvalCallback | None = None,
        init_from: Path | None = None,
    ):
        self.t0 = time.time()
        if cfg.stage == "pretrain":
            cls = registry.method(cfg.method)
            if not hasattr(cls, "pretrain_stage"):
                raise ConfigError(f"stage=pretrain: method '{cfg.method}' has no pre-training stage")
            cfg = cls.pretrain_stage(cfg)
        self.cfg = cfg
        self.init_from = init_from
        self.artifact = encoders.resolve(cfg, lambda stage: Trainer(stage).fit())  # may pre-train first
        self.acc = make_accelerator(cfg)
        self.main = self.acc.is_main_process
        self.run_dir = Path(run_dir) if run_dir else run_dir_for(cfg)
        self.on_eval = on_eval
        if self.main:
            write_config(self.run_dir, cfg)
        self.tracker = (tracker or Tracker(self.run_dir, cfg)) if self.main else NullTracker()
        self._setup_data()
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.rng = torch.Generator(device=self.acc.device)
        self.rng.manual_seed(derive_seed(cfg.seed, "rank", self.acc.process_index))
        self.info = DataInfo(self.manifest.classes, (self.manifest.shape[0], self.size, self.size))
        self.method = registry.method(cfg.method)(cfg, self.info, self.acc, self.rng)
        use_ema = cfg.train.ema_decay > 0 and self.method.generates
        self.ema = EMA(self.method.generator_net(), cfg.train.ema_decay) if use_ema else None
        self.start = self._resume()
        if self.artifact is not None and self.start == 0:
            self.method.load_encoder(self.artifact["state"])
            if self.main:
                print(f"E_c initialised from {self.artifact['path']}")
        if cfg.codegan.few_labels and hasattr(self.method, "set_labelled"):
            few = balanced_subset(
                self.location, self.manifest, "train", cfg.codegan.few_labels, derive_seed(cfg.seed, "few")
            )
            self.method.set_labelled(
                to_unit(few["image"].to(self.acc.device), self.size), few["label"].to(self.acc.device)
            )
        self.trace: list[int] = []
        self.quality = None
        if self.method.generates and cfg.eval.quality:
            same = cfg.eval.fid_split == cfg.eval.split
            self.quality = QualityEvaluator(
                cfg, self.acc, self.location, self.manifest, self.size, self.eval_data if same else None
            )

    # set-up ----------------------------------------------------------------------------------
    def _setup_data(self) -> None:
        cfg = self.cfg
        card = load_card(cfg.data.dataset)
        if is_remote(cfg.data.root):  # shards served from elsewhere (http, pipe: command); never built here
            self.location = dataset_location(cfg.data.root, card.name)
        else:
            with self.acc.main_process_first():
                self.location = str(ensure_built(cfg.data.dataset, cfg.data.root, progress=self.main))
        self.manifest = read_manifest(self.location)
        self.bad_shards = 0
        if self.main and cfg.data.verify and not is_remote(self.location):
            problems = shard_problems(self.location, self.manifest, ["train", cfg.eval.split])
            if problems and cfg.data.on_error == "stop":
                raise DataError(problems[0] + " (data.on_error=skip reads what it can)")
            for problem in problems:
                print(f"warning: {problem}; reading it sample by sample (data.on_error=skip)")
            self.bad_shards = len(problems)
        self.size = cfg.data.image_size or card.shape[1]
        self.eval_data = None
        if self.main:
            self.eval_data = load_split(self.location, self.manifest, cfg.eval.split, cfg.data.on_error)
            if int(self.eval_data["skipped"]):
                print(f"warning: skipped {int(self.eval_data['skipped'])} bad samples of the {cfg.eval.split} split")

    def _resume(self) -> int:
        """Continue from the run folder's latest checkpoint, else from ``init_from`` (a checkpoint of another
        config: a Tune trial cloned by PBT), else start at step 0."""
        path = checkpoint.latest(self.run_dir / "checkpoints")
        foreign = path is None and self.init_from is not None
        if foreign:
            path = self.init_from
        if path is None:
            return 0
        state = checkpoint.load(path, map_location=self.acc.device)
        if state["config_hash"] != config_hash(self.cfg) and not foreign:
            raise RuntimeError(f"{path} belongs to config {state['config_hash']}, not {config_hash(self.cfg)}")
        step = int(state["step"])
        if step > self.cfg.train.steps:
            raise RuntimeError(f"{path} is at step {step}, past train.steps={self.cfg.train.steps}")
        self.method.load_state_dict(state["method"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.acc.scaler is not None and state.get("scaler"):
            self.acc.scaler.load_state_dict(state["scaler"])
        if len(state["rng"]) == self.acc.num_processes:
            self.rng.set_state(state["rng"][self.acc.process_index].cpu())
        else:  # a different world size cannot replay the same streams; continue with fresh ones
            self.rng.manual_seed(derive_seed(self.cfg.seed, "rank", self.acc.process_index, "resume", step))
            if self.main:
                print(
                    f"resuming with {self.acc.num_processes} processes (checkpoint had {len(state['rng'])}):"
                    " data order and noise continue from fresh seeds"
                )
        self.tracker.truncate(step)
        if self.main:
            print(f"resumed from {path} (step {step})")
        return step

    # checkpoints -----------------------------------------------------------------------------
    def save(self, step: int, best: dict[str, Any] | None = None) -> Path | None:
        """Checkpoint ``step`` (every rank must call it); with ``best``, write it as checkpoints/best.pt."""
        rng_states = gather_object([self.rng.get_state()]) if self.acc.num_processes > 1 else [self.rng.get_state()]
        path = None
        if self.main:
            payload = {
                "step": step,
                "config_hash": config_hash(self.cfg),
                "method": self.method.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None,
                "scaler": self.acc.scaler.state_dict() if self.acc.scaler is not None else None,
                "rng": [s.cpu() for s in rng_states],
                "data": {"batches_consumed": step, "streams": self.cfg.data.streams},
            }
            folder = self.run_dir / "checkpoints"
            if best is None:
                path = checkpoint.save(folder, step, payload, self.cfg.train.keep_checkpoints)
            else:
                path = checkpoint.save_best(folder, {**payload, "best": best})
        self.acc.wait_for_everyone()
        return path

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
        lower = any(f"/{p}_" in key for p in ("fid", "kid"))
        prev = checkpoint.best_info(self.run_dir / "checkpoints")
        if prev is None or (value < prev["value"] if lower else value > prev["value"]):
            self.save(step, best={"metric": key, "value": value, "step": step})

    # evaluation ------------------------------------------------------------------------------
    def evaluate(self, step: int) -> dict[str, float]:
        """Clustering scores (main process), image quality (all ranks), a sample grid; logged; best kept."""
        metrics: dict[str, float] = {}
        net = self.ema.net if self.ema else None
        if self.quality:
            metrics.update(self.quality(self.method, net))
        if self.main:
            t = time.time()
            metrics.update(cluster_eval(self.method, self.eval_data, self.info.classes, self.size, self.cfg))
            metrics["perf/eval_s"] = time.time() - t
            self.tracker.log(step, metrics)
            if self.method.generates:
                grid = sample_grid(self.method, self.info.classes, self.cfg.eval.grid_columns, self.cfg.seed, net)
                self.tracker.log_images(step, "grid", grid)
        if self.cfg.train.best_by and self.method.trains:
            self._keep_best(step, metrics)
        self.acc.wait_for_everyone()
        return metrics

    # the loop --------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        """Train to ``train.steps``, evaluate, write the summary; the W&B run is closed whatever happens
        (a crashed attempt must not hold its run id against the retry)."""
        try:
            return self._fit()
        except BaseException:
            self.tracker.finish(exit_code=1)
            raise

    def _fit(self) -> dict[str, float]:
        cfg = self.cfg
        steps = cfg.train.steps if self.method.trains else 0  # k-means baselines only evaluate
        done_before = read_summary(self.run_dir) if self.start == steps else None
        if done_before and done_before.get("step") == steps:
            if self.main:
                print(f"run {self.run_dir} is already complete at step {steps}")
            if self.on_eval:  # a caller that lost the final report (a resumed Tune trial) gets it again
                self.on_eval(steps, done_before["metrics"], checkpoint.latest(self.run_dir / "checkpoints"))
            self.tracker.finish()
            return done_before["metrics"]
        baseline = {}
        if self.main and cfg.eval.pixel_baseline:
            cache = Path(cfg.log.root) / ".cache" if is_remote(self.location) else Path(self.location) / "cache"
            baseline = pixel_baseline(self.eval_data, self.manifest, cfg, cache)
        rate, train_s, skipped_all = 0.0, 0.0, 0
        if steps > self.start:
            rate, train_s, skipped_all = self._loop(steps)
            self.save(steps)
        metrics = self.evaluate(steps)
        self._write_trace(steps)
        result = {**metrics, **baseline, "perf/img_per_s": rate, "perf/train_s": train_s}
        if cfg.data.on_error == "skip":
            eval_skipped = int(self.eval_data["skipped"]) if self.main else 0
            result.update(
                {"data/skipped": skipped_all, "data/eval_skipped": eval_skipped, "data/bad_shards": self.bad_shards}
            )
        if self.main:
            if hasattr(self.method, "artifact"):
                path = encoders.save_artifact(self.run_dir, self.method.artifact(), cfg, result)
                self.tracker.log_artifact(path, f"encoder-{self.run_dir.name}", "model")
            self._finish(steps, result)
        if self.on_eval:
            self.on_eval(steps, result, checkpoint.latest(self.run_dir / "checkpoints"))
        self.tracker.finish()
        return result

    def _loop(self, steps: int) -> tuple[float, float, int]:
        """Steps ``start+1 .. steps``; returns (images/s at the last log, loop seconds, samples skipped)."""
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
        )
        batches = iter(make_loader(stream, cfg.data.num_workers, pin_memory=acc.device.type == "cuda"))
        stop = StopRequest()
        progress = bar(
            total=steps,
            initial=self.start,
            disable=not (self.main and cfg.log.progress),
            unit="it",
        )
        imgs_per_step = cfg.train.batch_size * acc.num_processes
        t_loop, t_mark, mark = time.time(), time.time(), self.start
        rate, step, skipped, skipped_all = 0.0, self.start, 0, 0
        latest: dict[str, torch.Tensor] = {}
        try:
            for step in range(self.start + 1, steps + 1):
                batch = next(batches)
                skipped += int(batch["skipped"])
                real = to_unit(batch["image"].to(acc.device, non_blocking=True), self.size)
                if cfg.train.lr_decay == "linear":
                    self.method.set_lr_scale(1.0 - (step - 1) / steps)
                latest.update(self.method.train_step(real, step - 1))  # G/E losses persist between G steps
                if self.ema is not None:
                    self.ema.update(self.method.generator_net())
                if cfg.train.trace:
                    self.trace.extend(batch["index"].tolist())
                progress.update(1)
                if step % cfg.train.log_every == 0 or step == steps:
                    now = time.time()
                    rate = (step - mark) * imgs_per_step / max(now - t_mark, 1e-9)
                    t_mark, mark = now, step
                    values = {f"train/{k}": float(v) for k, v in latest.items()}
                    values["perf/img_per_s"] = rate
                    stop_now, skipped_all = self._reduce_flags(stop.requested, skipped)
                    if cfg.data.on_error == "skip":
                        values["data/skipped"] = skipped_all
                    self.tracker.log(step, values)
                    progress.set_postfix(
                        {k.split("/")[-1]: f"{v:.3g}" for k, v in values.items() if k.split("/")[-1] in POSTFIX}
                    )
                    if stop_now:
                        self.save(step)
                        raise KeyboardInterrupt(f"stopped at step {step}; resume with --resume {self.run_dir}")
                if cfg.train.eval_every and step % cfg.train.eval_every == 0 and step != steps:
                    metrics = self.evaluate(step)
                    path = self.save(step) if step % cfg.train.ckpt_every == 0 else None
                    if self.on_eval:
                        self.on_eval(step, metrics, path)
                elif step % cfg.train.ckpt_every == 0 and step != steps:
                    self.save(step)
        finally:
            progress.close()
            stop.restore()
        return rate, time.time() - t_loop, skipped_all

    def _reduce_flags(self, stop: bool, skipped: int) -> tuple[bool, int]:
        """(does any rank ask to stop, training samples skipped on all ranks): one all-reduce per log step."""
        if self.acc.num_processes == 1:
            return stop, skipped
        flags = torch.tensor([float(stop), float(skipped)], device=self.acc.device)
        total = self.acc.reduce(flags, reduction="sum").tolist()
        return total[0] > 0, int(total[1])

    def _write_trace(self, steps: int) -> None:
        if not self.cfg.train.trace:
            return
        out = self.run_dir / "trace" / f"rank{self.acc.process_index}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        nets = {n: self.method.raw(n) for n in self.method.nets}
        out.write_text(json.dumps({"steps": steps, "indices": self.trace, "param_digest": param_digest(nets)}))

    def _finish(self, steps: int, result: dict[str, float]) -> None:
        summary = {
            "run": self.run_dir.name,
            "run_dir": str(self.run_dir),
            "status": "complete",
            "method": self.cfg.method,
            "dataset": self.cfg.data.dataset,
            "seed": self.cfg.seed,
            "step": steps,
            "resumed_from_step": self.start,
            "config_hash": config_hash(self.cfg),
            "wall_time_s": time.time() - self.t0,
            "world_size": self.acc.num_processes,
            "device": str(self.acc.device),
            "mixed_precision": self.acc.mixed_precision,
            "image_size": self.size,
            "eval_split": self.cfg.eval.split,
            "eval_images": int(len(self.eval_data["label"])),
            "metrics": result,
            "best": checkpoint.best_info(self.run_dir / "checkpoints"),
            "versions": versions(),
            "git_commit": git_commit(),
        }
        write_summary(self.run_dir, summary)
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
