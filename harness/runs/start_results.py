"""The untrained networks as results: each complete run's evaluation at step 0 (``train.eval_at_start``).

A step-0 evaluation measures the networks before their first update, so the keys that act only through the
losses or the optimizer (loss weights, learning rates, Adam's settings, the gradient penalty, the schedule)
cannot change it: runs that differ only in such keys measured the same untrained networks at one seed. In a
step-0 result's identity those keys read ``any`` where they differ between the runs of one method, so the runs
pool as one result with one model per seed (``tests/test_start_results.py`` checks that two such runs measure the
very same numbers at step 0).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from harness.config.registry import entries
from harness.runs.identity import result_key
from harness.runs.results import Record
from harness.runs.track import evaluations

ANY = "any"
# the shared keys that act only through the optimizers; each method's entry names its own (loss weights)
UPDATE_ONLY = frozenset(
    {"train.lr_g", "train.lr_d", "train.lr_e", "train.betas", "train.weight_decay", "train.gp_weight", "train.lr_decay"}
)


def update_only_keys() -> frozenset[str]:
    """The training keys that act only from the first update on: :data:`UPDATE_ONLY`, and what each method (a
    plugin's too) declares as acting only through its losses (its ``update_only`` keys and its trade-off weight)."""
    own = {k for e in entries().values() for k in (*e.update_only, e.weight_key) if k}
    return UPDATE_ONLY | own


def step0_eval(run: Path) -> dict[str, float] | None:
    """The ``eval/`` scores a run folder's ``metrics.jsonl`` holds for step 0; None when it did not evaluate there."""
    line = evaluations(run, last=0).get(0)
    if line is None:
        return None
    return {k: v for k, v in line.items()
            if k.startswith("eval/") and isinstance(v, (int, float)) and not isinstance(v, bool)}  # fmt: skip


def _family(identity: dict[str, Any], free: frozenset[str]) -> str:
    """What must match for two runs' step-0 results to pool: the identity without the keys in ``free``."""
    train = {k: v for k, v in identity.get("train", {}).items() if k not in free}
    return json.dumps({**identity, "train": train, "step": 0}, sort_keys=True, default=str)


def start_records(records: list[Record]) -> list[Record]:
    """A step-0 record for each run's own summary among ``records`` whose run evaluated at step 0: the run's
    identity at step 0, the update-only keys that differ within its family set to ``any``, counted once per seed."""
    found = []
    for r in records:
        if r.kind != "summary" or not r.identity.get("step"):
            continue
        scores = step0_eval(Path(r.run))
        if scores is not None:
            found.append((r, scores))
    free = update_only_keys()
    values: dict[str, dict[str, set[str]]] = {}
    for r, _ in found:
        seen = values.setdefault(_family(r.identity, free), {})
        for k, v in r.identity.get("train", {}).items():
            if k in free:
                seen.setdefault(k, set()).add(json.dumps(v, default=str))
    varying = {family: {k for k, v in seen.items() if len(v) > 1} for family, seen in values.items()}
    out = []
    for r, scores in found:
        identity = copy.deepcopy(r.identity)
        identity["step"] = 0
        for k in varying[_family(r.identity, free)]:
            identity["train"][k] = ANY
        key = result_key(identity)
        out.append(Record(source=f"{r.run}/metrics.jsonl", kind="start", dataset=r.dataset, seed=r.seed, run=r.run,
                          run_hash=f"{key}@seed{r.seed}", eval_hash=r.eval_hash, identity=identity, key=key,
                          metrics=scores, time=r.time))  # fmt: skip
    return out
