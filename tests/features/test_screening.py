"""Screening statistics against hand-worked answers.

IV example: a categorical with two values. "x": 10 rows, 1 churner; "y": 10 rows, 5 churners. With 0.5 added
per cell: churner shares p = (1.5, 5.5) / 7, stayer shares q = (9.5, 5.5) / 15, so
IV = (0.2143 - 0.6333) ln(0.2143 / 0.6333) + (0.7857 - 0.3667) ln(0.7857 / 0.3667) = 0.4541 + 0.3193 = 0.7734.

Traffic-light example: values 0..9, 10 rows each; values 0..7 have 1 churner each, 8 has 5 and 9 has 6.
Base rate r = 19 / 100 = 0.19. Tail churn rates from the top: {9} 0.6, {8, 9} 0.55, {7..9} 12/30 = 0.4,
{6..9} 13/40 = 0.325, {5..9} 14/50 = 0.28, then lower. Red (2 r = 0.38): the least extreme passing tail is
{7..9}, so "> 6". Amber (1.5 r = 0.285): {6..9}, so "> 5".
"""

import numpy as np
import pandas as pd
import pytest

from churnlab.features.screening import bin_rates, information_value, screen_indicator, screen_indicators

SETTINGS = {"bins": 10, "amber_lift": 1.5, "red_lift": 2.0}


def two_categories() -> tuple[pd.Series, pd.Series]:
    values = pd.Series(["x"] * 10 + ["y"] * 10, dtype="category")
    labels = pd.Series([1] + [0] * 9 + [1] * 5 + [0] * 5)
    return values, labels


def ladder() -> tuple[pd.Series, pd.Series]:
    values = pd.Series(np.repeat(np.arange(10.0), 10))
    churners = [1] * 8 + [5, 6]
    labels = pd.Series(np.concatenate([[1] * k + [0] * (10 - k) for k in churners]))
    return values, labels


def test_information_value_matches_the_hand_worked_example():
    values, labels = two_categories()
    assert information_value(bin_rates(values, labels, bins=10)) == pytest.approx(0.7734, abs=1e-4)


def test_categorical_lines_list_the_risky_categories_and_auc_uses_the_bin_rate():
    stats = screen_indicator(*two_categories(), **SETTINGS)
    assert stats["amber_line"] == "in {y}"  # base rate 0.3: 0.5 > 1.5 * 0.3
    assert stats["red_line"] == ""  # but 0.5 < 2 * 0.3
    assert stats["higher_is_riskier"] is None
    # 6 churners x 14 stayers: a churner in "y" beats the 9 stayers in "x"; same-category pairs tie (half)
    assert stats["auc"] == pytest.approx((5 * 9 + 0.5 * (5 * 5 + 1 * 9)) / (6 * 14))


def test_traffic_light_lines_follow_the_documented_rule():
    stats = screen_indicator(*ladder(), **SETTINGS)
    assert stats["red_line"] == "> 6" and stats["amber_line"] == "> 5"
    assert stats["higher_is_riskier"] is True


def test_auc_is_oriented_and_direction_reported():
    values, labels = ladder()
    up = screen_indicator(values, labels, **SETTINGS)
    down = screen_indicator(-values, labels, **SETTINGS)
    assert up["auc"] == pytest.approx(down["auc"]) and up["auc"] > 0.5
    assert down["higher_is_riskier"] is False and down["red_line"] == "<= -7"


def test_missing_values_get_their_own_bin_and_share():
    values, labels = ladder()
    values = values.copy()
    values[labels == 1] = np.nan  # every churner has a missing value: missingness is the signal
    stats = screen_indicator(values, labels, **SETTINGS)
    assert stats["missing_share"] == pytest.approx(0.19)
    assert stats["red_line"] == "missing"


def test_many_distinct_values_are_cut_into_deciles():
    rng = np.random.default_rng(0)
    values = pd.Series(rng.normal(size=5000))
    labels = pd.Series((rng.random(5000) < 0.1 + 0.2 * (values > 1.2)).astype(int))
    rates = bin_rates(values, labels, bins=10)
    assert len(rates) == 10 and rates["rows"].between(499, 501).all()
    stats = screen_indicator(values, labels, **SETTINGS)
    assert stats["red_line"].startswith("> 1.2")  # only the top decile (above the 90th percentile, 1.28)


def test_screen_indicators_has_one_row_per_feature():
    values, labels = ladder()
    table = screen_indicators([values.rename("a"), (-values).rename("b")], labels, **SETTINGS)
    assert table["feature"].tolist() == ["a", "b"]
    assert set(table.columns) >= {"missing_share", "iv", "auc", "higher_is_riskier", "amber_line", "red_line"}


def test_a_value_held_by_most_rows_is_one_bin_and_the_tail_still_splits():
    # 95 % zeros (churn 5 %), then 1..50 (churn 50 %): decile edges are all 0 but the tail is its own bin
    values = pd.Series(np.concatenate([np.zeros(950), np.tile(np.arange(1.0, 51.0), 1)]))
    labels = pd.Series(np.concatenate([np.arange(950) % 20 == 0, np.arange(50) % 2 == 0]).astype(int))
    rates = bin_rates(values, labels, bins=10)
    assert rates["rows"].tolist() == [950, 50]
    stats = screen_indicator(values, labels, **SETTINGS)
    assert stats["iv"] > 0.5 and stats["red_line"] == "> 0"


def test_a_few_customers_in_an_extreme_bin_do_not_move_the_line():
    # 0 complaints: 900 rows at 5 %; 1: 80 at 5 %; 2: 19 at 32 %; 3: 1 customer, who stayed.
    # Base rate 55 / 1000, red lift 0.11: 1 or more 10 / 100 = 0.10 fails, 2 or more 6 / 20 = 0.3 passes,
    # so the line is "> 1" although the single customer with 3 complaints (rate 0) alone would fail.
    values = pd.Series([0.0] * 900 + [1.0] * 80 + [2.0] * 19 + [3.0])
    labels = pd.Series([1] * 45 + [0] * 855 + [1] * 4 + [0] * 76 + [1] * 6 + [0] * 13 + [0])
    stats = screen_indicator(values, labels, **SETTINGS)
    assert stats["red_line"] == "> 1"


def test_an_all_missing_indicator_is_screened_as_missing_not_an_error():
    stats = screen_indicator(pd.Series([np.nan] * 6), pd.Series([0, 1, 0, 1, 0, 0]), bins=10, amber_lift=1.5,
                             red_lift=2.0)
    assert stats["missing_share"] == 1.0 and stats["iv"] == 0.0 and np.isnan(stats["auc"])
    assert stats["amber_line"] == "" and stats["higher_is_riskier"] is None
