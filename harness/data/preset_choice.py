"""The preset of a run on shards the harness did not build, from the shape of their images: the one the user named
when its networks take them, else the one of the method's presets that does (:mod:`harness.config.preset_fit`).
Chosen before the run's identity is computed, so the run hash is that of the networks trained."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from harness.config import build_config, parse_override
from harness.config.cards import Card, DataError, load_card
from harness.config.locations import foreign_urls, image_folder
from harness.config.preset_fit import PresetShape, family, fitting, preset_shape, resize_hint, shape_text
from harness.config.presets import DEFAULT_METHOD, preset_folders, preset_names
from harness.core.errors import ConfigError
from harness.core.launch_env import launch_int
from harness.data.foreign import first_image_shape
from harness.data.image_folder import shard_urls
from harness.data.remote import Limits


def _card(name: str) -> Card | None:
    try:
        return load_card(name)
    except DataError:
        return None


def _names(presets: list[PresetShape]) -> str:
    return ", ".join(p.name for p in presets)


def data_name(cfg: Any, config: str | None, explicit: set[str]) -> str:
    """The name tables give shards the harness did not build when ``data.dataset`` was not set and the preset's is a
    card's (a shipped preset names its own dataset, which these images are not): the image folder's name, or the
    folder of the first training shard; empty otherwise. Reads no shard."""
    if "data.dataset" in explicit or (config and config not in preset_names()):
        return ""
    urls = foreign_urls(cfg, cfg.data.dataset)
    folder = image_folder(cfg, cfg.data.dataset) if urls is None else None
    if folder is not None:
        return folder.resolve().name
    if not urls or urls["train"][0].startswith("pipe:"):
        return "shards" if urls else ""
    return PurePosixPath(urls["train"][0].split("://")[-1]).parent.name or "shards"


def run_preset(config: str | None, overrides: list[str], default: str, check: bool = True) -> tuple[str, list[str]]:
    """The preset (name or path) a run of ``overrides`` uses, and the overrides to add (``data.dataset`` of shards the
    harness did not build, :func:`data_name`). On foreign shards: ``config`` when its networks take their images,
    else ConfigError naming the shape and the presets that fit; without ``config``, the preset that fits the images,
    said in one line (ConfigError when none does). On built shards: ``config`` or ``default``. ``check=False`` takes a
    given ``config`` as it is, reading no shard (``--print-config``)."""
    explicit = {parse_override(text)[0] for text in overrides}
    name = data_name(build_config(config or default, overrides), config, explicit)
    named = [f"data.dataset={name}"] if name else []
    preset = config if config and not check else _choose(config, [*overrides, *named], default, explicit)
    if named and "name" not in explicit:  # the run folder too: <method>-<these shards>, not the preset's dataset
        named.append(f"name={build_config(preset, [*overrides, *named]).method}-{name}")
    if named and check and launch_int("RANK", 0) == 0:
        print(f"data.dataset={name}: the name tables give these shards (set data.dataset to choose another)",
              flush=True)  # fmt: skip
    return preset, named


def _choose(config: str | None, overrides: list[str], default: str, explicit: set[str]) -> str:
    cfg = build_config(config or default, overrides)
    card = _card(cfg.data.dataset)
    urls = shard_urls(cfg, card.name if card is not None else cfg.data.dataset, progress=launch_int("RANK", 0) == 0)
    if urls is None:
        return config or default
    first = urls["train"][0]
    shape = first_image_shape(first, Limits.of(cfg.data))
    size = cfg.data.image_size if "data.image_size" in explicit else 0
    resized = f", resized to {size}x{size} by data.image_size" if size else ""
    images = f"{shape_text(shape)} images (first shard: {first}{resized})"
    if config:
        mine = preset_shape(config)
        if mine is None or mine.fits(shape, size):
            return config
        others = fitting(family(cfg.method), shape, size)
        fit = f"presets that fit: {_names(others)}" if others else _none_fit(family(cfg.method), shape)
        raise ConfigError(
            f"--config {config}: its networks take {mine.sizes()} images; the training shards hold {images}; {fit}"
        )
    method = cfg.method if "method" in explicit and cfg.method in preset_folders() else DEFAULT_METHOD
    presets = family(method)
    found = fitting(presets, shape, size, prefer=cfg.data.dataset if "data.dataset" in explicit else "")
    if not found:
        raise ConfigError(f"the training shards hold {images}; {_none_fit(presets, shape)}")
    chosen = found[0]
    also = "".join(f"; {p.name} fits too (--config {p.name})" for p in found[1:])
    if launch_int("RANK", 0) == 0:  # one line per launch, not per rank
        print(f"preset: {chosen.name} (no --config given): its networks take the training shards' {images}{also}",
              flush=True)  # fmt: skip
    return chosen.name


def _none_fit(presets: list[PresetShape], shape: tuple[int, int, int]) -> str:
    hint = resize_hint(presets, shape)
    every = "; ".join(p.describe() for p in presets)
    return (f"no preset's networks take them ({every}): set {hint or 'data.image_size'} to resize them on the"
            " device, or pass --config with a preset of your own")  # fmt: skip
