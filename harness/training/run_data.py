"""The data of one run: where its shards are, their manifest, the image size, and the evaluation split.

Three kinds of input: shards the harness built (``<root>/<dataset>/`` with ``manifest.json``, built on
first use), the same served from a URL prefix or ``pipe:`` command, and shards it did not build
(webdataset URLs in ``data.train_urls``/``data.eval_urls`` or a brace pattern as ``data.root``, or a folder
of ``.tar`` files without a manifest), which are scanned once (:mod:`harness.data.foreign`), a folder of images
among them (:mod:`harness.data.image_folder`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from harness.config import Config
from harness.config.cards import Card, DataError, load_card
from harness.data.build import ensure_built
from harness.data.foreign import scan
from harness.data.image_folder import shard_urls
from harness.data.manifest import Manifest, dataset_location, is_remote, read_manifest, shard_problems
from harness.data.remote import Limits
from harness.data.stream import load_split
from harness.training.unlabelled import check_extractors, class_codes


def _first(acc: Any) -> Any:
    """The main process goes first (it builds or scans; the others then read its files or cache)."""
    return acc.main_process_first() if acc is not None else contextlib.nullcontext()


def _card(name: str) -> Card | None:
    try:
        return load_card(name)
    except DataError:
        return None


def shard_location(cfg: Config, main: bool, acc: Any = None) -> tuple[str, Manifest, bool]:
    """(location, manifest, foreign) of a run's shards; builds harness shards on first use (main first)."""
    card = _card(cfg.data.dataset)
    name = card.name if card is not None else cfg.data.dataset
    urls = shard_urls(cfg, name, progress=main)
    if urls is not None:
        if cfg.eval.split not in urls:
            raise DataError(
                f"no held-out shards for eval.split={cfg.eval.split}: pass data.eval_urls=... (or name them"
                " test-*.tar in the folder), or set eval.split=train to score the training shards"
            )
        with _first(acc):
            return "", scan(urls, name, card, progress=main, limits=Limits.of(cfg.data)), True
    if card is None:
        load_card(cfg.data.dataset)  # raises the message naming the known cards
    if is_remote(cfg.data.root):  # shards served from elsewhere (http, pipe: command); never built here
        location = dataset_location(cfg.data.root, card.name)
        return location, read_manifest(location, Limits.of(cfg.data)), False
    with _first(acc):
        location = str(ensure_built(cfg.data.dataset, cfg.data.root, progress=main))
    return location, read_manifest(location), False


class RunData:
    """Shards located, checked and the eval split loaded. Every rank calls it; only the main process
    verifies hashes and holds the evaluation split."""

    def __init__(self, cfg: Config, acc: Any):
        main = acc.is_main_process
        self.location, self.manifest, self.foreign = shard_location(cfg, main, acc)
        self.bad_shards = 0
        if main and cfg.data.verify and not self.foreign and not is_remote(self.location):
            problems = shard_problems(self.location, self.manifest, ["train", cfg.eval.split])
            if problems and cfg.data.on_error == "stop":
                raise DataError(problems[0] + " (data.on_error=skip reads what it can)")
            for problem in problems:
                print(f"warning: {problem}; reading it sample by sample (data.on_error=skip)")
            self.bad_shards = len(problems)
        self.size = cfg.data.image_size or self.manifest.shape[1]
        card = _card(cfg.data.dataset)
        self.classes = class_codes(cfg, self.manifest, card)  # K: the labels', or data.classes for unlabelled shards
        if not self.manifest.labelled:
            check_extractors(cfg)
        self.class_names = list(card.class_names) if card is not None and card.class_names else None
        self.eval_data: dict[str, Any] | None = None
        if main:
            limits = Limits.of(cfg.data)
            self.eval_data = load_split(self.location, self.manifest, cfg.eval.split, cfg.data.on_error, limits)
            if int(self.eval_data["skipped"]):
                print(f"warning: skipped {int(self.eval_data['skipped'])} bad samples of the {cfg.eval.split} split")
