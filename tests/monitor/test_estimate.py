"""The label-free AUC and churn-rate estimate against worked examples and labels drawn from p."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnlab.monitor.estimate import backtest, estimate_performance, expected_auc, realised_performance


def test_expected_auc_matches_the_worked_example():
    """Docstring of churnlab.monitor.estimate: p = (0.8, 0.5, 0.1) gives 1.57 / 1.74."""
    assert expected_auc([0.8, 0.5, 0.1]) == pytest.approx(1.57 / 1.74)
    assert expected_auc([0.1, 0.8, 0.5]) == pytest.approx(1.57 / 1.74)  # order of rows is irrelevant


def test_ties_count_one_half():
    """Two rows with the same p: every pair is a tie, so the expected AUC is exactly 0.5."""
    assert expected_auc([0.3, 0.3]) == pytest.approx(0.5)
    assert expected_auc([0.2, 0.2, 0.2, 0.2]) == pytest.approx(0.5)


def test_expected_auc_agrees_with_brute_force_over_pairs():
    rng = np.random.default_rng(0)
    p = np.round(rng.beta(1, 6, 60), 2)  # rounded: many ties, as after isotonic calibration
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j:
                w = p[i] * (1 - p[j])
                den += w
                num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    assert expected_auc(p) == pytest.approx(num / den)


def test_estimate_is_within_tolerance_of_the_realised_auc_when_labels_are_drawn_from_p():
    """Labels ~ Bernoulli(p) on 5,000 customers (~450 churners): the realised AUC's standard deviation is about
    0.013, so the estimate must be within 0.04 (3 sd) of each of 20 realised AUCs; their mean within 0.01."""
    rng = np.random.default_rng(1)
    p = rng.beta(1, 10, 5000)
    estimate = expected_auc(p)
    realised = [roc_auc_score(rng.random(len(p)) < p, p) for _ in range(20)]
    assert max(abs(estimate - r) for r in realised) < 0.04
    assert np.mean(realised) == pytest.approx(estimate, abs=0.01)
    summary = estimate_performance(p, draws=100, rng=rng)
    assert summary["expected_auc_low"] < estimate < summary["expected_auc_high"]
    assert summary["expected_churn_rate"] == pytest.approx(p.mean())


def test_backtest_fills_realised_metrics_only_for_complete_months():
    rng = np.random.default_rng(2)
    p = rng.beta(1, 8, 3000)
    y = (rng.random(3000) < p).astype(int)
    scores = pd.DataFrame({"month": np.repeat(pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31"]), 1000),
                           "p_churn": p, "label": pd.array(y, dtype="Int8"),
                           "complete": np.repeat([True, True, False], 1000)})
    table = backtest(scores, draws=20, ece_bins=10, seed=0)
    assert table["auc"].notna().tolist() == [True, True, False]
    first = realised_performance(y[:1000], p[:1000], ece_bins=10)
    assert table["auc"].iloc[0] == pytest.approx(first["auc"])
    assert table["auc_error"].iloc[0] == pytest.approx(table["expected_auc"].iloc[0] - first["auc"])
    assert np.isnan(table["auc_error"].iloc[2])
