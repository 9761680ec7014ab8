"""The config's schema: one dataclass per section, each field with its default, help text and bounds (:func:`opt`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.config.registry import sections

ADAM_IMPLS = ("default", "foreach", "fused")


COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "step")


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
        "where <dataset>/ shards live: a folder (empty = $CODEGAN_DATA, else datasets/ of $CODEGAN_HOME or of the"
        " working folder; relative: inside that home), an http(s) URL prefix,"
        " or pipe:CMD with {} standing for the file path",
    )
    train_urls: list[str] = opt(
        [],
        "training shards not built here, as webdataset URLs: brace patterns (/d/train-{000000..000011}.tar),"
        " several items or '::'-joined lists, http(s):// or pipe:CMD; scanned once (counts, classes, shape)",
    )
    eval_urls: list[str] = opt([], "held-out shards not built here (the eval.split=test of train_urls), as above")
    image_size: int = opt(0, "resize images on the device to this size; 0 = the card's native size", ge=0)
    classes: int = opt(
        0,
        "class codes K to learn from shards without labels (no cls/json member); 0 = the card's classes (shards with"
        " labels: their classes)",
        ge=0,
    )
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
        " as default) | max-autotune (on CPU without CUDA graphs) | max-autotune-no-cudagraphs, the gradient"
        " penalty's double backward eager; or step: the whole iteration (every update, its gradient penalty and"
        " its Adam step) as one graph, captured as a CUDA graph on CUDA (any number of processes: the graph averages"
        " the gradients; not with fp16; torch >= 2.11; docs/gpu.md)."
        " Off by default: compiling takes minutes",
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
    init_from: str = opt(
        "",
        "start networks from another run: its run folder (its latest checkpoint) or a checkpoint file; the networks"
        " are train.init_nets, the rest start fresh; recorded in the run's lineage and its results' identity",
    )
    init_nets: list[str] = opt(
        [], "the networks train.init_from loads (G, D, E, E_c, ...: the method's names); empty: all both runs have"
    )
    best_by: str = opt("", "keep checkpoints/best.pt by this metric (eval/fid_*, eval/kid_*: lowest; else highest)")
    trace: bool = opt(False, "debug: every rank writes the sample keys it read and a weight digest")


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
    protocol: str = opt(
        "",
        "a published evaluation protocol, setting the eval keys its numbers depend on (harness/config/protocols.py):"
        " domain (the dataset's own classifier), clean (clean-fid's Inception, 50,000 samples against the training"
        " split), paper (the paper's: TF-ported Inception with TensorFlow's resize for FID, KID and IS, 50,000 samples"
        " against the training split); empty = the eval keys as set",
        choices=("", "domain", "clean", "paper"),
    )


@dataclass
class LogConfig:
    root: str = opt("runs", "folder holding run folders")
    wandb: str = opt("offline", "W&B mode: offline | online | disabled", choices=("offline", "online", "disabled"))
    wandb_dir: str = opt(
        "", "folder of W&B's files (empty = the run folder; a sweep sets its own folder: one wandb sync sends it all)"
    )
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
        600.0,
        "how long a rank waits in a collective (gloo or NCCL) for the others before the run fails with one line: a"
        " rank that froze or died ends the run within it. It must cover the longest work the main process does alone"
        " while the others wait (the domain classifier, reference statistics, an evaluation's k-means and FID): 10"
        " minutes is five times the longest measured here (Fashion-MNIST's domain classifier, 112 s on 2 CPU cores);"
        " raise it for a 50,000-sample Inception FID on CPUs",
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
        " (docs/adding-a-method.md)",
    )
    stage: str = opt(
        "train", "train | pretrain (SimCLR pre-training of this preset's E_c, then stop)", choices=("train", "pretrain")
    )
    seed: int = opt(0, "master seed; rank, worker and k-means seeds derive from it", ge=0)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self) -> None:
        for name, section in plugin_sections().items():  # the sections methods bring (codegan, baselines, ...)
            setattr(self, name, section())


def plugin_sections() -> dict[str, type]:
    """name -> dataclass of the config sections methods declare in the registry (:mod:`harness.config.registry`):
    the built-in ones' (``codegan``, ``pretrain``, ``baselines``) and plugins'."""
    return sections()


# the sections every method reads: what is trained on, with which networks and which schedule
SHARED_SECTIONS = ("data.", "model.", "train.")
