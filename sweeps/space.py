"""Expanding a sweep's search space into an explicit, numbered list of trials.

Each group is a product of its dimensions; groups are concatenated (a union: CoDeGAN's beta_c grid and
InfoGAN's lambda_mi grid need not be crossed). Grid dimensions are enumerated; random dimensions are
drawn ``samples`` times per grid point from a generator seeded by the sweep's name, so the same sweep
file always means the same trials, and trial ``i`` can be named, rerun and compared.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Any

import numpy as np

from sweeps.spec import SweepSpec


def _draw(kind: str, values: Any, rng: np.random.Generator) -> Any:
    if kind == "choice":
        return values[int(rng.integers(len(values)))]
    lo, hi = values
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if kind == "randint":
        return int(rng.integers(lo, hi))
    raise ValueError(kind)


def expand(spec: SweepSpec) -> list[dict[str, Any]]:
    """The trials: one dict of dotted config keys -> values each (always with ``method``)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(spec.name.encode()).digest()[:4], "little"))
    default_method = next(iter(spec.presets))
    trials = []
    for group in spec.groups:
        grid = {
            k: (v if isinstance(v, list) else v["grid"]) for k, v in group.items() if isinstance(v, list) or "grid" in v
        }
        random = {k: next(iter(v.items())) for k, v in group.items() if k not in grid}
        keys = list(grid)
        for point in itertools.product(*(grid[k] for k in keys)):
            for _ in range(spec.samples if random else 1):
                trial = {"method": default_method, **dict(zip(keys, point, strict=True))}
                trial.update({k: _draw(kind, vals, rng) for k, (kind, vals) in random.items()})
                trials.append(trial)
    return trials
