"""Typed run configuration: dataclass schema, YAML loading, dotted overrides and validation.

Every key a run understands is a field below; its ``help`` metadata is what ``--help`` prints.
Unknown keys, wrong types and impossible values raise :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import math
import os
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import MAX_YAML_BYTES, ConfigError

ADAM_IMPLS = ("default", "foreach", "fused")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def opt(
    default: Any,
    help: str,  # noqa: A002 - mirrors argparse's name
    *,
    choices: tuple[str, ...] = (),
    gt: float | None = None,
    ge: float | None = None,
) -> Any:
    """A dataclass field with a default, a help text and its bounds: one of ``choices``, ``> gt``, ``>= ge``
    (checked by :func:`validate`; lists get a default factory)."""
    meta = {"help": help, "choices": tuple(choices), "gt": gt, "ge": ge}
    if isinstance(default, list):
        return field(default_factory=lambda d=default: list(d), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    dataset: str = opt("digits", "dataset card name (datasets/cards/<name>.yaml) or path to a card YAML")
    root: str = opt(
        "",
        "where <dataset>/ shards live: a folder (empty = $CODEGAN_DATA, else datasets/ of a checkout or the"
        " cache's data/ when installed), an http(s) URL prefix,"
        " or pipe:CMD with {} standing for the file path",
    )
    train_urls: list[str] = opt(
        [],
        "training shards not built here, as webdataset URLs: brace patterns (/d/train-{000000..000011}.tar),"
        " several items or '::'-joined lists, http(s):// or pipe:CMD; scanned once (counts, classes, shape)",
    )
    eval_urls: list[str] = opt([], "held-out shards not built here (the eval.split=test of train_urls), as above")
    image_size: int = opt(0, "resize images on the device to this size; 0 = the card's native size", ge=0)
    num_workers: int = opt(
        -1,
        "DataLoader worker processes per rank; must divide data.streams. -1 = auto: none on a CPU (the step needs"
        " its cores), on a GPU the largest divisor of data.streams that leaves a core per local rank (decoding"
        " then runs beside the step, not in series with it)",
        ge=-1,
    )
    streams: int = opt(4, "independent shard streams per rank; fixes the sample order whatever num_workers is", gt=0)
    verify: bool = opt(True, "check each local shard's sha256 against the manifest before training")
    on_error: str = opt(
        "stop", "bad shard or sample: stop (error naming it) | skip (skip, count and log it)", choices=("stop", "skip")
    )
    remote_timeout_s: float = opt(
        30.0,
        "a remote read (http(s), pipe:, ...) fails when it cannot connect within this, or when a window of"
        " this many seconds brings fewer than data.remote_min_bytes_per_s",
        gt=0,
    )
    remote_min_bytes_per_s: float = opt(1024.0, "the low-speed limit of remote reads (see data.remote_timeout_s)", gt=0)


@dataclass
class ModelConfig:
    arch: str = opt("dcgan", "network family for G, D and E: dcgan (28x28-style) | resnet (SNGAN-style, 32x32)")
    zn_dim: int = opt(30, "dimension of the continuous noise z_n", gt=0)
    g_width: int = opt(64, "base channel width of G's last conv (doubled once towards the input)", gt=0)
    d_width: int = opt(64, "base channel width of D", gt=0)
    e_width: int = opt(64, "base channel width of the encoder", gt=0)
    hidden: int = opt(1024, "width of the fully connected layers of G, D and E (and of E_c's projection head)", gt=0)
    spectral_norm: bool = opt(True, "spectral normalisation of D's layers (resnet family)")
    init: str = opt(
        "default",
        "weight initialisation of every network: default (PyTorch's) | normal02 (Conv, ConvTranspose and Linear"
        " weights ~ N(0, 0.02), biases 0, BatchNorm left as is: the reference code's 28x28 networks)",
        choices=("default", "normal02"),
    )


@dataclass
class TrainConfig:
    steps: int = opt(2000, "training iterations (one real batch, one D update each)", gt=0)
    batch_size: int = opt(64, "real images per D update per rank (the reference code's d_bs)", gt=0)
    g_batch_size: int = opt(64, "generated images per G update per rank (g_bs)", gt=0)
    critic: int = opt(1, "D updates per G update: G (and E) update when step % critic == 0", gt=0)
    lr_g: float = opt(1e-4, "Adam learning rate of G", gt=0)
    lr_d: float = opt(1e-4, "Adam learning rate of D", gt=0)
    lr_e: float = opt(1e-4, "Adam learning rate of the encoder(s)", gt=0)
    betas: list[float] = opt([0.5, 0.9], "Adam betas for every optimizer")
    weight_decay: float = opt(2.5e-5, "Adam weight decay of G and the encoder (the reference 28x28 value)", ge=0)
    gan_loss: str = opt(
        "wgan-gp",
        "adversarial loss: wgan-gp | hinge | bce (non-saturating, the original GAN/InfoGAN)",
        choices=("wgan-gp", "hinge", "bce"),
    )
    gp_weight: float = opt(10.0, "WGAN-GP gradient-penalty weight (computed in fp32)", ge=0)
    lr_decay: str = opt(
        "none",
        "learning-rate schedule of every optimizer: none | linear (to 0 at train.steps)",
        choices=("none", "linear"),
    )
    ema_decay: float = opt(0.0, "EMA decay of G's weights used for sampling; 0 = off")
    mixed_precision: str = opt(
        "auto", "auto (from accelerate launch) | no | fp16 | bf16", choices=("auto", "no", "fp16", "bf16")
    )
    optimizer_impl: str = opt(
        "fused",
        "Adam implementation (same update): default (PyTorch's: a loop over tensors on CPU, foreach on CUDA) | foreach"
        " | fused (one kernel; the default: it measured fastest, scripts/bench.py)",
        choices=ADAM_IMPLS,
    )
    channels_last: bool = opt(
        True,
        "convolution weights and activations in channels-last memory layout (on by default: the step measured faster"
        " with it on CPU, scripts/bench.py)",
    )
    gemm_conv_transpose: bool = opt(
        True,
        "on CPU, transposed convolutions with at most 4 output channels (G's last layer) as one matmul and a fold"
        " instead of oneDNN's kernel (on by default: measured faster, scripts/bench.py); ignored elsewhere",
    )
    compile: str = opt(
        "none",
        "torch.compile of each network's forward and backward: none | default | reduce-overhead (CUDA graphs; on CPU"
        " as default) | max-autotune (on CPU without CUDA graphs) | max-autotune-no-cudagraphs; the gradient"
        " penalty's double backward stays eager. Off by default: no faster on CPU, and compiling takes a minute",
        choices=COMPILE_MODES,
    )
    tf32: bool = opt(
        False,
        "TF32 matmuls and cuDNN convolutions on Ampere and later GPUs (faster, 10-bit mantissa; changes results);"
        " false = strict fp32. Ignored on CPU",
    )
    deterministic: bool = opt(
        False,
        "bit-identical results on CUDA (resume, two launches of one config): deterministic algorithms only, cuDNN"
        " autotuning off, cuBLAS's fixed workspace, L_c's continuous crop as matrix products instead of grid_sample"
        " (whose CUDA backward has no deterministic form); slower on GPUs (docs/gpu.md). CPU runs are"
        " bit-identical without it",
    )
    log_every: int = opt(50, "steps between loss logs", gt=0)
    eval_every: int = opt(0, "steps between evaluations; 0 = only at the end", ge=0)
    eval_at_start: bool = opt(
        False, "also evaluate the untrained networks (step 0): whether training helped at all, on every curve"
    )
    ckpt_every: int = opt(500, "steps between checkpoints; the final step is always saved", gt=0)
    sync_every: int = opt(
        0,
        "steps between the all-rank checks for stop requests and non-finite losses (one small all-reduce);"
        " 0 = every step on CPU, every 25 steps on GPU (a check is also made at every log, eval and checkpoint)",
        ge=0,
    )
    keep_checkpoints: int = opt(2, "how many recent checkpoints to keep", gt=0)
    best_by: str = opt("", "keep checkpoints/best.pt by this metric (eval/fid_*, eval/kid_*: lowest; else highest)")
    trace: bool = opt(False, "debug: every rank writes the sample keys it read and a weight digest")


@dataclass
class CoDeGANConfig:
    beta_c: float = opt(100.0, "weight of the contrastive class term L_c in G's loss (reference beta_1)", ge=0)
    beta_z: float = opt(5e-4, "weight of the noise-reconstruction term L_z (reference beta_2)", ge=0)
    tau: float = opt(0.07, "SupCon temperature", gt=0)
    base_tau: float = opt(
        0.07, "SupCon base temperature (the loss is scaled by tau / base_tau); 0 = follow tau (no rescaling)", ge=0
    )
    fc_dim: int = opt(120, "dimension of E_c's L2-normalised class feature", gt=0)
    e_batch_size: int = opt(300, "generated images per encoder update per rank (E_c's when encoders=separate)", gt=0)
    ez_batch_size: int = opt(0, "generated images per E_z update when encoders=separate; 0 = e_batch_size", ge=0)
    encoders: str = opt(
        "shared",
        "shared (one trunk, E_c and E_z heads: 28x28) | separate (E_c and E_z nets: 32x32)",
        choices=("shared", "separate"),
    )
    augment: str = opt(
        "crop",
        "L_c's second view: crop (RandomResizedCrop) | color (+ flip, colour jitter, grey)",
        choices=("crop", "color"),
    )
    chain_step: str = opt(
        "auto",
        "iteration from which E_c is updated (before it a pre-trained E_c stays frozen; E_z of separate encoders"
        " always trains): an integer, or auto = a third of train.steps when codegan.pretrain is not none (the"
        " reference: 200 of 600 epochs), else 0. auto is fixed at a run's first launch and kept in its checkpoints",
    )
    crop_scale: list[float] = opt([0.8, 1.0], "area range of the RandomResizedCrop that makes L_c's second view")
    crop_per_sample: bool = opt(True, "draw a crop per image (false = one crop per batch, as the reference code)")
    crop_mode: str = opt(
        "continuous",
        "crop boxes of the second view: continuous (real-valued boxes, shrunk to fit, bilinear grid_sample) |"
        " integer (torchvision's RandomResizedCrop: integer boxes, 10 tries then the centre crop, bilinear resize)",
        choices=("continuous", "integer"),
    )
    color_per_sample: bool = opt(
        True,
        "augment=color: draw the flip, colour jitter and greyscale per image (false = once per batch, as the"
        " reference code's transform applied to a 4-D batch)",
    )
    detach_view: bool = opt(
        False,
        "true: L_c reaches G only through the original view, the augmented view is made from a detached copy (the"
        " reference on MNIST, Fashion-MNIST and CIFAR-10's unsupervised run); false: through both views",
    )
    pretrain: str = opt(
        "none", "E_c initialisation: none | simclr (cached artifact, else pre-train first) | path to encoder.pt"
    )
    few_labels: int = opt(
        0, "class-balanced labelled real images joining L_c's batch with their labels; 0 = none", ge=0
    )


@dataclass
class PretrainConfig:
    steps: int = opt(3000, "SimCLR pre-training steps of E_c (stage=pretrain, or codegan.pretrain=simclr)", gt=0)
    batch_size: int = opt(256, "real images per SimCLR step per rank (two views each)", gt=0)
    lr: float = opt(1e-3, "Adam learning rate of the pre-training", gt=0)
    weight_decay: float = opt(1e-6, "Adam weight decay of the pre-training", ge=0)
    tau: float = opt(0.5, "NT-Xent temperature", gt=0)
    crop_scale: list[float] = opt([0.3, 1.0], "area range of the views' RandomResizedCrop")
    flip: bool = opt(True, "random horizontal flips in the views")
    seed: int = opt(0, "seed of the pre-training run (one encoder serves every CoDeGAN seed, as in the paper)", ge=0)


@dataclass
class BaselinesConfig:
    lambda_mi: float = opt(
        1.0, "InfoGAN: weight of the categorical MI term, CE of Q's logits vs the code (paper: 1)", ge=0
    )
    cont_dim: int = opt(0, "InfoGAN: continuous codes, uniform in [-1, 1] (paper, MNIST: 2); 0 = none", ge=0)
    lambda_cont: float = opt(0.1, "InfoGAN: weight of the continuous codes' Gaussian NLL (paper: 0.1-1)", ge=0)
    mi_trains_d_trunk: bool = opt(
        True, "InfoGAN: true = the MI term also trains D's trunk (original); false = G and Q head only (StudioGAN)"
    )
    q_hidden: int = opt(128, "InfoGAN: hidden units of the Q head on D's trunk features", gt=0)
    cluster_beta_n: float = opt(10.0, "ClusterGAN: weight of the z_n MSE term (Mukherjee et al.: 10)", ge=0)
    cluster_beta_c: float = opt(10.0, "ClusterGAN: weight of the z_c cross-entropy term (Mukherjee et al.: 10)", ge=0)
    cluster_sigma_n: float = opt(0.1, "ClusterGAN: standard deviation of z_n (Mukherjee et al.: 0.1)", gt=0)
    cr_weight: float = opt(
        1.0, "InfoGAN-CR: weight of the contrastive regulariser in G's loss once it is on (Lin et al.: 1-3)", ge=0
    )
    cr_start: float = opt(
        0.89,
        "InfoGAN-CR: the regulariser (CR head updates and G's term) starts after this fraction of train.steps"
        " (Lin et al. switch it on after ~89% of training); fixed at a run's first launch, kept in its checkpoints",
    )
    cr_gap: float = opt(
        0.0,
        "InfoGAN-CR: in a pair, continuous codes that are not shared differ by at least this much (in [0, 2)) and"
        " a class code that is not shared differs whenever it is > 0; 0 = drawn independently (Lin et al.'s dSprites)",
    )
    cr_lr: float = opt(
        0.0, "InfoGAN-CR: Adam learning rate of the CR head (betas 0.5, 0.999); 0 = train.lr_d (as Lin et al.)", ge=0
    )


@dataclass
class EvalConfig:
    split: str = opt("test", "real split whose class features are clustered", choices=("train", "test"))
    kmeans_seeds: int = opt(5, "k-means repeats, each with its own derived seed; metrics are mean and std", gt=0)
    kmeans_n_init: int = opt(10, "k-means n_init (explicit: scikit-learn's default changed in 1.4)", gt=0)
    batch_size: int = opt(500, "images per forward pass during evaluation", gt=0)
    grid_columns: int = opt(10, "sample-grid columns (different z); rows are class codes", gt=0)
    pixel_baseline: bool = opt(True, "also score k-means on raw pixels of the same split (once per split; cached)")
    pixel_pca: int = opt(
        50, "the pixel baseline's k-means runs on this many principal components; 0 = all pixels", ge=0
    )
    quality: list[str] = opt(
        ["domain"], "image-quality extractors (FID, KID; IS from logits): domain | inception; [] = none"
    )
    fid_samples: int = opt(10000, "generated images per FID/KID/IS evaluation (the paper: 50,000 on CIFAR-10)", gt=0)
    fid_split: str = opt("train", "real split of the FID/KID reference statistics", choices=("train", "test"))
    inception_weights: str = opt("", "local inception-2015-12-05.pt for offline machines; empty = download once")


@dataclass
class LogConfig:
    root: str = opt("runs", "folder holding run folders")
    wandb: str = opt("offline", "W&B mode: offline | online | disabled", choices=("offline", "online", "disabled"))
    project: str = opt("codegan-bench", "W&B project")
    group: str = opt("", "W&B group (sweeps set it)")
    run_name: str = opt("", "W&B run name; empty = '<method> <dataset> seed <seed>' (sweeps add the swept values)")
    tags: list[str] = opt([], "extra W&B tags (method and dataset are always tags; sweeps add the swept values)")
    checkpoint_artifacts: bool = opt(False, "also log the final checkpoint as a W&B artifact (encoders always are)")
    progress: bool = opt(True, "show a progress bar")


@dataclass
class RuntimeConfig:
    """How the processes of a run meet and wait: nothing here changes what a run computes."""

    rendezvous_timeout_s: float = opt(
        60.0,
        "a launch of several processes (WORLD_SIZE > 1) fails with one line when its ranks have not all met within"
        " this (a WORLD_SIZE, RANK, MASTER_ADDR or MASTER_PORT left in the environment, a rank that never started)",
        gt=0,
    )
    dist_timeout_s: float = opt(
        1800.0,
        "how long a rank waits in a collective (gloo or NCCL) for the others, e.g. while the main process alone"
        " trains the domain classifier or computes reference statistics, before the run fails",
        gt=0,
    )
    eval_threads: int = opt(
        0,
        "CPU threads of the main process's evaluation work (k-means, PCA, FID/KID statistics, the domain"
        " classifier, reference statistics) while the other ranks wait (accelerate launch sets OMP_NUM_THREADS=1);"
        " 0 = with several processes, every CPU this process may run on but one per other rank on the machine,"
        " with one process, as it is",
        ge=0,
    )


@dataclass
class Config:
    name: str = opt("codegan-digits", "run name; the run folder is <log.root>/<name>-<run hash>")
    method: str = opt(
        "codegan",
        "method name: codegan | infogan | infogan-cr | clustergan | pixels-kmeans | simclr, or a plugin's"
        " (codegan-run --list-methods)",
    )
    stage: str = opt(
        "train", "train | pretrain (SimCLR pre-training of this preset's E_c, then stop)", choices=("train", "pretrain")
    )
    seed: int = opt(0, "master seed; rank, worker and k-means seeds derive from it", ge=0)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    codegan: CoDeGANConfig = field(default_factory=CoDeGANConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        for name, section in plugin_sections().items():  # the sections plugin methods bring
            setattr(self, name, section())


def plugin_sections() -> dict[str, type]:
    """name -> dataclass of the config sections plugin methods add (:mod:`harness.catalogue`)."""
    from harness.catalogue import sections

    return sections()


# the sections every method reads: what is trained on, with which networks and which schedule
SHARED_SECTIONS = ("data.", "model.", "train.")


# Keys that do not change what a run computes: excluded from the run hash, changeable on resume.
SCHEDULE_KEYS = frozenset(
    {
        "name",
        "train.steps",
        "train.log_every",
        "train.eval_every",
        "train.eval_at_start",
        "train.ckpt_every",
        "train.sync_every",
        "train.keep_checkpoints",
        "train.trace",
        "train.best_by",
        "train.optimizer_impl",
        "train.channels_last",
        "train.gemm_conv_transpose",
        "train.compile",
        "data.root",
        "data.train_urls",
        "data.eval_urls",
        "data.num_workers",
        "data.verify",
        "data.on_error",
        "data.remote_timeout_s",
        "data.remote_min_bytes_per_s",
    }
)


def _fields(obj_type: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj_type)}


def _resolved_types(obj_type: type) -> dict[str, Any]:
    return typing.get_type_hints(obj_type)


def _leaves(cfg_type: type, prefix: str = "") -> Iterator[tuple[str, Any, Any, dataclasses.Field]]:
    """(dotted key, type, default, field) of every leaf of ``cfg_type``, plugin sections included at the top."""
    hints = _resolved_types(cfg_type)
    default = cfg_type()
    for name, f in _fields(cfg_type).items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            yield from _leaves(tp, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", tp, getattr(default, name), f
    if cfg_type is Config and not prefix:
        for name, section in plugin_sections().items():
            yield from _leaves(section, name + ".")


def all_keys(cfg_type: type = Config, prefix: str = "") -> dict[str, tuple[Any, Any, str]]:
    """Every dotted leaf key -> (type, default, help)."""
    return {key: (tp, default, f.metadata.get("help", "")) for key, tp, default, f in _leaves(cfg_type, prefix)}


def bounds() -> dict[str, dict[str, Any]]:
    """Every bounded key -> its bounds (``choices``, ``gt``, ``ge``), as its field declares them."""
    out = {}
    for key, _, _, f in _leaves(Config):
        b = {k: f.metadata.get(k) for k in ("choices", "gt", "ge") if f.metadata.get(k) not in (None, ())}
        if b:
            out[key] = b
    return out


def _closest(key: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not match:  # try the last component alone: "beta" -> "codegan.beta_c"
        tail = key.split(".")[-1]
        by_tail = {c.split(".")[-1]: c for c in candidates}
        close = difflib.get_close_matches(tail, list(by_tail), n=1, cutoff=0.6)
        match = [by_tail[close[0]]] if close else []
    return f" (did you mean '{match[0]}'?)" if match else ""


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Check ``value`` against the field type ``tp``; ints widen to floats, nothing else converts."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (item_tp,) = typing.get_args(tp)[:1]
        if item_tp is str and isinstance(value, str):  # one item of a list of strings (a URL pattern, a tag)
            value = [value] if value else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of {item_tp.__name__}, got {value!r}")
        return [_coerce(f"{key}[{i}]", item_tp, v) for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: union types are not supported in the schema")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp in (int, float):
        if isinstance(value, str):  # PyYAML reads "5e-4" as a string
            with contextlib.suppress(ValueError):
                value = tp(value)
        if tp is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    else:
        raise ConfigError(f"{key}: unsupported schema type {tp}")
    raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r} ({type(value).__name__})")


def _set(cfg: Config, key: str, value: Any) -> None:
    keys = all_keys()
    if key not in keys:
        raise ConfigError(f"unknown config key '{key}'{_closest(key, sorted(keys))}")
    if keys[key][0] is str and isinstance(value, bool):  # YAML 1.1 reads a bare no/off/yes as a boolean
        choices = bounds().get(key, {}).get("choices", ())
        value = next((w for w in choices if yaml.safe_load(w) is value), value)
    obj: Any = cfg
    parts = key.split(".")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    setattr(obj, parts[-1], _coerce(key, keys[key][0], value))


def _section_names() -> set[str]:
    return {n for n, tp in _resolved_types(Config).items() if dataclasses.is_dataclass(tp)} | set(plugin_sections())


def _flatten(tree: dict, source: str) -> dict[str, Any]:
    """Nested sections -> dotted keys; a mapping where no section exists is an error."""
    flat: dict[str, Any] = {}
    sections = _section_names()
    for k, v in tree.items():
        if isinstance(v, dict):
            if k not in sections:
                raise ConfigError(f"{source}: '{k}' is not a config section{_closest(str(k), sorted(sections))}")
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[str(k)] = v
    return flat


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with a YAML-typed value (``3`` int, ``1e-4`` float, ``[0.5, 0.9]`` list, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' is not of the form key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key.strip()}: cannot parse value {raw!r}: {exc}") from None
    return key.strip(), "" if value is None else value


# keys whose values may run a shell command (webdataset's pipe: URLs)
PIPE_KEYS = ("data.root", "data.train_urls", "data.eval_urls")
PIPE_ENV = "CODEGAN_ALLOW_PIPE"


def pipe_allowed() -> bool:
    return os.environ.get(PIPE_ENV, "") not in ("", "0")


def read_yaml_text(p: Path) -> str:
    """The text of a config YAML, refused unread when it is larger than :data:`MAX_YAML_BYTES`."""
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{p}: {size} bytes, more than a config file may hold ({MAX_YAML_BYTES}); not read")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None


def _read_tree(p: Path) -> Any:
    try:
        return yaml.safe_load(read_yaml_text(p)) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None


def load_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config YAML (safe loader) into flat dotted keys.

    A top-level ``base: <path>`` (relative to the file) or ``base: <preset name>`` names a preset whose keys this
    file starts from and overrides: baselines inherit the CoDeGAN preset of their dataset, so only the method
    differs (a plugin's preset says ``base: digits``).
    """
    from harness.presets import preset_path

    p = preset_path(path)
    if p.resolve() in _seen:
        raise ConfigError(f"{p}: 'base' chain loops back to itself")
    tree = _read_tree(p)
    if not isinstance(tree, dict):
        raise ConfigError(f"{p}: top level must be a mapping of config sections")
    base = tree.pop("base", None)
    if base:
        relative = p.parent / str(base)
        flat = load_yaml(relative if relative.is_file() else str(base), (*_seen, p.resolve()))
    else:
        flat = {}
    flat.update(_flatten(tree, str(p)))
    return flat


