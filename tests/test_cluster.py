import numpy as np
import pytest

from harness.metrics.cluster import hungarian_acc, kmeans_scores, purity


def test_hungarian_acc_on_hand_made_assignments():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert hungarian_acc(y, np.array([2, 2, 2, 0, 0, 0, 1, 1, 1])) == 1.0  # a relabelling is perfect
    # cluster 0 holds two classes: one-to-one mapping can credit only one of them
    pred = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2])
    assert hungarian_acc(y, pred) == pytest.approx(5 / 9)  # 0->0 (3), 1->2 (2) ... best is 3 + 2 = 5
    assert purity(y, pred) == pytest.approx(6 / 9)  # many-to-one: cluster 0 -> 0 (3), 1 -> 2, 2 -> 2


def test_hungarian_differs_from_greedy_majority():
    # both clusters are mostly class 0: purity credits class 0 twice, Hungarian only once
    y = np.array([0, 0, 0, 1, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert purity(y, pred) == pytest.approx(6 / 8)
    assert hungarian_acc(y, pred) == pytest.approx(4 / 8)


def test_kmeans_scores_keys_and_separable_blobs():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 30)
    feats = rng.normal(size=(90, 2)) * 0.05 + labels[:, None] * 5.0
    out = kmeans_scores(feats, labels, 3, seeds=[1, 2, 3], n_init=2)
    assert set(out) == {f"eval/{m}{s}" for m in ("acc", "purity", "nmi", "ari") for s in ("", "_std")}
    assert out["eval/acc"] == 1.0 and out["eval/nmi"] == pytest.approx(1.0) and out["eval/acc_std"] == 0.0
