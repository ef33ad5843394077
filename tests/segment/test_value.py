"""Value tiers: equal-count within each cutoff, on the CLV at the scoring cutoff and the monthly margin before."""

import numpy as np
import pandas as pd

from churnlab.segment.value import customer_value, value_basis, value_tiers

MARGINS = {"deposit_margin": 0.012, "investment_fee_rate": 0.0, "loan_margin": 0.0}


def test_value_tiers_are_equal_count_within_each_cutoff():
    cutoff = pd.Series(["t1"] * 6 + ["t2"] * 3)
    value = pd.Series([6, 5, 4, 3, 2, 1, 100, 300, 200], dtype=float)
    tiers = value_tiers(value, cutoff, labels=["low", "medium", "high"])
    assert tiers.astype(str).tolist() == ["high", "high", "medium", "medium", "low", "low", "low", "high", "medium"]


def test_value_is_the_clv_at_the_scoring_cutoff_and_the_margin_before():
    """Margin = 0.012 x deposit / 12 + fees_3m / 3: 1000 EUR and 30 EUR of fees -> 1 + 10 = 11 EUR a month."""
    rows = pd.DataFrame({"customer_id": ["a", "a", "b"], "cutoff": pd.to_datetime(["2024-01-31", "2024-04-30",
                         "2024-04-30"]), "deposit_balance": 1000.0, "investment_balance": 0.0, "loan_balance": 0.0,
                         "fees_3m": 30.0})
    clv = pd.DataFrame({"customer_id": ["a"], "clv": [500.0]})
    value = customer_value(rows, clv, scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    np.testing.assert_allclose(value["monthly_margin"], [11.0, 11.0, 11.0])
    assert value["clv"].tolist()[1] == 500.0 and np.isnan(value["clv"].tolist()[0])
    np.testing.assert_allclose(value["value"], [11.0, 500.0, 11.0])  # b has no CLV: its margin
    without = customer_value(rows, None, scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    np.testing.assert_allclose(without["value"], 11.0)


def test_value_tiers_fall_back_to_a_partial_margin_and_leave_unvalued_rows_untiered():
    """Only a deposit balance: the margin counts the absent balances and fees as 0 (0.012 x 1200 / 12 = 1.2)."""
    rows = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "cutoff": pd.Timestamp("2024-04-30"),
                         "deposit_balance": [1200.0, 0.0, 2400.0, 600.0]})
    assert value_basis(rows, None) == "monthly_margin"
    assert value_basis(rows, pd.DataFrame({"customer_id": ["a"], "clv": [9.0]})) == "clv"
    assert value_basis(rows.drop(columns="deposit_balance"), pd.DataFrame(columns=["customer_id", "clv"])) is None
    value = customer_value(rows, None, scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    np.testing.assert_allclose(value["monthly_margin"], [1.2, 0.0, 2.4, 0.6])
    tiers = value_tiers(pd.Series([1.0, np.nan, 3.0, 2.0]), pd.Series(["t"] * 4), labels=["low", "medium", "high"])
    assert tiers.astype(object).tolist() == ["low", np.nan, "high", "medium"]


def test_without_any_balance_or_fee_column_there_is_no_margin():
    rows = pd.DataFrame({"customer_id": ["a", "b"], "cutoff": pd.Timestamp("2024-04-30")})
    value = customer_value(rows, pd.DataFrame({"customer_id": ["b"], "clv": [70.0]}),
                           scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    assert value["monthly_margin"].isna().all()
    assert np.isnan(value["value"].iloc[0]) and value["value"].iloc[1] == 70.0
