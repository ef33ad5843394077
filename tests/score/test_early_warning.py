"""The early-warning list: pseudonymous ids only, expected loss = p x CLV, actions, and the ranking without values."""

import numpy as np
import pandas as pd
import pytest

from churnlab.score.actions import ASSUMED, NO_ACTION, catalogue
from churnlab.score.early_warning import build_early_warning, customer_clv, in_words

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


def listed(**columns) -> pd.DataFrame:
    """Two rows of an early-warning list (the columns `in_words` reads)."""
    return pd.DataFrame({"grade": ["E", "A"], "segment": ["private", "own segment"],
                         "lifecycle_stage": ["decline", None],
                         "cluster_name": ["dormant savers", "digital investors (high deposits) 2"],
                         "reason_1": ["Deposit balance now / its mean: down", None],
                         "reason_1_feature": ["deposit_trend_3m", None], "reason_1_direction": ["down", None],
                         "action": ["rate_match", NO_ACTION], "action_channel": ["phone", None],
                         "action_basis": [ASSUMED, ""], **columns})


def test_the_list_in_english_adds_words_beside_each_code_and_keeps_the_reasons():
    shown = in_words(listed(), "en")
    assert shown["action"].tolist() == ["rate_match", NO_ACTION]  # codes stay for machines
    assert shown["action_text"].tolist() == ["Rate match", "No action"]
    assert shown["segment_text"].tolist() == ["private banking", "own segment"]  # a file's own segment: as is
    assert shown["reason_1"].tolist() == ["Deposit balance now / its mean: down", None]
    assert list(shown.columns).index("grade_text") == list(shown.columns).index("grade") + 1


def test_the_list_in_chinese_reads_reasons_stages_clusters_and_actions_in_chinese():
    shown = in_words(listed(), "zh")
    assert shown["reason_1"].iloc[0].endswith("：下降") and shown["reason_1"].iloc[1] is None
    assert shown["lifecycle_stage_text"].iloc[0] == "衰退期" and pd.isna(shown["lifecycle_stage_text"].iloc[1])
    assert shown["action_text"].tolist() == ["利率匹配", "暂不采取措施"]
    assert shown["grade_text"].tolist() == ["E（高风险）", "A（低风险）"]
    assert shown["cluster_name"].tolist() == ["休眠储蓄型客户", "线上投资型客户（存款高） 2"]
    assert shown["action_basis_text"].iloc[0].startswith("响应率为假设值") and shown["action_basis_text"].iloc[1] == ""
    assert shown["reason_1_feature"].tolist() == ["deposit_trend_3m", None]  # machine columns unchanged


def test_machine_column_names_are_the_same_in_every_language_and_only_text_columns_change():
    shown = {language: in_words(listed(), language) for language in ("en", "zh", "both")}
    assert list(shown["en"].columns) == list(shown["zh"].columns) == list(shown["both"].columns)
    codes = ["grade", "segment", "lifecycle_stage", "action", "action_channel", "action_basis", "reason_1_feature",
             "reason_1_direction"]
    assert shown["zh"][codes].equals(shown["en"][codes])  # codes stay English, for machines
    changed = [c for c in shown["en"] if not shown["en"][c].equals(shown["zh"][c])]
    assert changed == ["grade_text", "segment_text", "lifecycle_stage_text", "cluster_name", "reason_1", "action_text",
                       "action_channel_text", "action_basis_text"]
