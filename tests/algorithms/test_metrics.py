"""The numpy metrics the scenarios report, checked against scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from mlops.algorithms.metrics import (
    adjusted_rand_index,
    average_precision,
    best_f1_threshold,
    binary_f1,
    classification_metrics,
    mean_average_precision,
    roc_auc,
)

RNG = np.random.default_rng(3)


def test_classification_metrics_match_scikit_learn() -> None:
    truth, predicted = RNG.integers(0, 4, 300), RNG.integers(0, 4, 300)
    ours = classification_metrics(truth, predicted, 4)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    assert ours["macro_f1"] == pytest.approx(sk.f1_score(truth, predicted, average="macro"))


def test_roc_auc_with_ties_matches_scikit_learn() -> None:
    truth = RNG.integers(0, 2, 500)
    scores = np.round(RNG.random(500) + truth * 0.3, 1)  # rounding makes ties
    assert roc_auc(truth, scores) == pytest.approx(sk.roc_auc_score(truth, scores))


def test_best_f1_threshold_finds_the_best_cut() -> None:
    truth = RNG.integers(0, 2, 400)
    scores = RNG.random(400) + truth * 0.5
    threshold = best_f1_threshold(truth, scores)
    best = binary_f1(truth, scores > threshold)["f1"]
    assert all(binary_f1(truth, scores > t)["f1"] <= best + 1e-12 for t in np.unique(scores))


def test_adjusted_rand_index_matches_scikit_learn() -> None:
    truth = RNG.choice(["a", "b", "c", "d"], 300)
    predicted = np.where(
        RNG.random(300) < 0.8, np.searchsorted(["a", "b", "c", "d"], truth), RNG.integers(0, 6, 300)
    )
    assert adjusted_rand_index(truth, predicted) == pytest.approx(sk.adjusted_rand_score(truth, predicted))
    assert adjusted_rand_index(truth, np.searchsorted(["a", "b", "c", "d"], truth) + 7) == pytest.approx(1.0)


def test_mean_average_precision_on_a_hand_worked_case() -> None:
    truth = [[("cat", [0, 0, 10, 10]), ("dog", [20, 20, 30, 30])], [("cat", [5, 5, 15, 15])]]
    found = [
        [("cat", 0.9, [0, 0, 10, 10]), ("cat", 0.8, [50, 50, 60, 60]), ("dog", 0.7, [21, 21, 31, 31])],
        [("cat", 0.6, [5, 5, 15, 15])],
    ]
    result = mean_average_precision(truth, found, ["cat", "dog"])
    # cat: hit, miss, hit -> precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 0.5 + 0.5 * 2/3
    assert result["ap_cat"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert result["ap_dog"] == pytest.approx(1.0)
    assert result["map_50"] == pytest.approx((0.5 + 0.5 * 2 / 3 + 1.0) / 2)
    assert average_precision(np.array([1.0]), np.array([1.0])) == pytest.approx(1.0)
