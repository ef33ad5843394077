"""CLV: the constant-hazard closed form, the margin, tiers, the comparison with the true curve and the skip."""

import numpy as np
import pandas as pd
import pytest

from churnlab.contract.value import monthly_margin
from churnlab.survival.clv import (
    CLV_COLUMNS,
    clv_summary,
    compare_values,
    lifetime_value,
    lifetime_values,
    monthly_discount,
    true_survival_matrix,
    value_tiers,
)


def test_constant_hazard_gives_the_geometric_series():
    """S(t) = (1 - h)^t, so CLV = m sum_{t=1..K} q^t = m q (1 - q^K) / (1 - q) with q = (1 - h) d."""
    h, m, k = 0.02, 30.0, 36
    d = monthly_discount(0.08)
    survival = (1 - h) ** np.arange(1, k + 1)[None, :]
    remaining, clv = lifetime_value(survival, np.array([m]), discount=d)
    q = (1 - h) * d
    assert clv[0] == pytest.approx(m * q * (1 - q**k) / (1 - q), rel=1e-12)
    assert remaining[0] == pytest.approx((1 - h) * (1 - (1 - h) ** k) / h, rel=1e-12)
    assert d**12 == pytest.approx(1 / 1.08)


def test_a_customer_who_never_leaves_is_worth_the_discounted_annuity():
    _, clv = lifetime_value(np.ones((1, 12)), np.array([10.0]), discount=1.0)
    assert clv[0] == pytest.approx(120.0)


def test_monthly_margin_from_balances_and_fees():
    covariates = pd.DataFrame({"deposit_balance": [12000.0], "investment_balance": [6000.0],
                               "loan_balance": [0.0], "fees_3m": [9.0]})
    margin = monthly_margin(covariates, deposit_margin=0.01, investment_fee_rate=0.02, loan_margin=0.03)
    assert margin.iloc[0] == pytest.approx(12000 * 0.01 / 12 + 6000 * 0.02 / 12 + 3.0)
    with pytest.raises(KeyError, match="fees_3m"):
        monthly_margin(covariates.drop(columns="fees_3m"), deposit_margin=0.01, investment_fee_rate=0.02,
                       loan_margin=0.03)


def test_value_tiers_are_equal_count_and_ordered():
    tiers = value_tiers(pd.Series(np.arange(9.0)), ["low", "medium", "high"])
    assert tiers.tolist() == ["low"] * 3 + ["medium"] * 3 + ["high"] * 3
    assert tiers.cat.ordered


def test_true_curve_lookup_and_comparison():
    truth = pd.DataFrame({"customer_id": ["a"] * 3 + ["b"] * 3, "months_ahead": [1, 2, 3] * 2,
                          "survival_voluntary": [0.9, 0.8, 0.7, 0.5, 0.4, 0.3]})
    matrix = true_survival_matrix(truth, pd.Series(["b", "a", "zz"]), months=2, column="survival_voluntary")
    assert matrix[:2].tolist() == [[0.5, 0.4], [0.9, 0.8]] and np.isnan(matrix[2]).all()
    with pytest.raises(ValueError, match="horizon_months=5"):
        true_survival_matrix(truth, pd.Series(["a"]), months=5, column="survival_voluntary")
    same = compare_values(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
    assert same["rank_corr"] == pytest.approx(1.0) and same["relative_error_total"] == pytest.approx(0.0)


def test_clv_summary_compares_with_the_true_curve():
    """With no discount and a true survival of 1 for two months, the true CLV is 2 x the margin; estimates of
    exactly that agree perfectly (rank correlation 1, no error)."""
    values = pd.DataFrame({"customer_id": ["a", "b", "c"], "monthly_margin": [1.0, 2.0, 3.0],
                           "clv": [2.0, 4.0, 6.0], "expected_remaining_months": [2.0, 2.0, 1.0],
                           "value_tier": pd.Categorical(["low", "medium", "high"])})
    truth = pd.DataFrame({"customer_id": np.repeat(["a", "b", "c"], 2), "months_ahead": [1, 2] * 3, "s": 1.0})
    summary = clv_summary(values, truth=truth, horizon_months=2, annual_discount_rate=0.0, truth_column="s")
    assert summary["total_clv"] == 12.0 and summary["mean_expected_remaining_months"] == pytest.approx(5 / 3)
    assert summary["mean_clv_by_tier"] == {"low": 2.0, "medium": 4.0, "high": 6.0}
    assert summary["vs_truth"] == {"customers": 3, "rank_corr": pytest.approx(1.0), "relative_error_total": 0.0,
                                   "median_abs_relative_error": 0.0}
    assert "vs_truth" not in clv_summary(values, truth=None, horizon_months=2, annual_discount_rate=0.0,
                                         truth_column="s")


def test_lifetime_values_are_skipped_without_a_balance_or_fee_column():
    lifetimes = pd.DataFrame({"customer_id": ["a"], "event": [0], "duration": [5], "last_age": [40.0]})
    values, summary = lifetime_values(lifetimes, lifetimes, None, None, None, truth=None, horizon_months=12,
                                      annual_discount_rate=0.08, truth_column="s", tiers=["low", "high"],
                                      average_market=[], margins={})
    assert values.empty and list(values.columns) == list(CLV_COLUMNS)
    assert "name one with data.rename" in summary["skipped"]["clv"] and set(summary) == {"skipped"}
