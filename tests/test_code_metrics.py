"""What one FID cannot show: fidelity and diversity apart (precision, recall, density, coverage, against a brute-force
count), the classifier's labels of generated images against their codes, and each code's recall with the codes that
collapsed, on feature sets whose answer is known."""

import numpy as np
import pytest

from harness.metrics.features import CodedSamples
from harness.metrics.generated_acc import compute as generated_acc
from harness.metrics.per_code import compute as per_code
from harness.metrics.prdc import prdc


def _brute(fake: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """The four definitions written out, pairwise distances in full (small sets only)."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=2)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=2)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=2)
    r3, f3, r5 = (np.sort(d_rr, 1)[:, 3], np.sort(d_ff, 1)[:, 3], np.sort(d_rr, 1)[:, 5])
    return {
        "precision": float(np.mean((d_fr <= r3[None]).any(1))),
        "recall": float(np.mean((f3[None] >= d_fr.T).any(1))),
        "density": float((d_fr <= r5[None]).sum() / (5 * len(fake))),
        "coverage": float(np.mean((r5[:, None] >= d_fr.T).any(1))),
    }


def test_precision_recall_density_coverage_equal_their_definitions():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 8))
    for fake in (rng.normal(size=(250, 8)), rng.normal(size=(250, 8)) * 0.3, rng.normal(size=(250, 8)) + 3):
        got, want = prdc(fake, real), _brute(fake, real)
        assert got == pytest.approx(want, abs=1e-12)
    same = prdc(real, real)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert prdc(rng.normal(size=(250, 8)) + 50, real) == {"precision": 0, "recall": 0, "density": 0, "coverage": 0}


def _coded(collapse: int | None, logits: bool) -> CodedSamples:
    """Ten classes as well-apart clusters; code k draws class (k + 3) mod 10, except a collapsed code, which draws its
    neighbour's class."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(10, 16)) * 20
    labels = np.repeat(np.arange(10), 100)
    real = centres[labels] + rng.normal(size=(1000, 16))
    codes = np.repeat(np.arange(10), 120)
    drawn = (codes + 3) % 10
    if collapse is not None:
        drawn[codes == collapse] = (collapse + 4) % 10
    feats = centres[drawn] + rng.normal(size=(1200, 16))
    scores = np.eye(10)[drawn] * 5 if logits else None
    return CodedSamples(feats, scores, codes, {"feats": real, "labels": labels}, 10, logits, 0)


@pytest.mark.parametrize("logits", [True, False])
def test_each_codes_recall_and_the_collapsed_codes(logits):
    healthy = per_code(_coded(None, logits))
    assert healthy["collapsed_codes"] == 0 and healthy["code_recall_min"] > 0.5
    collapsed = per_code(_coded(6, logits))  # codes 6 and 7 draw one class: one of them stands for a class it misses
    recalls = sorted(v for k, v in collapsed.items() if k.startswith("code_recall_") and k[-1].isdigit())
    assert collapsed["collapsed_codes"] == 1 and len(recalls) == 10
    assert recalls[0] < 0.1 and recalls[1] > 0.5 and collapsed["code_recall_min"] == recalls[0]


def test_generated_image_acc_matches_codes_to_labels():
    assert generated_acc(_coded(None, True)) == {"acc_gen": 1.0, "purity_gen": 1.0, "nmi_gen": 1.0, "ari_gen": 1.0}
    assert generated_acc(_coded(6, True))["acc_gen"] == pytest.approx(0.9)
    assert generated_acc(_coded(None, False)) == {}  # without the dataset's classifier there is nothing to label with


def test_each_codes_fid_against_its_class():
    """A code that draws its own class has a small FID against that class; a collapsed code, which draws another
    class, is far; the worst code's FID is the collapsed one's."""
    healthy, collapsed = per_code(_coded(None, True)), per_code(_coded(6, True))
    fids = [healthy[f"code_fid_{k}"] for k in range(10)]
    assert max(fids) < 5.0 and healthy["code_fid_max"] == max(fids)  # the small-sample bias of 16 dimensions
    far = [k for k in range(10) if collapsed[f"code_fid_{k}"] > 100]
    assert len(far) == 1 and collapsed["code_fid_max"] == collapsed[f"code_fid_{far[0]}"]
    assert collapsed[f"code_recall_{far[0]}"] < 0.1  # the code with the far FID is the one that lost its class


def test_a_codes_fid_is_clean_fids_frechet_distance():
    from cleanfid.fid import frechet_distance

    from harness.metrics.per_code import code_fid

    rng = np.random.default_rng(2)
    mix = rng.normal(size=(24, 24))
    for n in (10, 200):  # fewer samples than dimensions (a singular covariance), and more
        fake, real = rng.normal(size=(n, 24)) @ mix + 0.3, rng.normal(size=(300, 24)) @ mix.T
        want = frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
        assert code_fid(fake, real) == pytest.approx(want, rel=1e-8)
