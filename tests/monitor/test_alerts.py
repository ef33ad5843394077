"""Alert states, reasons and the alarm rates on a constructed monitoring table."""

import numpy as np
import pandas as pd
import pytest

from churnlab.monitor.alerts import alarm_rates, alert_states, binomial_band


def months_table() -> pd.DataFrame:
    return pd.DataFrame({
        "month": pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]),
        "score_psi": [0.001, 0.002, 0.05, 0.001],
        "score_threshold": [0.003, 0.003, 0.003, 0.003],
        "market_drifting": [[], [], ["promo_index"], []],
        "drifting_features": [[], ["tenure_months"], [], []],
        "expected_auc": [0.80, 0.80, 0.79, 0.70],
        "auc": [0.81, np.nan, np.nan, np.nan],
    })


def test_alert_states_name_their_reasons():
    months = alert_states(months_table(), reference_auc=0.80, max_auc_drop=0.05, min_drifting_features=2)
    assert months["alert"].tolist() == [False, False, True, True]
    assert months["retrain"].tolist() == months["alert"].tolist()
    assert any("promo_index" in r for r in months["reasons"].iloc[2])
    assert any("score PSI" in r for r in months["reasons"].iloc[2])
    assert any("estimated AUC 0.700" in r for r in months["reasons"].iloc[3])
    assert not months["feature_drift"].iloc[1]  # one drifting feature is below min_drifting_features


def test_alarm_rates_split_quiet_and_drift_months():
    months = alert_states(months_table(), reference_auc=0.80, max_auc_drop=0.05, min_drifting_features=1)
    rates = alarm_rates(months, shock_start=pd.Timestamp("2024-03-31"), shock_end=pd.Timestamp("2024-03-31"),
                        horizon_months=0)
    assert rates["quiet_months"] == 2 and rates["drift_months"] == 2
    assert rates["false_alarm_rate"] == pytest.approx(0.5)  # February: one drifting feature
    assert rates["detection_rate"] == 1.0 and rates["detection_rate_promotion"] == 1.0
    assert rates["by_signal"]["market_drift"]["detection_rate"] == pytest.approx(0.5)


def test_binomial_band():
    low, high = binomial_band(200, 0.1)
    assert low == pytest.approx(0.1 - 3 * np.sqrt(0.09 / 200))
    assert high == pytest.approx(0.1 + 3 * np.sqrt(0.09 / 200))


def test_realised_decay_seen_through_the_label_window_is_not_a_false_alarm():
    """January's labels cover February-July, so its realised decay is the March promotion seen late."""
    table = months_table().assign(auc=[0.70, np.nan, np.nan, np.nan], expected_auc_low=0.78)
    months = alert_states(table, reference_auc=0.80, max_auc_drop=0.05, min_drifting_features=5)
    assert months["alert"].iloc[0]  # realised decay fires in January
    rates = alarm_rates(months, shock_start=pd.Timestamp("2024-03-31"), shock_end=pd.Timestamp("2024-03-31"),
                        horizon_months=6)
    assert rates["false_alarm_rate"] == 0.0 and rates["quiet_months_with_shock_in_label_window"] == 2
    assert rates["by_signal"]["realised_decay"]["false_alarm_rate"] is None
