"""The monitor stage's table helpers, and end to end on the small pipeline profile (slow)."""

import json

import numpy as np
import pandas as pd
import pytest

from churnlab.monitor import grade_shares, jsonable, month_index, summarise_months


def test_month_index_matches_the_tables_convention():
    assert month_index("2021-01-31") == 24252


def test_summarise_months_lists_drifting_features_per_month():
    months = [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29")]
    scores = [{"month": m, "rows": 10, "score_psi": 0.01, "score_threshold": 0.1} for m in months]
    stability = pd.DataFrame({"month": [months[0], months[0], months[1]],
                              "feature": ["promo_index", "age", "age"], "group": ["market", "customer", "customer"],
                              "drifting": [True, True, False]})
    performance = pd.DataFrame({"month": months, "rows": [10, 10], "expected_auc": [0.7, 0.71],
                                "auc": [0.72, np.nan]})
    table = summarise_months(scores, stability, performance)
    assert table["market_drifting"].tolist() == [["promo_index"], []]
    assert table["drifting_features"].tolist() == [["age"], []]
    table = table.assign(expected_auc_low=0.6, expected_auc_high=0.8, expected_churn_rate=0.1, churn_rate=0.1,
                         alert=[True, False], retrain=[True, False], reasons=[["x"], []], score_null_quantile=0.001,
                         grade_shares=[{}, {}])
    payload = jsonable(table)
    assert payload["2024-02-29"]["auc"] is None and payload["2024-01-31"]["alert"] is True
    json.dumps(payload)


def test_grade_shares_uses_the_score_stage_boundaries():
    grading = {"labels": ["A", "B"], "min_points": [600.0],
               "points": {"pdo": 20, "base_points": 600, "base_odds": 50}}
    shares = grade_shares(np.array([0.01, 0.01, 0.5, 0.5]), grading)  # p = 1/101 -> 620 points (A); 0.5 -> B
    assert shares == {"A": 0.5, "B": 0.5}
    assert grade_shares(np.array([0.1]), None) == {}


@pytest.mark.slow
def test_monitor_stage_on_the_small_pipeline(pipeline_dir):
    metrics = json.loads((pipeline_dir / "reports/metrics/monitor.json").read_text())
    assert metrics["months_monitored"] >= 3 and metrics["champion"]["version"] >= 1
    sim = metrics["simulator"]
    assert sim["false_alarm_rate"] is not None and sim["detection_rate"] is not None
    assert sim["detection_rate_promotion"] == 1.0  # every month of the promotion is in alert
    stability = pd.read_csv(pipeline_dir / "reports/monitor/stability.csv", parse_dates=["month"])
    promo = stability[stability["feature"] == "promo_index"].set_index("month")["drifting"]
    in_promotion = (promo.index >= pd.Timestamp(sim["shock_start"])) & (promo.index <= pd.Timestamp(sim["shock_end"]))
    assert promo[in_promotion].all()  # the promotion is flagged
    assert not promo[promo.index < pd.Timestamp(sim["shock_start"])].any()  # quiet months are not
