"""codegan-bench: a benchmark harness for unsupervised class disentanglement in GANs.

The folders are the layers, each importing only from those before it (docs/architecture.md):
``core`` < ``config`` < ``data``, ``nets``, ``parallel`` < ``methods``, ``metrics`` < ``runs`` < ``training`` <
``commands``. Modules that moved when the layers became folders are still found under their old names for one
release (``harness.gan`` is ``harness.methods.gan``, ``harness.catalogue`` is ``harness.config.registry``, ...),
with a warning naming the new place.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

# the modules that moved: old name -> new name (plugins written against the flat layout keep importing)
MOVED = {
    "harness.adversarial": "harness.methods.adversarial",
    "harness.atomic": "harness.core.atomic",
    "harness.augment": "codegan.augment",
    "harness.cache": "harness.core.cache",
    "harness.cadence": "harness.training.cadence",
    "harness.catalogue": "harness.config.registry",
    "harness.checkpoint": "harness.runs.checkpoint",
    "harness.cli": "harness.core.exits",
    "harness.determinism": "harness.parallel.determinism",
    "harness.distributed": "harness.parallel.distributed",
    "harness.ema": "harness.training.ema",
    "harness.errors": "harness.core.errors",
    "harness.gan": "harness.methods.gan",
    "harness.graph_step": "harness.methods.graph_step",
    "harness.guard": "harness.training.guard",
    "harness.identity": "harness.runs.identity",
    "harness.identity_versions": "harness.runs.identity_versions",
    "harness.launch_env": "harness.core.launch_env",
    "harness.method": "harness.methods.contract",
    "harness.presets": "harness.config.presets",
    "harness.progress": "harness.core.progress",
    "harness.registry": "harness.config.registry",
    "harness.result_files": "harness.runs.result_files",
    "harness.results": "harness.runs.results",
    "harness.rundir": "harness.runs.folder",
    "harness.runlock": "harness.runs.lock",
    "harness.runtime": "harness.parallel.accelerator",
    "harness.seeding": "harness.core.seeding",
    "harness.start_results": "harness.runs.start_results",
    "harness.step_options": "harness.methods.step_options",
    "harness.threads": "harness.parallel.threads",
    "harness.track": "harness.runs.track",
    "harness.train": "harness.training.trainer",
    "harness.data.cards": "harness.config.cards",
    "harness.data.run_data": "harness.training.run_data",
    "harness.data.shard_urls": "harness.config.locations",
    "harness.evaluate": "harness.metrics",
    "harness.evaluate.cluster": "harness.metrics.cluster",
    "harness.evaluate.domain": "harness.metrics.domain",
    "harness.evaluate.extractors": "harness.metrics.extractors",
    "harness.evaluate.fid": "harness.metrics.features",
    "harness.evaluate.grids": "harness.metrics.grids",
    "harness.evaluate.pixels": "harness.metrics.pixels",
    "harness.evaluate.quality": "harness.metrics.quality",
    "harness.evaluate.rescore": "harness.commands.rescore",
    "harness.evaluate.score": "harness.commands.score",
    "harness.evaluate.suite": "harness.metrics.suite",
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a moved module under its old name: a module of that name standing for the new one (the same classes and
    functions), with a FutureWarning that names where to import it from."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {new}; import it from there (the old name goes in the next release)",
            FutureWarning,
            stacklevel=3,
        )
        target = importlib.import_module(new)
        module.__dict__.update({k: v for k, v in vars(target).items() if not k.startswith("__")})
        module.__getattr__ = lambda attr: getattr(target, attr)  # type: ignore[method-assign]
        if hasattr(target, "__path__"):
            module.__path__ = []  # a package: its moved submodules are found by their own names above


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedFinder())
