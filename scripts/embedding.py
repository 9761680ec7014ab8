"""The paper's Fig. 4: the class features of generated images in 2-D (t-SNE), an equal count per code, by code.

    python -m scripts.embedding RUN_DIR|CHECKPOINT [--per-code 1000] [--best] [--out FILE] [--wandb MODE]
                                [key=value ...]

Loads the run's latest checkpoint (``--best``: ``checkpoints/best.pt``) as ``codegan-eval`` does, draws
``--per-code`` images of every class code (from G's EMA copy where the run keeps one, as its evaluation does; seeded
by the run's seed), takes the method's class features of them (CoDeGAN's E_c: its L2-normalised features; any
method: what k-means clusters at its evaluation) and embeds them in 2-D with scikit-learn's t-SNE (PCA start,
seeded). Writes ``<run>/figures/embedding.png`` and the points as ``.csv`` beside it, and logs the figure and the
points to a W&B run of job type ``analysis`` in the run's folder, project and group (``--wandb``: offline, online or
disabled; default the run's own ``log.wandb``). ``key=value``: evaluation, logging and data-location keys, as
``codegan-eval`` takes them (``data.root=...`` where the shards have moved).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.commands.cli import command_parser, run_command
from harness.core.seeding import derive_seed
from scripts.trained_model import describe, generator_net, loaded, quality

FEATURES = {"codegan": "E_c features"}  # what a method's class features are called in the title


def embed(feats: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """t-SNE of ``feats`` to 2-D (scikit-learn; PCA start, ``seed``), perplexity at most a third of the points."""
    from sklearn.manifold import TSNE

    perplexity = min(perplexity, max(1.0, (len(feats) - 1) / 3))
    tsne = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    return tsne.fit_transform(np.asarray(feats, dtype=np.float32))


def code_colours(classes: int) -> list[Any]:
    """A distinct colour per code: tab10 up to 10 codes, tab20 up to 20, else evenly spaced hues."""
    import matplotlib

    if classes <= 10:
        return [matplotlib.colormaps["tab10"](k) for k in range(classes)]
    if classes <= 20:
        return [matplotlib.colormaps["tab20"](k) for k in range(classes)]
    return [matplotlib.colormaps["hsv"](k / classes) for k in range(classes)]


def plot(points: np.ndarray, codes: np.ndarray, classes: int, title: str, out: Path) -> Any:
    """The embedding as a scatter, one colour per code and a legend of the codes (saved to ``out``, returned)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 7), layout="constrained")
    size = float(np.clip(20000 / max(len(points), 1), 3, 40))
    order = np.random.default_rng(0).permutation(len(points))  # no code drawn wholly on top of another
    colours = code_colours(classes)
    ax.scatter(points[order, 0], points[order, 1], c=[colours[k] for k in codes[order]], s=size, alpha=0.7, lw=0)
    for k in range(classes):  # the legend's entries: one per code, drawn nowhere
        ax.scatter([], [], color=colours[k], s=30, label=f"code {k} (n={int((codes == k).sum()):,})")
    ax.set(xlabel="t-SNE dimension 1 (arbitrary units)", ylabel="t-SNE dimension 2 (arbitrary units)")
    fig.legend(loc="outside right upper", fontsize=8, title="class code", title_fontsize=8)
    fig.suptitle(title, fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={"Title": title})
    plt.close(fig)
    return fig


def log_wandb(cfg: Any, run_dir: Path, out: Path, points: np.ndarray, codes: np.ndarray, mode: str) -> None:
    """The figure and its points as a W&B run of job type ``analysis`` in the run's folder, project and group (one
    id: drawing it again updates it)."""
    if mode == "disabled":
        return
    import wandb

    from harness.runs.track import analysis_run, run_label, seed_group, summary_run_id

    group = cfg.log.group or seed_group(run_dir, cfg)
    name, run_id = f"{run_label(cfg)} {out.stem}", summary_run_id(run_dir, out.stem)
    run = analysis_run(run_dir, mode, cfg.log.project, name, group=group, id=run_id, resume="allow")
    rows = [[float(x), float(y), int(k)] for (x, y), k in zip(points, codes, strict=True)]
    run.log({"embedding/figure": wandb.Image(str(out)), "embedding/points": wandb.Table(["x", "y", "code"], rows)})
    run.finish()


def draw_embedding(
    target: Path,
    per_code: int = 1000,
    out: Path | None = None,
    best: bool = False,
    perplexity: float = 30.0,
    wandb_mode: str | None = None,
    overrides: Sequence[str] = (),
) -> tuple[Path, np.ndarray, np.ndarray]:
    """The figure of a run folder or checkpoint (``out``: default ``<run>/figures/embedding.png``), its CSV and W&B
    run (``wandb_mode``: default the run's ``log.wandb``); returns the PNG, the 2-D points and their codes."""
    from harness.metrics.code_samples import per_code as draw_per_code
    from harness.metrics.suite import batched

    with loaded(target, [*quality(), *overrides], best) as trainer:  # no extractor needed
        method, cfg, run_dir, where = trainer.method, trainer.cfg, trainer.run_dir, describe(trainer)
        images, codes = draw_per_code(method, per_code, derive_seed(cfg.seed, "embedding"), generator_net(trainer))
        feats = batched(method.class_features, method.device, images, trainer.size, cfg.eval.batch_size)
    points = embed(feats, derive_seed(cfg.seed, "tsne"), perplexity)
    out = out or run_dir / "figures" / "embedding.png"
    what = FEATURES.get(cfg.method, "class features")
    title = (
        f"{where}: t-SNE of the {what} of generated images\n"
        f"{per_code:,} images per code, {method.classes} codes, coloured by the code they were drawn with"
    )
    plot(points, codes, method.classes, title, out)
    rows = "".join(f"{x:.5f},{y:.5f},{k}\n" for (x, y), k in zip(points, codes, strict=True))
    out.with_suffix(".csv").write_text("x,y,code\n" + rows)
    log_wandb(cfg, run_dir, out, points, codes, wandb_mode or cfg.log.wandb)
    return out, points, codes


def cli(argv: list[str]) -> int:
    parser = command_parser("codegan-embedding", "scripts.embedding", __doc__)
    parser.add_argument("target", type=Path, help="run folder or checkpoint file")
    parser.add_argument("--per-code", type=int, default=1000, help="generated images per class code (default 1000)")
    parser.add_argument("--best", action="store_true", help="checkpoints/best.pt instead of the latest")
    parser.add_argument("--out", type=Path, default=None, help="the PNG (default <run>/figures/embedding.png)")
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30)")
    parser.add_argument("--wandb", default=None, choices=["offline", "online", "disabled"], help="default: the run's")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="eval.*, log.*, data.root, ...")
    args = parser.parse_intermixed_args(argv)
    if args.per_code < 2:
        parser.error("--per-code must be at least 2")
    out, _, codes = draw_embedding(args.target, args.per_code, args.out, args.best, args.perplexity, args.wandb,
                                   args.overrides)  # fmt: skip
    print(f"wrote {out} and {out.with_suffix('.csv')} ({len(codes):,} points)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
