"""The campaign's outcomes, point-in-time features and survival effect on tiny hand-made tables."""

import numpy as np
import pandas as pd
import pytest
from frames import customer, month, months, tables

from churnlab.contract.tables import connect
from churnlab.core.checks import ColumnError
from churnlab.retention.campaign import campaign_outcomes, features_at, first_waves, survival_effect

CAMPAIGNS = pd.DataFrame({
    "customer_id": ["a", "b", "c", "d", "a"],
    "month": [month(2), month(2), month(2), month(2), month(8)],
    "treated": [True, False, True, False, True],
    "offer": "rate_match", "cost": [60.0, 0.0, 60.0, 0.0, 60.0],
})
EVENTS = pd.DataFrame({"customer_id": ["a", "b", "c"], "churn_month": [month(5), month(9), month(2)],
                       "churn_type": "voluntary_closure"})


def test_outcome_is_churn_within_h_months_after_the_campaign_month():
    """H = 3, data end at month 9. a: churn at 5 is in (2, 5] -> 1; b: churn at 9 is past 5 -> 0; c: churned in
    the campaign month itself, not after it -> 0; d: never -> 0. a's second wave at 8 has no full window -> dropped."""
    out = campaign_outcomes(CAMPAIGNS, EVENTS, horizon_months=3, last_month=month(9))
    assert list(out["customer_id"]) == ["a", "b", "c", "d"]
    assert list(out["churned"]) == [1, 0, 0, 0]
    assert "churn_month" not in out


def test_missing_campaign_column_is_a_clear_error():
    with pytest.raises(ColumnError, match=r"campaigns: missing 1 column\(s\): 'treated'"):
        campaign_outcomes(CAMPAIGNS.drop(columns="treated"), EVENTS, horizon_months=3, last_month=month(9))


def test_first_waves_give_months_to_churn_or_censoring():
    waves = first_waves(CAMPAIGNS, EVENTS, last_month=month(9)).set_index("customer_id")
    assert waves.loc["a", "month"] == month(2)  # the first of a's two waves
    assert (waves.loc["a", "duration"], waves.loc["a", "event"]) == (3, 1)
    assert (waves.loc["b", "duration"], waves.loc["b", "event"]) == (7, 1)
    assert (waves.loc["d", "duration"], waves.loc["d", "event"]) == (7, 0)  # censored at the data end


def test_features_at_the_campaign_month_ignore_later_data():
    """Changing everything after month 2 leaves the campaign-time features unchanged (no look-ahead)."""
    people = [customer("a"), customer("b")]
    rows = months("a", 0, 6, deposit_balance=[100, 200, 300, 400, 500, 600, 700], complaints=[0, 1, 0, 0, 0, 0, 0])
    rows += months("b", 0, 6)
    later = [dict(r, deposit_balance=9e6, complaints=5) if r["month"] > month(2) else r for r in rows]
    keys = pd.DataFrame({"customer_id": ["a", "b"], "month": [month(2), month(2)]})
    now = features_at(connect(tables(people, rows, n_months=7)), keys).set_index("customer_id")
    then = features_at(connect(tables(people, later, n_months=7)), keys).set_index("customer_id")
    pd.testing.assert_frame_equal(now, then)
    assert now.loc["a", "deposit_balance"] == 300 and now.loc["a", "complaints_3m"] == 1
    assert now.loc["a", "month"] == month(2)


def test_features_at_no_keys_is_an_empty_table_and_the_connection_stays_usable():
    """No campaign row (or no churner to profile): no features, and the next query on the connection still runs."""
    con = connect(tables([customer("a")], months("a", 0, 3), n_months=4))
    none = pd.DataFrame({"customer_id": pd.Series(dtype=object), "month": pd.Series(dtype="datetime64[ns]")})
    empty = features_at(con, none)
    assert empty.empty and list(empty.columns[:3]) == ["customer_id", "month", "age"]
    keys = pd.DataFrame({"customer_id": ["a"], "month": [month(3)]})
    assert len(features_at(con, keys)) == 1


def test_rmst_gain_on_a_hand_worked_case():
    """Treated leave at months 2, 4, 6; controls at 1, 2, 3; tau = 4.
    Treated KM: 1 on [0,2), 2/3 on [2,4), 1/3 after: RMST = 2 + 2 x 2/3 = 10/3.
    Control KM: 1 on [0,1), 2/3 on [1,2), 1/3 on [2,3), 0 after: RMST = 1 + 2/3 + 1/3 = 2. Gain = 4/3.
    Variance (sum of A_j^2 d_j / (Y_j (Y_j - d_j)), A_j = area of S from t_j to tau):
    treated: t=2: A = 4/3, Y = 3 -> (16/9) / 6 = 8/27; t=4: A = 0. Control: t=1: A = 1, Y = 3 -> 1/6;
    t=2: A = 1/3, Y = 2 -> 1/18; t=3: Y = d (no term). So se = sqrt(8/27 + 2/9)."""
    lifetimes = pd.DataFrame({"treated": [True] * 3 + [False] * 3, "duration": [2, 4, 6, 1, 2, 3], "event": 1})
    summary, curves = survival_effect(lifetimes, tau_months=4)
    assert summary["treated"]["rmst"] == pytest.approx(10 / 3)
    assert summary["control"]["rmst"] == pytest.approx(2.0)
    assert summary["rmst_gain_months"] == pytest.approx(4 / 3)
    assert summary["rmst_gain_se"] == pytest.approx(np.sqrt(8 / 27 + 2 / 9))
    np.testing.assert_allclose(curves["control"], [1, 2 / 3, 1 / 3, 0, 0])
    assert 0 < summary["logrank_p"] < 1


def test_survival_effect_needs_both_arms():
    lifetimes = pd.DataFrame({"treated": [True, True], "duration": [2, 3], "event": [1, 0]})
    with pytest.raises(ValueError, match="both treated and control"):
        survival_effect(lifetimes, tau_months=4)
