"""Two methods of a trade-off sweep compared weight by weight: the claim a trade-off figure makes, settled on data.

At each value ``w`` both methods ran at (CoDeGAN's ``beta_c = w`` against InfoGAN's ``lambda_mi = w``), each
method's final ACC and FID over seeds (mean, sample std, n) and the difference A - B of the means with a bootstrap
95 % interval (``scipy.stats.bootstrap``, percentile method, seeds resampled within each method: the two methods'
seeds are not paired). Then one sentence: at how many weights A has both the higher ACC and the lower FID, at how
many it is better on one axis only, and at which weights an interval includes 0. Then the Pareto fronts: each
method's own, and whose points make up the joint front along the FID axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.runs.results import method_label

RESAMPLES = 10_000
ACC = "final/eval/acc"


def _done(results: pd.DataFrame) -> pd.DataFrame:
    done = results[results["status"] == "complete"] if "status" in results else results
    if "duplicate_of" in done:
        done = done[done["duplicate_of"].fillna("") == ""]
    return done


def _samples(results: pd.DataFrame, method: str, weight_key: str, fid: str) -> dict[float, pd.DataFrame]:
    col = f"param/{weight_key}"
    rows = results[results["method"] == method]
    if col not in rows or rows.empty:
        return {}
    rows = rows[pd.to_numeric(rows[col], errors="coerce").notna()]
    return {float(w): part[[ACC, fid]].astype(float).dropna() for w, part in rows.groupby(col)}


def interval(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its bootstrap 95 % percentile interval (NaN bounds with fewer than 2 of either)."""
    from scipy.stats import bootstrap  # scipy.stats takes half a second to import: --help stays fast

    diff = float(np.mean(a) - np.mean(b))
    if len(a) < 2 or len(b) < 2:
        return diff, float("nan"), float("nan")
    res = bootstrap(
        (a, b),
        lambda x, y, axis=-1: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        n_resamples=RESAMPLES,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return diff, float(res.confidence_interval.low), float(res.confidence_interval.high)


def compare(results: pd.DataFrame, a: str, b: str, weight_keys: dict[str, str], fid: str) -> pd.DataFrame:
    """One row per weight both methods ran at: n, mean and sample std of ACC and FID per method, the
    differences a - b with their intervals, and which axes favour ``a`` (higher ACC, lower FID)."""
    done = _done(results)
    sa = _samples(done, a, weight_keys.get(a, ""), fid)
    sb = _samples(done, b, weight_keys.get(b, ""), fid)
    rows = []
    for w in sorted(set(sa) & set(sb)):
        row: dict[str, Any] = {"weight": w}
        for name, s in ((a, sa[w]), (b, sb[w])):
            row[f"{name}_n"] = len(s)
            for metric, col in (("acc", ACC), ("fid", fid)):
                row[f"{name}_{metric}_mean"] = float(s[col].mean())
                row[f"{name}_{metric}_std"] = float(s[col].std(ddof=1)) if len(s) > 1 else float("nan")
        for metric, col in (("acc", ACC), ("fid", fid)):
            d, lo, hi = interval(sa[w][col].to_numpy(), sb[w][col].to_numpy())
            row[f"diff_{metric}"], row[f"diff_{metric}_lo"], row[f"diff_{metric}_hi"] = d, lo, hi
            row[f"{metric}_interval_has_0"] = not (lo > 0 or hi < 0)
        row["better_acc"], row["better_fid"] = row["diff_acc"] > 0, row["diff_fid"] < 0
        rows.append(row)
    return pd.DataFrame(rows)


def _weights(values: list[float]) -> str:
    return ", ".join(f"{v:g}" for v in values) if values else "none"


def no_comparison(results: pd.DataFrame, a: str, b: str, weight_keys: dict[str, str]) -> str:
    """Why a sweep of both methods has no weight to compare them at, and what to change to get one: grids without a
    common value, or runs at the common values that did not complete."""
    swept, done = {}, {}
    for method in (a, b):
        col = f"param/{weight_keys.get(method, '')}"
        rows = results[results["method"] == method] if "method" in results else results.iloc[:0]
        values = pd.to_numeric(rows[col], errors="coerce") if col in rows else pd.Series(dtype=float)
        swept[method] = sorted(set(values.dropna()))
        ok = _done(rows).index
        done[method] = sorted(set(values[values.index.isin(ok)].dropna()))
    la, lb = method_label({"method": a}), method_label({"method": b})
    ka, kb = (weight_keys.get(m, "?").split(".")[-1] for m in (a, b))
    common = sorted(set(swept[a]) & set(swept[b]))
    if not common:
        return (
            f"No weight-by-weight comparison: the sweep gives {la}'s {ka} the values {_weights(swept[a])} and {lb}'s"
            f" {kb} the values {_weights(swept[b])}, none in common. To compare the two methods, give both grids at"
            f" least one common value in the sweep file (for example {ka} and {kb} both at"
            f" {_weights(swept[a][:1] or swept[b][:1])})."
        )
    return (
        f"No weight-by-weight comparison yet: both methods were swept at {_weights(common)}, but no such weight has"
        f" complete runs of both ({la} at {_weights(done[a])}, {lb} at {_weights(done[b])}). Finish the sweep"
        " (run it again with --resume) to compare them."
    )


def verdict(table: pd.DataFrame, a: str, b: str, why: str = "") -> str:
    """The one sentence on the weight-by-weight comparison; with no common weight, ``why`` (:func:`no_comparison`)."""
    if table.empty:
        return why or (
            f"No weight has complete runs of both {method_label({'method': a})} and {method_label({'method': b})}:"
            " give both methods' weight grids a common value in the sweep file to compare them."
        )
    la, lb = method_label({"method": a}), method_label({"method": b})
    both = table[table["better_acc"] & table["better_fid"]]["weight"].tolist()
    acc_only = table[table["better_acc"] & ~table["better_fid"]]["weight"].tolist()
    fid_only = table[~table["better_acc"] & table["better_fid"]]["weight"].tolist()
    neither = table[~table["better_acc"] & ~table["better_fid"]]["weight"].tolist()
    acc_0 = table[table["acc_interval_has_0"]]["weight"].tolist()
    fid_0 = table[table["fid_interval_has_0"]]["weight"].tolist()
    return (
        f"Of {len(table)} weights, {la} has both the higher mean ACC and the lower mean FID than {lb} at"
        f" {len(both)} ({_weights(both)}), the higher ACC only at {len(acc_only)} ({_weights(acc_only)}), the"
        f" lower FID only at {len(fid_only)} ({_weights(fid_only)}) and neither at {len(neither)}"
        f" ({_weights(neither)}); the 95 % interval of the ACC difference includes 0 at {_weights(acc_0)} and that"
        f" of the FID difference at {_weights(fid_0)}."
    )


def front(points: pd.DataFrame, acc: str, fid: str) -> pd.DataFrame:
    """Points no other point of ``points`` beats on both mean ACC (higher) and mean FID (lower), by FID."""
    keep = [
        i
        for i, p in points.iterrows()
        if not (
            (points[acc] >= p[acc]) & (points[fid] <= p[fid]) & ((points[acc] > p[acc]) | (points[fid] < p[fid]))
        ).any()
    ]
    return points.loc[keep].sort_values(fid)


def fronts_sentence(curve_df: pd.DataFrame, fid_mean: str) -> str:
    """Each method's Pareto front (its weights) and, along the FID axis, whose points make up the joint front."""
    acc = "eval/acc_mean"
    if curve_df.empty or fid_mean not in curve_df:
        return ""
    points = curve_df.dropna(subset=[acc, fid_mean])
    own = []
    for curve, c in points.groupby("curve", sort=True):
        f = front(c, acc, fid_mean)
        own.append(f"{method_label({'method': c['method'].iloc[0]})}{curve.removeprefix(c['method'].iloc[0])}:"
                   f" {_weights(f['weight'].tolist())}")  # fmt: skip
    joint = front(points, acc, fid_mean)
    runs: list[tuple[str, list[float], list[float]]] = []  # (curve, weights, FIDs) of consecutive joint points
    for _, p in joint.iterrows():
        label = method_label({"method": p["method"]}) + str(p["curve"]).removeprefix(str(p["method"]))
        if runs and runs[-1][0] == label:
            runs[-1][1].append(p["weight"])
            runs[-1][2].append(p[fid_mean])
        else:
            runs.append((label, [p["weight"]], [p[fid_mean]]))
    name = fid_mean.removeprefix("eval/fid_").removesuffix("_mean")
    spans = "; ".join(
        f"FID ({name}) {min(f):.2f}–{max(f):.2f}: {curve} at {_weights(w)}" if len(f) > 1
        else f"FID ({name}) {f[0]:.2f}: {curve} at {_weights(w)}"
        for curve, w, f in runs
    )  # fmt: skip
    return f"Each method's own Pareto front (weights): {'; '.join(own)}. The joint front, by FID: {spans}."


def start_rows(results: pd.DataFrame, fid: str, weight_keys: dict[str, str]) -> pd.DataFrame:
    """The networks at step 0 (``train.eval_at_start``) per method and per swept value other than its weight and the
    seed (``codegan.pretrain=simclr`` starts from another E_c): mean, sample std and n of ACC and FID, one run per
    seed, as the weight does not change a seed's untrained networks."""
    acc0, fid0 = "start/eval/acc", fid.replace("final/", "start/", 1)
    done = _done(results)
    if acc0 not in done:
        return pd.DataFrame()
    rows = []
    for method, part in done.groupby("method"):
        skip = {"param/method", "param/seed", f"param/{weight_keys.get(method, '')}"}
        others = [c for c in part.columns if c.startswith("param/") and c not in skip and part[c].notna().any()]
        for values, group in part.groupby(others, dropna=False) if others else [((), part)]:
            values = values if isinstance(values, tuple) else (values,)
            group = group.drop_duplicates("seed")
            label = method + "".join(f" {c.split('.')[-1]}={v}" for c, v in zip(others, values, strict=True))
            row: dict[str, Any] = {"method": method, "label": label, "n": int(group[acc0].notna().sum())}
            for metric, col in (("acc", acc0), ("fid", fid0)):
                v = group[col].dropna().astype(float) if col in group else pd.Series(dtype=float)
                row[f"{metric}_mean"] = float(v.mean()) if len(v) else float("nan")
                row[f"{metric}_std"] = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def _pm(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if pd.isna(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _ci(d: float, lo: float, hi: float, digits: int) -> str:
    return f"{d:+.{digits}f}" if pd.isna(lo) else f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def markdown(table: pd.DataFrame, a: str, b: str, fid: str, fronts: str, start: pd.DataFrame, why: str = "") -> str:
    """The comparison table, its sentence (``why`` where no weight has both methods), the fronts' sentence and the
    step-0 rows."""
    la, lb = method_label({"method": a}), method_label({"method": b})
    name = fid.removeprefix("final/eval/fid_")
    lines = [f"| weight | n | {la} ACC | {lb} ACC | ACC {la} − {lb} [95 % CI] | {la} FID ({name}) |"
             f" {lb} FID ({name}) | FID {la} − {lb} [95 % CI] |", "| --- " * 8 + "|"]  # fmt: skip
    for r in table.itertuples():
        row = r._asdict()
        acc = [_pm(row[f"{m}_acc_mean"], row[f"{m}_acc_std"], 3) for m in (a, b)]
        fids = [_pm(row[f"{m}_fid_mean"], row[f"{m}_fid_std"], 2) for m in (a, b)]
        d_acc = _ci(r.diff_acc, r.diff_acc_lo, r.diff_acc_hi, 3)
        d_fid = _ci(r.diff_fid, r.diff_fid_lo, r.diff_fid_hi, 2)
        cells = [f"{r.weight:g}", f"{row[f'{a}_n']}/{row[f'{b}_n']}", *acc, d_acc, *fids, d_fid]
        lines.append("| " + " | ".join(cells) + " |")
    if table.empty:  # nothing to tabulate: what to change instead of an empty table
        out = verdict(table, a, b, why) + "\n"
    else:
        out = "\n".join(lines) + "\n\n" + verdict(table, a, b) + "\n"
        out += (f"\nThe weight is {la}'s and {lb}'s own disentanglement weight set to the same value; n counts seeds"
                f" ({la}/{lb}); ± is the sample standard deviation over seeds (ddof = 1); the interval resamples each"
                f" method's seeds ({RESAMPLES:,} bootstrap resamples, percentile).\n")  # fmt: skip
    if fronts:
        out += "\n" + fronts + "\n"
    return out + start_markdown(start, fid)


def start_markdown(start: pd.DataFrame, fid: str) -> str:
    """The step-0 rows as a table with its heading ("" when no run evaluated at step 0)."""
    if start.empty:
        return ""
    name = fid.removeprefix("final/eval/fid_")
    out = "\nStep 0, the untrained networks (one per seed; the weight does not change them):\n\n"
    out += f"| method | n | ACC | FID ({name}) |\n| --- | --- | --- | --- |\n"
    for r in start.itertuples():
        label = method_label({"method": r.method}) + r.label.removeprefix(r.method)
        out += f"| {label} | {r.n} | {_pm(r.acc_mean, r.acc_std, 3)} |"
        out += f" {_pm(r.fid_mean, r.fid_std, 2)} |\n"
    return out
