"""The data of one run: where its shards are, their manifest, the image size, and the evaluation split."""

from __future__ import annotations

from typing import Any

from harness.config import Config
from harness.data.build import ensure_built
from harness.data.cards import DataError, load_card
from harness.data.manifest import dataset_location, is_remote, read_manifest, shard_problems
from harness.data.stream import load_split


class RunData:
    """Shards located (built on first use, on the main process first), checked and the eval split loaded.

    Every rank calls it; only the main process verifies hashes and holds the evaluation split.
    """

    def __init__(self, cfg: Config, acc: Any):
        card = load_card(cfg.data.dataset)
        main = acc.is_main_process
        if is_remote(cfg.data.root):  # shards served from elsewhere (http, pipe: command); never built here
            self.location = dataset_location(cfg.data.root, card.name)
        else:
            with acc.main_process_first():
                self.location = str(ensure_built(cfg.data.dataset, cfg.data.root, progress=main))
        self.manifest = read_manifest(self.location)
        self.bad_shards = 0
        if main and cfg.data.verify and not is_remote(self.location):
            problems = shard_problems(self.location, self.manifest, ["train", cfg.eval.split])
            if problems and cfg.data.on_error == "stop":
                raise DataError(problems[0] + " (data.on_error=skip reads what it can)")
            for problem in problems:
                print(f"warning: {problem}; reading it sample by sample (data.on_error=skip)")
            self.bad_shards = len(problems)
        self.size = cfg.data.image_size or card.shape[1]
        self.eval_data: dict[str, Any] | None = None
        if main:
            self.eval_data = load_split(self.location, self.manifest, cfg.eval.split, cfg.data.on_error)
            if int(self.eval_data["skipped"]):
                print(f"warning: skipped {int(self.eval_data['skipped'])} bad samples of the {cfg.eval.split} split")