def build_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
    trusted_values: bool = False,
) -> Config:
    """Defaults <- YAML file <- ``key=value`` overrides <- ``values`` (dotted key -> value), then validation.

    A ``pipe:`` value of a key in :data:`PIPE_KEYS` runs a shell command, so it is accepted only from
    the command line (``overrides``), from ``values`` marked trusted, or with ``CODEGAN_ALLOW_PIPE=1``:
    a preset or sweep file someone sends you cannot execute code.
    """
    cfg = Config()
    source: dict[str, str] = {}
    if path is not None:
        for key, value in load_yaml(path).items():
            try:
                _set(cfg, key, value)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            source[key] = str(path)
    for text in overrides or []:
        key, value = parse_override(text)
        _set(cfg, key, value)
        source[key] = ""
    for key, value in (values or {}).items():
        _set(cfg, key, value)
        source[key] = "" if trusted_values else "a sweep or program's values"
    for key in PIPE_KEYS:
        values = get(cfg, key)
        value = next((v for v in (values if isinstance(values, list) else [values]) if "pipe:" in str(v)), "")
        if value and source.get(key) and not pipe_allowed():
            raise ConfigError(
                f"{source[key]}: {key}={value!r} would run a shell command; configs are code, so pipe: is"
                f" taken only from the command line ({key}=...) or with {PIPE_ENV}=1"
            )
    validate(cfg)
    return cfg


