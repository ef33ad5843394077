"""The early-warning list: pseudonymous ids only, expected loss = p x CLV, actions, and the ranking without values."""

import numpy as np
import pandas as pd
import pytest

from churnlab.score.actions import NO_ACTION, catalogue
from churnlab.score.early_warning import build_early_warning, customer_clv

KEY = b"test-key"
POINTS = {"pdo": 20.0, "base_points": 600.0, "base_odds": 50.0}
ACTIONS = catalogue({"complaint_recovery": {"cost": 40.0, "channel": "phone", "response": 0.4,
                                            "reasons": ["complaints_3m"]}})


def scoring_inputs(n: int = 4):
    scoring = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(n)], "cutoff": pd.Timestamp("2024-03-31")})
    reasons = pd.DataFrame({"reason_1": ["Formal complaints over the last 3 months: up"] * n,
                            "reason_1_feature": ["complaints_3m"] * n, "reason_1_direction": ["up"] * n})
    segments = pd.DataFrame({"customer_id": scoring["customer_id"][::-1].to_numpy(), "age_band": "35-44",
                             "income_band": "2.2-3.2k", "segment": "mass", "region": "north", "behaviour_cluster": 0,
                             "cluster_name": "savers", "lifecycle_stage": "maturity", "value_tier": "high",
                             "clv": [np.nan, 1000.0, 100.0, 2000.0][:n], "monthly_margin": 10.0})
    return scoring, reasons, segments


def test_customer_clv_falls_back_to_the_margin_and_counts_the_fallbacks():
    """CLV 500, none (margin 10 x 24 = 240), none and no margin (unknown)."""
    segments = pd.DataFrame({"clv": [500.0, np.nan, np.nan], "monthly_margin": [1.0, 10.0, np.nan]})
    clv, fallback = customer_clv(segments, fallback_months=24)
    assert clv.tolist()[:2] == [500.0, 240.0] and np.isnan(clv.iloc[2]) and fallback == 1
    assert customer_clv(pd.DataFrame(index=range(2)), fallback_months=24)[0].isna().all()


def test_early_warning_has_pseudonyms_expected_loss_and_actions():
    """Customers C0..C3 with p 0.5, 0.5, 0.1, 0.5 and CLV 2000, 100, 1000, none (-> 10 x 24 = 240):
    expected loss 1000, 50, 100, 120; complaint recovery pays for C0 (0.4 x 1000 - 40 = 360) and C3 (48 - 40)."""
    scoring, reasons, segments = scoring_inputs()
    warning = build_early_warning(scoring, [0.5, 0.5, 0.1, 0.5], reasons, segments, thresholds=[600.0],
                                  grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS,
                                  clv_fallback_months=24, key=KEY)
    assert "customer_id" not in warning.columns
    assert warning["customer_pseudonym"].str.match(r"^p_[0-9a-f]{16}$").all()
    assert not warning.astype(str).apply(lambda c: c.str.contains("C000")).any().any()
    np.testing.assert_allclose(warning["expected_loss"], [1000.0, 120.0, 100.0, 50.0])
    assert warning["rank"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(warning["expected_net_benefit"], [360.0, 8.0, 0.0, 0.0])
    assert warning["action"].tolist()[2:] == [NO_ACTION, NO_ACTION]
    assert (warning["grade"] == "B").all()  # p >= 0.1 is below 600 points (600 points = p 1/51)


def test_segments_without_customer_ids_are_named():
    """Segment columns are optional (a snapshot has no lifecycle stage), the customer id is not."""
    scoring, reasons, segments = scoring_inputs()
    with pytest.raises(KeyError, match="customer_id"):
        build_early_warning(scoring, [0.5] * 4, reasons, segments.drop(columns="customer_id"),
                            thresholds=[600.0], grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS,
                            clv_fallback_months=24, key=KEY)


def test_early_warning_without_customer_values_ranks_by_risk_and_recommends_nothing():
    """A snapshot file's segments: no CLV, no margin, no bank segment, no lifecycle stage or value tier. The list
    keeps the columns that exist, has no expected loss, ranks by churn probability and offers no action."""
    scoring, reasons, _ = scoring_inputs()
    segments = pd.DataFrame({"customer_id": scoring["customer_id"], "age_band": "35-44", "behaviour_cluster": 0,
                             "cluster_name": "everyday customers (high age)"})
    assert customer_clv(segments, fallback_months=24)[0].isna().all()
    warning = build_early_warning(scoring, [0.2, 0.7, 0.1, 0.4], reasons, segments, thresholds=[600.0],
                                  grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS,
                                  clv_fallback_months=24, key=KEY)
    assert warning["p_churn"].tolist() == [0.7, 0.4, 0.2, 0.1]
    assert warning["expected_loss"].isna().all() and (warning["action"] == NO_ACTION).all()
    assert {"age_band", "cluster_name"} <= set(warning.columns)
    assert not {"segment", "lifecycle_stage", "value_tier", "income_band"} & set(warning.columns)
    with pytest.raises(KeyError, match="no row for 1 scored customer"):
        build_early_warning(scoring, [0.5] * 4, reasons, segments.iloc[1:], thresholds=[600.0],
                            grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS, clv_fallback_months=24,
                            key=KEY)
