"""The monitored months on the tiny bank of conftest.py: the window, the scored snapshots, the per-month table."""

from functools import partial

import numpy as np
import pandas as pd
import pytest
from frames import month

from churnlab.monitor.months import (
    grade_shares,
    market_history,
    monitoring_window,
    observe_locally,
    reference_layout,
    score,
    summarise_months,
    training_reference,
    watch_months,
)
from churnlab.monitor.stability import SCORE


def test_the_window_is_every_month_after_the_last_training_cutoff(bank):
    window = monitoring_window(bank.con, bank.split, every_months=1)
    assert (window.first, window.last) == (bank.month(0), bank.month(15))
    assert window.months == tuple(bank.month(i) for i in range(9, 16))
    assert window.train_months == (bank.month(5), bank.month(8))
    assert monitoring_window(bank.con, bank.split, every_months=3).months == tuple(bank.month(i) for i in (9, 12, 15))


def test_market_history_has_one_row_per_month_with_the_market_table_values(bank):
    history = market_history(bank.con, bank.month(2), bank.month(5))
    assert history["t"].tolist() == [bank.month(i) for i in range(2, 6)]
    assert history["competitor_spread"].tolist() == pytest.approx([0.2, 0.3, 0.4, 0.5])  # frames.market: 0.1 i


def test_the_market_reference_reaches_back_market_reference_months(bank, reference, model):
    """Training cutoffs are months 5 and 8: 12 reference months would start at month -3, so they start at month 0;
    2 reference months are fewer than the training period, which is used whole (months 5..8)."""
    window = monitoring_window(bank.con, bank.split, every_months=1)
    scored = reference.assign(**{SCORE: score(model, reference)})
    profile = training_reference(scored, reference_layout(bank.con, window=window, market_reference_months=12),
                                 bins=10)
    assert profile.market["competitor_spread"] == pytest.approx(0.1 * np.arange(9))
    assert profile.rows == len(reference)
    short = training_reference(scored, reference_layout(bank.con, window=window, market_reference_months=2),
                               bins=10)
    assert short.market["competitor_spread"] == pytest.approx([0.5, 0.6, 0.7, 0.8])


def test_watch_months_scores_each_month_and_marks_complete_labels(bank, reference, model, rng):
    window = monitoring_window(bank.con, bank.split, every_months=1)
    scored = reference.assign(**{SCORE: score(model, reference)})
    profile = training_reference(scored, reference_layout(bank.con, window=window, market_reference_months=12),
                                 bins=10)
    observe = partial(observe_locally, bank.con, reference=profile, model=model, window=window,
                      horizon_months=bank.horizon_months, churn=bank.churn)
    summaries, stability, scores = watch_months(observe, profile, window=window, horizon_months=bank.horizon_months,
                                                grading=None, alpha=0.01, null_draws=200, min_psi=0.1, min_csi=0.1,
                                                rng=rng)
    months = [pd.Timestamp(month(i)) for i in range(9, 16)]
    assert [s["month"] for s in summaries] == months
    assert set(stability["month"]) == set(months) and not stability.duplicated(["month", "feature"]).any()
    c38 = scores[scores["customer_id"] == "c38"]  # a stayer with deposits of 4,300: p = 1000 / 6300 every month
    assert c38[SCORE].tolist() == pytest.approx([1000 / 6300] * len(months))
    # closures in months 4, 7 (four each), 10 and 13 (three each): 32 customers at month 9, 29 from 10, 26 from 13
    assert scores.groupby("month").size().tolist() == [32, 29, 29, 29, 26, 26, 26]
    assert scores.groupby("month")["label"].sum().tolist()[:4] == [3, 3, 3, 3]  # closures within (t, t + 3]
    complete = scores.groupby("month")["complete"].first()
    assert complete.tolist() == [True, True, True, True, False, False, False]  # t + 3 <= month 15
    assert [s["rows"] for s in summaries] == scores.groupby("month").size().tolist()


def test_summarise_months_lists_drifting_features_per_month():
    months = [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29")]
    summaries = [{"month": m, "rows": 10, "score_psi": 0.01, "score_threshold": 0.1} for m in months]
    stability = pd.DataFrame({"month": [months[0], months[0], months[1]],
                              "feature": ["promo_index", "age", "age"], "group": ["market", "customer", "customer"],
                              "drifting": [True, True, False]})
    performance = pd.DataFrame({"month": months, "rows": [10, 10], "expected_auc": [0.7, 0.71],
                                "auc": [0.72, np.nan]})
    table = summarise_months(summaries, stability, performance)
    assert table["market_drifting"].tolist() == [["promo_index"], []]
    assert table["drifting_features"].tolist() == [["age"], []]
    assert table["rows"].tolist() == [10, 10] and table["expected_auc"].tolist() == [0.7, 0.71]


def test_grade_shares_uses_the_score_stage_boundaries():
    grading = {"labels": ["A", "B"], "min_points": [600.0],
               "points": {"pdo": 20, "base_points": 600, "base_odds": 50}}
    shares = grade_shares(np.array([0.01, 0.01, 0.5, 0.5]), grading)  # p = 1/101 -> 620 points (A); 0.5 -> B
    assert shares == {"A": 0.5, "B": 0.5}
    assert grade_shares(np.array([0.1]), None) == {}