def get(cfg: Config, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _check_finite(cfg: Config) -> None:
    for key in all_keys():
        value = get(cfg, key)
        items = value if isinstance(value, list) else [value]
        for v in items:
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"{key}: must be a finite number, got {v}")


def validate(cfg: Config) -> None:
    """Reject impossible values, naming the key."""
    _check_finite(cfg)
    for key, b in bounds().items():  # what each field declares (opt's choices, gt, ge)
        value = get(cfg, key)
        if b.get("choices") and value not in b["choices"]:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(b['choices'])}")
        if b.get("gt") is not None and value <= b["gt"]:
            raise ConfigError(f"{key}: must be > {b['gt']:g}, got {value}")
        if b.get("ge") is not None and value < b["ge"]:
            raise ConfigError(f"{key}: must be >= {b['ge']:g}, got {value}")
    if len(cfg.train.betas) != 2 or not all(0 <= b < 1 for b in cfg.train.betas):
        raise ConfigError(f"train.betas: need two values in [0, 1), got {cfg.train.betas}")
    if not 0 <= cfg.train.ema_decay < 1:
        raise ConfigError(f"train.ema_decay: must be in [0, 1), got {cfg.train.ema_decay}")
    chain = cfg.codegan.chain_step
    if chain != "auto" and not (chain.isascii() and chain.isdigit()):
        raise ConfigError(f"codegan.chain_step: auto or an integer >= 0, got {chain!r}")
    if not 0 <= cfg.baselines.cr_start <= 1:
        raise ConfigError(f"baselines.cr_start: a fraction of train.steps in [0, 1], got {cfg.baselines.cr_start}")
    if not 0 <= cfg.baselines.cr_gap < 2:
        raise ConfigError(f"baselines.cr_gap: must be in [0, 2) (codes lie in [-1, 1]), got {cfg.baselines.cr_gap}")
    for key in ("codegan.crop_scale", "pretrain.crop_scale"):
        lo_hi = get(cfg, key)
        if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1] <= 1:
            raise ConfigError(f"{key}: need 0 < low <= high <= 1, got {lo_hi}")
    if cfg.data.num_workers > 0 and cfg.data.streams % cfg.data.num_workers:
        raise ConfigError(f"data.num_workers: {cfg.data.num_workers} does not divide data.streams={cfg.data.streams}")
    if cfg.train.best_by and not cfg.train.best_by.startswith("eval/"):
        raise ConfigError(
            f"train.best_by: must name an eval/ metric (eval/fid_domain, eval/acc), got {cfg.train.best_by!r}"
        )
    if len(set(cfg.eval.quality)) != len(cfg.eval.quality):
        raise ConfigError(f"eval.quality: repeated extractor in {cfg.eval.quality}")
    if not cfg.name or "/" in cfg.name:
        raise ConfigError(f"name: must be a non-empty folder name, got {cfg.name!r}")
    if cfg.eval.fid_samples < 2 and cfg.eval.quality:
        raise ConfigError(f"eval.fid_samples: FID needs at least 2 samples, got {cfg.eval.fid_samples}")
    from harness.registry import check_names

    check_names(cfg)


