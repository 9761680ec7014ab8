"""What every figure of scores carries: axes that do not exaggerate, labelled reference lines, the caption of its bars.

* A score axis (ACC, NMI, ARI: in [0, 1]) spans at least :data:`SCORE_SPAN`, so two means 0.004 apart never fill
  a panel; an FID axis on a linear scale starts at 0.
* The references are what needs no training (k-means on raw pixels) and what had none yet (the untrained
  networks, step 0), each a labelled line with its value.
* Bars and bands are the tables' own spread: mean ± one sample standard deviation over seeds (ddof = 1), with n.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SCORE_SPAN = 0.2  # the narrowest ACC/NMI/ARI axis
PIXELS_NAME = "k-means on raw pixels"
NO_START = "no step-0 evaluation in these runs (train.eval_at_start=true records one)"
NO_PIXELS = "no pixel baseline in these runs (eval.pixel_baseline=true computes one)"


@dataclass(frozen=True)
class Reference:
    """A score reached without training: k-means on raw pixels (``method`` None) or a method's untrained networks."""

    label: str
    acc: float
    fid: float | None = None
    method: str | None = None


def pixel_reference(acc: float, dataset: str = "") -> Reference:
    where = f" ({dataset})" if dataset else ""
    return Reference(f"{PIXELS_NAME}{where}: ACC {acc:.3f}", acc)


def start_reference(name: str, n: int, acc: float, fid: float | None, method: str) -> Reference:
    """The untrained networks of ``name`` (a method and what tells its start apart), ``n`` seeds."""
    fid_text = f", FID {fid:.1f}" if fid is not None and math.isfinite(fid) else ""
    return Reference(f"{name} untrained (step 0, n={n}): ACC {acc:.3f}{fid_text}", acc, fid, method)


def score_limits(values: Iterable[float], span: float = SCORE_SPAN) -> tuple[float, float]:
    """Limits of a [0, 1] score axis holding ``values``: padded by 5 % of their range, at least ``span`` wide,
    kept inside [0, 1] (or the values' own range where they leave it, as an ARI below 0 does)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    pad = 0.05 * (hi - lo)
    floor, ceil = (0.0 if lo >= 0 else lo - pad), (1.0 if hi <= 1 else hi + pad)
    lo, hi = lo - pad, hi + pad
    if hi - lo < span:
        mid = (lo + hi) / 2
        lo, hi = mid - span / 2, mid + span / 2
    if lo < floor:
        lo, hi = floor, hi + (floor - lo)
    if hi > ceil:
        lo, hi = lo - (hi - ceil), ceil
    return max(lo, floor), min(hi, ceil)


def fid_limits(values: Iterable[float]) -> tuple[float, float]:
    """Limits of a linear FID axis holding ``values``: from 0 (a perfect FID) to 5 % past the largest."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return 0.0, (max(finite) * 1.05 if finite and max(finite) > 0 else 1.0)


def _counts(ns: Iterable[Any]) -> list[int]:
    """The seed counts among ``ns`` (numbers of any numeric type; anything else left out)."""
    return [int(n) for n in ns if isinstance(n, numbers.Real) and math.isfinite(n)]


def n_text(ns: Iterable[Any]) -> str:
    """``n = 2`` or ``n = 1–3`` (seeds)."""
    distinct = sorted(set(_counts(ns)))
    if not distinct:
        return "n = ?"
    return f"n = {distinct[0]}" if len(distinct) == 1 else f"n = {distinct[0]}–{distinct[-1]}"


def spread_caption(what: str, ns: Iterable[Any]) -> str:
    """What each bar or band is, with n: the tables' spread, one sample standard deviation (not an interval)."""
    ns = _counts(ns)
    if ns and set(ns) == {1}:
        return f"{what}: none, n = 1 (a sample standard deviation needs two seeds)"
    single = "; none where n = 1" if 1 in ns else ""
    return f"{what}: mean ± 1 sample standard deviation over seeds (ddof = 1, as in the tables), {n_text(ns)}{single}"


def missing_references(refs: list[Reference]) -> str:
    """What a figure lacks of its references, to say on it ("" when it has both kinds)."""
    pixels, start = any(r.method is None for r in refs), any(r.method is not None for r in refs)
    return "; ".join([*([] if pixels else [NO_PIXELS]), *([] if start else [NO_START])])


def draw_references(
    ax: Any, refs: list[Reference], colours: dict[str, Any], at: str = "acc", fid_axis: bool = False
) -> list[float]:
    """Each reference as a labelled horizontal line at its ACC (``at="fid"``: at its FID, where it has one): the
    pixel baseline grey and dashed, a method's untrained networks dotted in the method's colour. On an
    ACC-against-FID panel (``fid_axis``) also a vertical line at the untrained networks' FID where it lies within
    the panel's FID range. Returns the values drawn."""
    drawn = []
    right = ax.get_xlim()[1] if fid_axis else None
    for ref in refs:
        value = ref.fid if at == "fid" else ref.acc
        if value is None or not math.isfinite(value):
            continue
        colour = "grey" if ref.method is None else colours.get(ref.method, "black")
        style = "--" if ref.method is None else ":"
        ax.axhline(value, color=colour, ls=style, lw=1.2, label=ref.label, zorder=1)
        drawn.append(value)
        if fid_axis and ref.fid is not None and right is not None and 0 < ref.fid <= right:
            ax.axvline(ref.fid, color=colour, ls=style, lw=1.2, zorder=1)
            ax.annotate(" step 0", (ref.fid, 1), xycoords=("data", "axes fraction"), rotation=90, va="top",
                        fontsize=7, color=colour)  # fmt: skip
    return drawn
