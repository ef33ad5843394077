"""Metrics of churn probabilities: EMPC against a worked example, ECE and lift against hand counts."""

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import beta

from churnlab.model.metrics import empc, expected_calibration_error, gains_curve, score_probabilities, top_share

WORKED = {"clv": 200.0, "incentive_cost": 10.0, "contact_cost": 1.0, "acceptance_alpha": 1.0, "acceptance_beta": 1.0}


def test_empc_matches_the_worked_example():
    """The derivation is in churnlab.model.metrics' docstring: EMPC = 13481 / 304 EUR, share = 136.25 / 190."""
    value, share = empc([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1], **WORKED)
    assert value == pytest.approx(13481 / 304, rel=1e-12)
    assert share == pytest.approx(136.25 / 190, rel=1e-12)


def test_empc_equals_numerical_integration_of_the_best_profit():
    """The exact piecewise integral equals quadrature of max over cuts of the profit, for Beta(6, 14)."""
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.15
    p = np.clip(0.15 + 0.25 * (y - 0.15) + rng.normal(0, 0.2, 400), 0, 1)
    profit = {"clv": 600.0, "incentive_cost": 50.0, "contact_cost": 10.0, "acceptance_alpha": 6.0,
              "acceptance_beta": 14.0}
    order = np.argsort(-p, kind="stable")
    tpr = np.r_[0, np.cumsum(y[order])] / y.sum()
    fpr = np.r_[0, np.cumsum(~y[order])] / (~y).sum()
    pi1, delta, phi = y.mean(), 50 / 600, 10 / 600

    def best(gamma):
        return np.max(600 * (gamma * (1 - delta) - phi) * pi1 * tpr - 600 * (delta + phi) * (1 - pi1) * fpr)

    expected, _ = integrate.quad(lambda g: best(g) * beta.pdf(g, 6, 14), 0, 1, limit=500)
    assert empc(y, p, **profit)[0] == pytest.approx(expected, rel=1e-4)


def test_empc_rewards_ranking_and_is_never_negative():
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.1).astype(int)
    profit = WORKED | {"acceptance_alpha": 6.0, "acceptance_beta": 14.0}
    perfect = empc(y, y + 0.0, **profit)[0]
    noise = empc(y, rng.random(2000), **profit)[0]
    assert perfect > noise >= 0


def test_ece_is_zero_when_rates_match_and_counts_the_gap_otherwise():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    assert expected_calibration_error(y, np.r_[np.full(4, 0.25), np.full(4, 0.75)], bins=2) == pytest.approx(0)
    # everyone predicted 0.5 in one bin: |0.5 - 0.5| = 0; two bins of 0.1 and 0.9 against 0.25 / 0.75: 0.15
    assert expected_calibration_error(y, np.r_[np.full(4, 0.1), np.full(4, 0.9)], bins=2) == pytest.approx(0.15)
    assert expected_calibration_error(y, np.r_[np.full(4, 0.1), np.full(4, 0.9)], bins=10,
                                      strategy="uniform") == pytest.approx(0.15)
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(y, y, bins=2, strategy="equal")


def test_top_decile_lift_and_recall_by_hand():
    """20 rows, 4 churners; the top 10 % (2 rows) holds 2 churners: lift (2/2) / (4/20) = 5, recall 2/4."""
    y = np.r_[1, 1, 0, 1, np.zeros(15), 1]
    p = np.linspace(1, 0, 20)
    assert top_share(y, p, share=0.1) == (pytest.approx(5.0), pytest.approx(0.5))
    gains = gains_curve(y, p)
    assert gains["churners_caught"].iloc[-1] == pytest.approx(1.0)
    assert gains["contacted"].iloc[0] == 0


def test_score_probabilities_reports_every_test_metric():
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.2).astype(int)
    scores = score_probabilities(y, 0.2 + 0.3 * y * rng.random(500), ece_bins=10, ece_strategy="quantile", top=0.1,
                                 profit=WORKED)
    assert {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile", "empc", "empc_share"} <= set(scores)
    assert 0.5 < scores["roc_auc"] <= 1