def to_dict(cfg: Config) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    for name in plugin_sections():
        out[name] = dataclasses.asdict(getattr(cfg, name))
    return out


def from_dict(tree: dict[str, Any]) -> Config:
    cfg = Config()
    for key, value in _flatten(tree, "config").items():
        _set(cfg, key, value)
    validate(cfg)
    return cfg


def is_training_key(key: str) -> bool:
    """Keys that change what is trained (not schedule, logging, evaluation or process keys)."""
    return key not in SCHEDULE_KEYS and not key.startswith(("log.", "eval.", "runtime."))


# Training keys added after runs were first hashed: part of a run's identity only when set off their default, so
# that adding a key renames no existing run folder.
LATE_TRAINING_KEYS = frozenset({"train.tf32", "train.deterministic"})


def training_config(cfg: Config) -> dict[str, Any]:
    """The flat training config: every key that changes the weights a run produces. Of the method sections, only
    the keys ``cfg``'s method reads (its catalogue entry's ``reads`` and its own section): another method's key
    never changes this run's identity."""
    from harness.catalogue import entry

    method = entry(cfg.method)
    keys = all_keys()
    return {
        k: get(cfg, k)
        for k in keys
        if is_training_key(k)
        and ("." not in k or k.startswith(SHARED_SECTIONS) or method.reads_key(k))
        and not (k in LATE_TRAINING_KEYS and get(cfg, k) == keys[k][1])
    }


def digest(obj: Any, n: int = 8) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def training_hash(cfg: Config) -> str:
    """Short hash of the training config (what a run computes; not schedule, logging or evaluation keys)."""
    return digest(training_config(cfg))


def help_text(cfg: Config | None = None) -> str:
    """The ``--help`` listing: every key, its value (the default, or ``cfg``'s) and what it does, by section."""
    lines, section, limits = [], None, bounds()
    for key, (tp, default, text) in all_keys().items():
        if cfg is not None:
            default = get(cfg, key)
        head = key.split(".")[0] if "." in key else ""
        if head != section:
            section = head
            lines.append(f"\n[{head or 'top level'}]")
        name = getattr(tp, "__name__", str(tp))
        b = limits.get(key, {})
        if b.get("gt") is not None:
            name += f", > {b['gt']:g}"
        if b.get("ge") is not None:
            name += f", >= {b['ge']:g}"
        lines.append(f"  {key} = {json.dumps(default)}  ({name})\n      {text}")
    return "\n".join(lines)
