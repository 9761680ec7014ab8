"""Two methods of a trade-off sweep compared weight by weight: differences with bootstrap intervals, the sentence
that settles the claim, the Pareto fronts along the FID axis, and the untrained networks once per seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sweeps.contrast import compare, fronts_sentence, interval, markdown, no_comparison, start_rows, verdict
from sweeps.space import expand
from sweeps.spec import load_spec
from tests.launch import REPO

KEYS = {"codegan": "codegan.beta_c", "infogan": "baselines.lambda_mi"}
FID = "final/eval/fid_domain"


def _rows(method: str, weight: float, accs: list[float], fids: list[float], start_acc: float = 0.3) -> list[dict]:
    key = f"param/{KEYS[method]}"
    return [{"method": method, key: weight, "seed": s, "status": "complete", "duplicate_of": "",
             "final/eval/acc": a, FID: f, "start/eval/acc": start_acc + s / 100, "start/eval/fid_domain": 900.0 + s}
            for s, (a, f) in enumerate(zip(accs, fids, strict=True))]  # fmt: skip


@pytest.fixture
def results() -> pd.DataFrame:
    """At weight 1 CoDeGAN is ahead on ACC and, within the interval, on FID; at 10 behind on ACC and clearly ahead
    on FID; at 30 ahead on both; InfoGAN also ran at 0.1, which CoDeGAN did not."""
    rows = [
        *_rows("codegan", 1.0, [0.80, 0.82, 0.81], [5.0, 6.0, 7.0]),
        *_rows("infogan", 1.0, [0.60, 0.62, 0.61], [5.5, 6.5, 7.5]),
        *_rows("codegan", 10.0, [0.50, 0.52, 0.51], [2.0, 2.1, 2.2]),
        *_rows("infogan", 10.0, [0.70, 0.72, 0.71], [9.0, 9.1, 9.2]),
        *_rows("codegan", 30.0, [0.90, 0.91, 0.92], [1.0, 1.1, 1.2]),
        *_rows("infogan", 30.0, [0.40, 0.41, 0.42], [20.0, 21.0, 22.0]),
        *_rows("infogan", 0.1, [0.3, 0.3, 0.3], [3.0, 3.0, 3.0]),
    ]
    return pd.DataFrame(rows)


def test_each_shared_weight_has_both_methods_spread_and_a_difference_with_its_interval(results):
    t = compare(results, "codegan", "infogan", KEYS, FID).set_index("weight")
    assert list(t.index) == [1.0, 10.0, 30.0]  # 0.1: InfoGAN only
    r = t.loc[1.0]
    assert r["codegan_n"] == r["infogan_n"] == 3
    assert r["codegan_acc_mean"] == pytest.approx(0.81) and r["codegan_acc_std"] == pytest.approx(0.01)
    assert r["diff_acc"] == pytest.approx(0.20) and 0 < r["diff_acc_lo"] < 0.2 < r["diff_acc_hi"]
    assert r["diff_fid"] == pytest.approx(-0.5) and r["diff_fid_lo"] < 0 < r["diff_fid_hi"]
    assert not r["acc_interval_has_0"] and r["fid_interval_has_0"]


def test_the_interval_is_scipys_percentile_bootstrap_over_each_methods_seeds():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5, 1.0])
    d, lo, hi = interval(a, b)
    assert d == pytest.approx(1.5)
    # resampling within each method: the extremes are all-highest a minus all-lowest b, and the reverse
    assert 3.0 - 0.0 >= hi > d > lo >= 1.0 - 1.0
    assert interval(a, b) == interval(a, b)  # seeded
    assert np.isnan(interval(a[:1], b)[1])  # one seed: no interval


def test_the_sentence_counts_the_weights_on_each_side(results):
    t = compare(results, "codegan", "infogan", KEYS, FID)
    text = verdict(t, "codegan", "infogan")
    assert "Of 3 weights, CoDeGAN has both the higher mean ACC and the lower mean FID than InfoGAN at 2 (1, 30)" in text
    assert "the higher ACC only at 0 (none)" in text and "the lower FID only at 1 (10)" in text
    assert "neither at 0 (none)" in text and "ACC difference includes 0 at none" in text
    assert "FID difference at 1;" not in text and "FID difference at 1." in text
    flipped = verdict(compare(results, "infogan", "codegan", KEYS, FID), "infogan", "codegan")
    assert "InfoGAN has both the higher mean ACC and the lower mean FID than CoDeGAN at 0 (none)" in flipped
    assert "the higher ACC only at 1 (10)" in flipped and "neither at 2 (1, 30)" in flipped


def test_the_fronts_say_whose_points_make_the_joint_front_along_fid():
    points = [("infogan", 1.0, 0.60, 1.0), ("infogan", 3.0, 0.55, 2.0), ("codegan", 1.0, 0.70, 4.0),
              ("codegan", 10.0, 0.80, 6.0), ("codegan", 30.0, 0.75, 9.0)]  # fmt: skip
    cols = ["curve", "weight", "eval/acc_mean", "eval/fid_domain_mean"]
    cur = pd.DataFrame(points, columns=cols).assign(method=lambda d: d["curve"])
    text = fronts_sentence(cur, "eval/fid_domain_mean")
    assert "CoDeGAN: 1, 10" in text and "InfoGAN: 1;" not in text and "InfoGAN: 1." in text
    assert text.endswith("FID (domain) 1.00: InfoGAN at 1; FID (domain) 4.00–6.00: CoDeGAN at 1, 10.")


def test_the_untrained_networks_count_once_per_seed_whatever_the_weight(results):
    start = start_rows(results, FID, KEYS).set_index("method")
    assert start.loc["codegan", "n"] == 3  # three weights of the same three seeds
    assert start.loc["codegan", "acc_mean"] == pytest.approx(0.31) and start.loc["infogan", "n"] == 3
    pretrained = results.assign(
        **{"param/codegan.pretrain": ["none" if i % 2 else "simclr" for i in range(len(results))]}
    )
    split = start_rows(pretrained[pretrained["method"] == "codegan"], FID, KEYS)
    assert sorted(split["label"]) == ["codegan pretrain=none", "codegan pretrain=simclr"]  # another E_c at step 0


def test_the_markdown_has_the_table_the_sentence_and_step_0(results):
    t = compare(results, "codegan", "infogan", KEYS, FID)
    text = markdown(t, "codegan", "infogan", FID, "", start_rows(results, FID, KEYS))
    assert "| 1 | 3/3 | 0.810 ± 0.010 | 0.610 ± 0.010 | +0.200 [" in text
    assert verdict(t, "codegan", "infogan") in text and "Step 0, the untrained networks" in text


def test_the_smoke_sweep_compares_the_two_methods_at_common_weights_for_the_same_8_trials():
    spec = load_spec(REPO / "sweeps" / "smoke.yaml")
    trials = expand(spec)
    weights = {m: {t[spec.weight_keys[m]] for t in trials if t["method"] == m} for m in ("codegan", "infogan")}
    assert len(trials) == 8 and weights["codegan"] == weights["infogan"] == {1.0, 10.0}


def test_without_a_common_weight_the_comparison_says_what_to_change():
    apart = pd.DataFrame(
        [*_rows("codegan", 1.0, [0.8, 0.82], [5.0, 6.0]), *_rows("infogan", 0.1, [0.3, 0.3], [3.0, 3.0])]
    )
    t = compare(apart, "codegan", "infogan", KEYS, FID)
    why = no_comparison(apart, "codegan", "infogan", KEYS)
    assert t.empty and why == (
        "No weight-by-weight comparison: the sweep gives CoDeGAN's beta_c the values 1 and InfoGAN's lambda_mi the"
        " values 0.1, none in common. To compare the two methods, give both grids at least one common value in the"
        " sweep file (for example beta_c and lambda_mi both at 1)."
    )
    text = markdown(t, "codegan", "infogan", FID, "", pd.DataFrame(), why)
    assert text == why + "\n"  # no empty table, no note on intervals that were never computed

    late = pd.DataFrame(
        [*_rows("codegan", 10.0, [0.5, 0.52], [2.0, 2.1]), *_rows("infogan", 10.0, [0.7, 0.7], [9.0, 9.1])]
    )
    late.loc[late["method"] == "infogan", "status"] = "stopped"  # InfoGAN's runs at 10 did not finish
    why = no_comparison(late, "codegan", "infogan", KEYS)
    assert why.startswith("No weight-by-weight comparison yet: both methods were swept at 10, but no such weight")
    assert "(CoDeGAN at 10, InfoGAN at none)" in why and why.endswith("(run it again with --resume) to compare them.")
    assert verdict(compare(late, "codegan", "infogan", KEYS, FID), "codegan", "infogan", why) == why
