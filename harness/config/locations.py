"""Where a run's shards are when the harness did not build them: the URLs of ``data.train_urls``/``data.eval_urls``,
a pattern as ``data.root``, or a folder of ``.tar`` files without a manifest. Read without touching a shard (and
without torch): a config is checked with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config.cards import DataError, data_root

SPLIT_PREFIXES = {"train": ("train",), "test": ("test", "val", "valid", "eval")}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def is_remote(location: str) -> bool:
    """A URL or a ``pipe:`` command, not a local path."""
    return "://" in location or location.startswith("pipe:")


def expand(spec: str | list[str]) -> list[str]:
    """webdataset's URL expansion of each item: ``::`` lists, ``{000..011}`` braces, ``$WDS_*`` variables."""
    from webdataset.shardlists import expand_urls

    items = [spec] if isinstance(spec, str) else list(spec)
    return [url for item in items if item for url in expand_urls(item)]


def is_pattern(root: str) -> bool:
    """A ``data.root`` that names shards rather than a folder holding ``<dataset>/``."""
    return "{" in root or "::" in root or root.rstrip("/").endswith((".tar", ".tgz", ".tar.gz"))


def folder_shards(folder: Path) -> dict[str, list[str]] | None:
    """The ``.tar`` files of a folder without a manifest, split by name (``train*``, ``test*``/``val*``;
    a folder with neither holds only training shards), or None when it is not such a folder."""
    if not folder.is_dir() or (folder / "manifest.json").exists():
        return None
    tars = sorted(str(p) for p in folder.glob("*.tar"))
    if not tars:
        return None
    out: dict[str, list[str]] = {}
    for split, prefixes in SPLIT_PREFIXES.items():
        found = [t for t in tars if Path(t).name.startswith(prefixes)]
        if found:
            out[split] = found
    return out or {"train": tars}


def foreign_urls(cfg: Any, card_name: str) -> dict[str, list[str]] | None:
    """The splits' shard URLs when the run reads foreign shards; None for harness-built ones (``cfg``: a
    :class:`harness.config.Config`, not imported here: the config layer calls this)."""
    d = cfg.data
    if d.train_urls or is_pattern(d.root):
        out = {"train": expand(d.train_urls or d.root)}
        if d.eval_urls:
            out["test"] = expand(d.eval_urls)
        return out
    if d.eval_urls:
        raise DataError("data.eval_urls is set without data.train_urls")
    if is_remote(d.root):
        return None
    root = data_root(d.root)
    return folder_shards(root / card_name) or (folder_shards(root) if d.root else None)


def _images(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.name[0] != "."
    )


def image_files(folder: Path) -> dict[str, list[Path]] | None:
    """class name -> its PNG/JPEG files (``""``: a folder without class subfolders, so without labels), or None when
    the folder holds neither images nor class subfolders of them (or holds shards)."""
    if not folder.is_dir() or (folder / "manifest.json").exists() or any(folder.glob("*.tar")):
        return None
    top = _images(folder)
    subs = {d.name: _images(d) for d in sorted(folder.iterdir()) if d.is_dir() and d.name[0] != "."}
    subs = {name: files for name, files in subs.items() if files}
    if top and subs:
        raise DataError(
            f"{folder}: images both in it ({top[0].name}) and in subfolders ({next(iter(subs))}/): put every image in"
            " a class subfolder, or none in one"
        )
    return {"": top} if top else subs or None


def image_folder(cfg: Any, card_name: str) -> Path | None:
    """``data.root`` when it is a local folder of images (:func:`image_files`) rather than of datasets (no
    ``<dataset>/manifest.json`` in it), else None."""
    root = cfg.data.root
    if not root or is_remote(root) or is_pattern(root) or cfg.data.train_urls:
        return None
    folder = Path(root).expanduser()
    if (folder / card_name / "manifest.json").exists() or image_files(folder) is None:
        return None
    return folder
