"""What every score figure carries: score axes at least 0.2 wide inside [0, 1], FID axes from 0, the pixel baseline
and the untrained networks as labelled lines, and what each band is, with n (the learning curves' own figure here;
the trade-off figure's in tests/test_analyze.py)."""

from __future__ import annotations

import pytest

from scripts.curves import plot
from scripts.figure_marks import (
    NO_PIXELS,
    NO_START,
    pixel_reference,
    score_limits,
    spread_caption,
    start_reference,
)


@pytest.mark.parametrize(
    ("values", "low", "high"),
    [
        ([0.260, 0.264], 0.162, 0.362),  # a tiny spread: 0.2 wide around it
        ([0.95, 0.99], 0.8, 1.0),  # near the top: moved down, never past 1
        ([0.0, 0.05], 0.0, 0.2),  # near the bottom: moved up, never below 0
        ([-0.05, 0.5], -0.0775, 0.5275),  # an ARI below 0 stays in view
    ],
)
def test_a_score_axis_is_at_least_0_2_wide_and_inside_0_1_where_the_scores_are(values, low, high):
    assert score_limits(values) == pytest.approx((low, high))


def test_the_caption_says_what_a_band_is_and_n():
    assert spread_caption("bands", [2, 2]) == (
        "bands: mean ± 1 sample standard deviation over seeds (ddof = 1, as in the tables), n = 2"
    )
    assert spread_caption("bars", [1, 3]).endswith("n = 1–3; none where n = 1")
    assert spread_caption("bars", [1]) == "bars: none, n = 1 (a sample standard deviation needs two seeds)"


def _curves() -> tuple[dict, list[dict]]:
    """Two seeds of CoDeGAN whose ACC moves by 0.004 and whose FID falls from 50 to 30."""
    curves = {"k": {"label": "CoDeGAN", "method": "codegan", "dataset": "digits", "members": [{}, {}], "pixels": []}}
    rows = [{"curve": "CoDeGAN (n=2)", "result": "k", "metric": "eval/acc", "step": s, "mean": m, "std": 0.001, "n": 2}
            for s, m in ((0, 0.260), (2, 0.262), (4, 0.264))]  # fmt: skip
    rows += [{"curve": "CoDeGAN (n=2)", "result": "k", "metric": "eval/fid_domain", "step": s, "mean": f, "std": 1.0,
              "n": 2} for s, f in ((0, 50.0), (2, 40.0), (4, 30.0))]  # fmt: skip
    return curves, rows


def test_learning_curves_draw_the_references_on_honest_axes(tmp_path):
    curves, rows = _curves()
    refs = [pixel_reference(0.5), start_reference("CoDeGAN", 2, 0.26, 50.0, "codegan")]
    fig = plot(curves, rows, "eval/fid_domain", tmp_path / "c.png", refs)
    acc, fid = fig.axes
    low, high = acc.get_ylim()
    assert high - low >= 0.2 - 1e-9 and 0 <= low < 0.259 and 0.5 < high <= 1  # the references stay in view
    assert fid.get_ylim()[0] == 0 and fid.get_yscale() == "linear"
    (pixels,) = [line for line in acc.get_lines() if line.get_label() == "k-means on raw pixels: ACC 0.500"]
    assert list(pixels.get_ydata()) == [0.5, 0.5]
    label = "CoDeGAN untrained (step 0, n=2): ACC 0.260, FID 50.0"
    (start,) = [line for line in acc.get_lines() if line.get_label() == label]
    (start_fid,) = [line for line in fid.get_lines() if line.get_label() == label]  # at its FID on the FID panel
    (curve,) = [line for line in acc.get_lines() if line.get_label() == "CoDeGAN (n=2)"]
    assert start.get_color() == curve.get_color() and list(start_fid.get_ydata()) == [50.0, 50.0]
    legend = fig.legends[0]
    assert legend.get_title().get_text().startswith("bands: mean ± 1 sample standard deviation over seeds")
    assert {label, "k-means on raw pixels: ACC 0.500", "CoDeGAN (n=2)"} <= {t.get_text() for t in legend.get_texts()}
    assert NO_START not in fig._suptitle.get_text()

    bare = plot(curves, rows, "eval/fid_domain", tmp_path / "bare.png")  # nothing recorded: said on the figure
    assert NO_START in bare._suptitle.get_text() and NO_PIXELS in bare._suptitle.get_text()
