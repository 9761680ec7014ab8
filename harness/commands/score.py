"""Score images the harness did not generate, or a run's samples: FID, KID (with its std) and IS.

    codegan-score --input1 samples/ --input2 fashion-mnist-train [--fid] [--kid] [--isc] [--json]
    codegan-score --input1 samples.npz --input2 real/ --feature-extractor inception --feature-extractor-weights-path W
    codegan-score --input1 runs/codegan-digits-<hash> [--samples 10000] [--save-samples samples.npz]

Flags follow torch-fidelity's ``fidelity`` command. An input is a folder of images (``.png``, ``.jpg``, ...;
``--samples-find-deep`` also reads subfolders), an ``.npz``/``.npy`` array of images (uint8, or floats in
[0, 1]; N×H×W×C, N×C×H×W or N×H×W: ``arr_0`` or the first array of an ``.npz``), a dataset split named
``<dataset>-<split>`` (``digits-train``, ``fashion-mnist-test``: its shards, built on first use, and its
reference statistics, cached as every run caches them), or, as ``--input1``, a run folder: its latest
checkpoint (``--checkpoint`` for another) draws the very images its evaluation scores (the same seeds), so
the numbers equal its ``eval/*`` values; without ``--input2`` it is scored against its own
``eval.fid_split``. The ``domain`` extractor is the dataset's own classifier (trained once per dataset and
size, cached) and needs a dataset (the split, the run's, or ``--dataset``); ``inception`` is clean-fid's
Inception-v3. Keys name the extractor (``eval/fid_domain``, ``eval/kid_inception``): a domain FID is never an
Inception FID. KID is clean-fid's kernel distance, its std the spread over its subsets; IS needs the
extractor's class logits (the domain classifier has them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.commands.cli import command_parser, run_command
from harness.commands.rescore import launch_identity, run_and_checkpoint
from harness.config import ConfigError, registry
from harness.config.cards import DataError, load_card
from harness.core.errors import RunError
from harness.core.seeding import derive_seed
from harness.data.manifest import read_manifest
from harness.runs.folder import config_for_resume

if TYPE_CHECKING:
    import torch

EXTENSIONS = "bmp,jpg,jpeg,pgm,png,ppm,tif,tiff,webp"


@dataclass
class Reference:
    """A dataset split: where its shards are, their manifest, the split."""

    location: str
    manifest: Any
    split: str

    @property
    def name(self) -> str:
        return f"{self.manifest.dataset}-{self.split}"


def split_spec(text: str, root: str, progress: bool) -> Reference | None:
    """``<dataset>-<split>`` of a known dataset card as a :class:`Reference` (shards built on first use)."""
    from harness.data.build import ensure_built  # imports torch: --help stays fast

    if "-" not in text or Path(text).exists():
        return None
    dataset, split = text.rsplit("-", 1)
    try:
        load_card(dataset)
    except DataError:
        return None
    location = str(ensure_built(dataset, root, progress=progress))
    man = read_manifest(location)
    if split not in man.splits:
        raise ConfigError(f"{text}: dataset {dataset} has no split '{split}' (it has {', '.join(sorted(man.splits))})")
    return Reference(location, man, split)


def is_run(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").is_file() and (path / "checkpoints").is_dir()


def read_folder(folder: Path, deep: bool, extensions: str, flag: str) -> list[np.ndarray]:
    """The images of a folder (sorted by path) as H×W×C uint8 arrays."""
    from PIL import Image

    exts = {f".{e.strip().lower().lstrip('.')}" for e in extensions.split(",") if e.strip()}
    paths = sorted(p for p in (folder.rglob("*") if deep else folder.iterdir()) if p.suffix.lower() in exts)
    if not paths:
        deeper = "" if deep else "; --samples-find-deep also looks in subfolders"
        raise DataError(f"{flag} {folder}: no images ({', '.join(sorted(exts))}) in it{deeper}")
    out = []
    for path in paths:
        try:
            with Image.open(path) as img:
                out.append(np.asarray(img.convert("L" if img.mode in ("L", "I", "I;16", "1") else "RGB")))
        except OSError as exc:
            raise DataError(f"{path}: not a readable image ({exc})") from None
    return [a[..., None] if a.ndim == 2 else a for a in out]


def read_array(path: Path, flag: str) -> np.ndarray:
    """Images of an ``.npz``/``.npy`` file as N×H×W×C uint8."""
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as data:
                arr = data["arr_0"] if "arr_0" in data.files else data[data.files[0]]
    except (OSError, ValueError, IndexError) as exc:
        raise DataError(f"{flag} {path}: not an array of images ({exc})") from None
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise DataError(f"{flag} {path}: an array of shape {arr.shape} is not N images")
    if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):  # N, C, H, W
        arr = arr.transpose(0, 2, 3, 1)
    if arr.shape[-1] not in (1, 3):
        raise DataError(f"{flag} {path}: images of shape {arr.shape[1:]} have neither 1 nor 3 channels")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating) or arr.min() < 0 or arr.max() > 1:
            raise DataError(f"{flag} {path}: {arr.dtype} images must be uint8 or floats in [0, 1]")
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    return arr


def to_batch(images: list[np.ndarray] | np.ndarray, channels: int, size: int) -> torch.Tensor:
    """N×C×size×size uint8: grey <-> RGB as ``channels`` asks (ITU-R 601 luma), each image resized (PIL bicubic)."""
    import torch
    from PIL import Image

    out = []
    for a in images:
        if a.shape[-1] != channels:
            a = np.repeat(a, 3, axis=-1) if channels == 3 else np.asarray(Image.fromarray(a).convert("L"))[..., None]
        if a.shape[0] != size or a.shape[1] != size:
            resized = Image.fromarray(a[..., 0] if channels == 1 else a).resize((size, size), Image.BICUBIC)
            a = np.asarray(resized).reshape(size, size, channels)
        out.append(a)
    return torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy())


def load_input(text: str, flag: str, args: argparse.Namespace) -> Reference | list[np.ndarray] | np.ndarray:
    """A dataset split, or the images of a folder or array file."""
    ref = split_spec(text, args.datasets_root, not args.silent)
    if ref is not None:
        return ref
    path = Path(text)
    if path.is_dir():
        return read_folder(path, args.samples_find_deep, args.samples_find_ext, flag)
    if path.is_file() and path.suffix in (".npz", ".npy"):
        return read_array(path, flag)
    raise ConfigError(f"{flag} {text}: no such folder, .npz/.npy file or <dataset>-<split> (as digits-train)")


def run_samples(run_dir: Path, checkpoint: Path | None, n: int) -> tuple[torch.Tensor, Any, Reference]:
    """``n`` images drawn from a run's checkpoint exactly as its evaluation draws them, the Trainer that holds
    it (released), and the run's own reference split."""
    import torch

    # torch, Accelerate and the Trainer only when a run is scored (--help stays fast)
    from harness.metrics.features import generate_uint8
    from harness.training.trainer import Trainer

    run_dir, ckpt = run_and_checkpoint(checkpoint or run_dir, best=False)
    quiet = ["eval.quality=[]", "eval.pixel_baseline=false", "log.wandb=disabled", "log.progress=false"]
    cfg = config_for_resume(run_dir, quiet, rescore=True)
    trainer = Trainer(cfg, run_dir=run_dir, checkpoint_path=ckpt, identity=launch_identity(run_dir, ckpt))
    try:
        method = trainer.method
        if not method.generates:
            raise ConfigError(f"--input1 {run_dir}: method {cfg.method} generates no images")
        net = trainer.ema.net if trainer.ema else None
        n = n or cfg.eval.fid_samples
        batch, images = cfg.eval.batch_size, []
        for k in range(-(-n // batch)):  # chunk k of size eval.batch_size, seeded by k: the evaluation's images
            gen = torch.Generator(device=method.device).manual_seed(derive_seed(cfg.seed, "fid", k))
            size = min(batch, n - k * batch)
            with torch.no_grad():
                images.append(generate_uint8(lambda z, c: method.sample(z, c, net), method.latent, size, size, gen))
        return torch.cat(images).cpu(), trainer, Reference(trainer.location, trainer.manifest, cfg.eval.fid_split)
    finally:
        trainer.release()


def extractor_for(args: argparse.Namespace, ref: Reference | None, size: int, device: torch.device) -> Any:
    from harness.metrics.extractors import ExtractorContext, ExtractorUnavailable  # imports torch: --help stays fast

    name = args.feature_extractor
    if name == "domain" and ref is None:
        raise ConfigError(
            "--feature-extractor domain is a classifier of one dataset: name it with --input2 <dataset>-<split>"
            " or --dataset (or use --feature-extractor inception)"
        )
    location, man = (ref.location, ref.manifest) if ref is not None else ("", None)
    ctx = ExtractorContext(location, size, device, args.feature_extractor_weights_path, not args.silent, man)
    try:
        return registry.extractor(name)(ctx)
    except ExtractorUnavailable as exc:
        why = str(exc).replace("eval.inception_weights", "--feature-extractor-weights-path")
        raise RunError(f"--feature-extractor {name} cannot be had: {why}") from None


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("codegan-score", "harness.commands.score", __doc__)
    parser.add_argument("--input1", required=True, help="images to score: folder, .npz/.npy, <dataset>-<split>, run")
    parser.add_argument("--input2", default="", help="reference: <dataset>-<split> (cached statistics), folder, .npz")
    parser.add_argument("-i", "--isc", action="store_true", help="Inception Score (from the extractor's logits)")
    parser.add_argument("-f", "--fid", action="store_true", help="Frechet distance of the features")
    parser.add_argument("-k", "--kid", action="store_true", help="kernel distance of the features, with its std")
    parser.add_argument("-j", "--json", action="store_true", help="print the scores as JSON")
    parser.add_argument(
        "--feature-extractor",
        default="domain",
        choices=["domain", "inception", "inception_tf"],
        help="domain (the dataset's classifier), inception (clean resize), inception_tf (the paper's)",
    )
    parser.add_argument("--feature-extractor-weights-path", default="", help="inception-2015-12-05.pt (offline)")
    parser.add_argument("--dataset", default="", help="the dataset of the domain extractor when --input2 is a path")
    parser.add_argument("--size", type=int, default=0, help="image side the extractor sees (default: the data's)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="with a run as --input1: this checkpoint")
    parser.add_argument("--samples", type=int, default=0, help="with a run: images to draw (default eval.fid_samples)")
    parser.add_argument("--save-samples", type=Path, default=None, help="write input1's images as .npz (arr_0, NHWC)")
    parser.add_argument("-b", "--batch-size", type=int, default=500, help="images per extractor forward pass")
    parser.add_argument("--isc-splits", type=int, default=10)
    parser.add_argument("--kid-subsets", type=int, default=100)
    parser.add_argument("--kid-subset-size", type=int, default=None,
                        help="images per KID subset (default: 1,000, or all the smaller input has)")  # fmt: skip
    parser.add_argument("--rng-seed", type=int, default=None, help="KID's subset draws (default 0; a run's own)")
    parser.add_argument("--samples-find-deep", action="store_true", help="read images in subfolders too")
    parser.add_argument("--samples-find-ext", default=EXTENSIONS, help="image file extensions, comma-separated")
    parser.add_argument("--datasets-root", default="", help="data root of <dataset>-<split> shards")
    parser.add_argument("-c", "--cpu", action="store_true", help="use the CPU even where a GPU is visible")
    parser.add_argument("--cuda", action="store_true", help="use a CUDA GPU (refused with one line when none is)")
    parser.add_argument("-g", "--gpu", default=None, help="the CUDA devices to use, as CUDA_VISIBLE_DEVICES (0, 1,2)")
    parser.add_argument("--silent", action="store_true", help="no progress lines")
    return parser


def score_images(input1: str, input2: str = "", **options: Any) -> dict[str, Any]:
    """``codegan-score`` as one call: the scores of ``input1`` (a folder, an ``.npz``/``.npy``, a
    ``<dataset>-<split>`` or a run folder) against ``input2``; ``options`` are the command's flags by their long
    names (``fid=True``, ``feature_extractor="inception"``, ``kid_subset_size=500``, ``cpu=True``)."""
    argv = ["--input1", str(input1), *(["--input2", str(input2)] if input2 else [])]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (False, None):
            argv += [flag, str(value)]
    return _score(_parser().parse_args(argv))


def cli(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    scores = _score(args)
    if args.json:
        print(json.dumps(scores, indent=1))
    else:
        print("\n".join(f"{k}: {v:.7g}" if isinstance(v, float) else f"{k}: {v}" for k, v in scores.items()))
    return 0


def _device(args: argparse.Namespace) -> Any:
    if args.gpu is not None:  # before torch sees the GPUs
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)
    import torch

    if args.cuda and not torch.cuda.is_available():
        raise ConfigError("--cuda: no CUDA GPU is visible here (use --cpu)")
    return torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")


def _score(args: argparse.Namespace) -> dict[str, Any]:
    device = _device(args)
    # the metrics import torch: --help stays fast
    from harness.metrics.features import moments, reference_stats, run_batched
    from harness.metrics.fid import fid
    from harness.metrics.inception_score import inception_score
    from harness.metrics.kid import kid_subsets

    wanted = {m for m in ("fid", "kid", "isc") if getattr(args, m)} or {"fid", "kid", "isc"}
    if {"fid", "kid"} & wanted and not args.input2 and not is_run(Path(args.input1)):
        raise ConfigError("--fid and --kid compare two inputs: give --input2 (a <dataset>-<split>, folder or .npz)")
    seed, size, ref, run = args.rng_seed, args.size, None, None
    if is_run(Path(args.input1)):
        images1, run, ref = run_samples(Path(args.input1), args.checkpoint, args.samples)
        size = run.size
        seed = derive_seed(run.cfg.seed, "kid") if seed is None else seed
        first: Any = None
    else:
        first = load_input(args.input1, "--input1", args)
    second = load_input(args.input2, "--input2", args) if args.input2 else None
    if isinstance(second, Reference):
        ref = second
    elif isinstance(first, Reference):
        ref = first  # the dataset of the domain extractor (statistics, if any, are input2's)
    if args.dataset and not isinstance(second, Reference):
        ref = split_spec(f"{args.dataset}-train", args.datasets_root, not args.silent)
        if ref is None:
            raise ConfigError(f"--dataset {args.dataset}: no such dataset card")
    if (
        isinstance(first, Reference)
        and isinstance(second, Reference)
        and first.manifest.dataset != second.manifest.dataset
    ):
        raise ConfigError(f"--input1 {first.name} and --input2 {second.name} are different datasets")
    if ref is not None:  # the domain classifier sees its dataset's channels; Inception always sees colour
        channels = ref.manifest.shape[0] if args.feature_extractor == "domain" else 3
        size = size or ref.manifest.shape[1]
    else:
        arrays = first if not isinstance(first, Reference) else []
        channels, size = 3, size or int(arrays[0].shape[0])
    for item, flag in ((first, "--input1"), (second, "--input2")):
        if channels == 1 and isinstance(item, list) and any(a.shape[-1] == 3 for a in item) and not args.silent:
            print(f"note: {flag}'s colour images are turned grey for the {ref.manifest.dataset} domain classifier"
                  " (--feature-extractor inception keeps their colour)")  # fmt: skip

    def images_of(item: Any) -> torch.Tensor:
        if isinstance(item, Reference):
            # torch, once the images are read
            from harness.data.stream import load_split
            from harness.metrics.features import resized_uint8

            return resized_uint8(load_split(item.location, item.manifest, item.split)["image"], size)
        return to_batch(item, channels, size)

    if run is None:
        images1 = images_of(first)
    if len(images1) < 2:
        raise DataError(f"--input1 {args.input1}: {len(images1)} image(s); FID, KID and IS need at least 2")
    if args.save_samples is not None:
        np.savez(args.save_samples, arr_0=images1.numpy().transpose(0, 2, 3, 1))
    ext = extractor_for(args, ref, size, device)
    name = ext.name
    if "isc" in wanted and not getattr(ext, "has_logits", False):
        if args.isc:
            raise ConfigError(f"--isc needs class logits; the {name} extractor gives features only (use domain)")
        wanted.discard("isc")
    feats1, logits1 = run_batched(ext, images1, args.batch_size, device)
    scores: dict[str, Any] = {"input1": args.input1, "n1": len(images1), "extractor": name, "image_size": size}
    if {"fid", "kid"} & wanted:
        if isinstance(second, Reference) or second is None:
            assert ref is not None
            real = ref
            stats = reference_stats(ext, lambda: images_of(real), real.manifest, real.split, size, args.batch_size,
                                    device, progress=not args.silent)  # fmt: skip
            scores.update(input2=real.name, n2=real.manifest.splits[real.split].count)
        else:
            images2 = images_of(second)
            feats2 = run_batched(ext, images2, args.batch_size, device)[0].cpu().numpy().astype(np.float64)
            mu, sigma = moments(feats2)
            stats = {"mu": mu, "sigma": sigma, "feats": feats2}
            scores.update(input2=args.input2, n2=len(images2))
        f1 = feats1.cpu().numpy().astype(np.float64)
        if "fid" in wanted:
            scores[f"eval/fid_{name}"] = fid(f1, stats["mu"], stats["sigma"])
        if "kid" in wanted:
            smallest = min(len(f1), len(stats["feats"]))
            if args.kid_subset_size is None:
                args.kid_subset_size = min(1000, smallest)
            if args.kid_subset_size > smallest:  # as torch-fidelity: a subset is drawn without replacement
                raise ConfigError(
                    f"--kid-subset-size {args.kid_subset_size} is larger than the {smallest} images of the smaller"
                    f" input: KID's subsets are drawn from each without replacement; use at most {smallest}"
                )
            parts = kid_subsets(
                f1, stats["feats"].astype(np.float64), seed or 0, args.kid_subsets, args.kid_subset_size
            )
            scores[f"eval/kid_{name}"], scores[f"eval/kid_{name}_std"] = float(parts.mean()), float(parts.std())
    if "isc" in wanted:
        scores[f"eval/is_{name}"], scores[f"eval/is_{name}_std"] = inception_score(
            logits1.cpu().numpy(), args.isc_splits
        )
    return scores


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
