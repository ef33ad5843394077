"""Known answers for the indicators at one cutoff, and the no-look-ahead property.

Customer "k" (opened 2019-06-10, born 1980) at cutoff t = month 6 (2022-07-31), months 0..6 shown:

| month            | 0   | 1   | 2   | 3   | 4   | 5   | 6   |
|------------------|-----|-----|-----|-----|-----|-----|-----|
| deposit_balance  | 100 | 200 | 300 | 400 | 500 | 600 | 900 |
| tx_count         | 2   | 2   | 2   | 1   | 0   | 0   | 0   |
| n_products       | 3   | 3   | 3   | 3   | 2   | 2   | 2   |
| complaints       | 1   | 0   | 0   | 0   | 1   | 0   | 1   |
| salary_inflow    | 0   | 0   | 2000| 0   | 0   | 0   | 0   |

- deposit_trend_3m = 900 / mean(400, 500, 600) = 1.8; deposit_trend_6m = 900 / mean(100..600) = 2.5714
- deposit_volatility_6m = std(200, 300, 400, 500, 600, 900) / mean(...) = 250.33 / 483.33 = 0.5179
- n_products_change_3m = 2 - 3 = -1; months_since_last_tx = 6 - 3 = 3; months_since_salary = 4
- tx_count_change_3m = mean(0, 0, 0) / mean(2, 1, 0)... over t-5..t-3 = months 1, 2, 3: (2+2+1)/3, so 0
- complaints_3m = 0 + 1 + 0... months 4, 5, 6 = 2; complaints_12m (all 7 months observed) = 3
- tenure_months = months from June 2019 to July 2022 inclusive = 38; age = 2022 - 1980 = 42
- market (frames.market): spread 0.1 * i, so spread 0.6 and its 3-month change 0.3
"""

import math
from pathlib import Path

import pandas as pd
import pytest
from frames import customer, months, random_tables, tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnlab.contract.indicators import CATEGORICAL, FEATURES, catalogue
from churnlab.contract.snapshots import snapshot_at
from churnlab.contract.tables import connect

CHURN = {"definition": "closure", "dormancy_months": 3, "value_drop_pct": 50.0, "value_window_months": 3,
         "partial_drop": 1}


def features_at(frames: dict, t: int) -> pd.DataFrame:
    """The feature columns of the snapshot at month number t (labels dropped: they look ahead)."""
    con = connect(frames)
    first, last = con.execute("SELECT min(m), max(m) FROM monthly").fetchone()
    snapshot, _ = snapshot_at(con, first + t, last_month=last, horizon_months=1, **CHURN)
    return snapshot.drop(columns=["label", "labeled"]).set_index("customer_id")


def hand_frames() -> dict:
    k = months("k", 0, 9, deposit_balance=[100.0, 200, 300, 400, 500, 600, 900, 5, 5, 5],
               tx_count=[2, 2, 2, 1, 0, 0, 0, 9, 9, 9], n_products=[3, 3, 3, 3, 2, 2, 2, 1, 1, 1],
               complaints=[1, 0, 0, 0, 1, 0, 1, 5, 5, 5], salary_inflow=[0.0, 0, 2000, 0, 0, 0, 0, 0, 0, 0])
    late = months("late", 7, 9)  # opens after t: not in the snapshot
    gone = months("gone", 0, 6)  # churns in month 6 = t: not active at t
    return tables([customer("k"), customer("late", "2022-08-03"), customer("gone")], k + late + gone,
                  [("gone", 6, "transfer_out")], n_months=10)


def test_known_indicator_values_at_a_cutoff():
    row = features_at(hand_frames(), 6).loc["k"]
    expected = {
        "deposit_balance": 900, "deposit_trend_3m": 1.8, "deposit_trend_6m": 900 / 350,
        "deposit_volatility_6m": pd.Series([200, 300, 400, 500, 600, 900.0]).std() / (2900 / 6),
        "n_products_change_3m": -1, "months_since_last_tx": 3, "months_since_salary": 4,
        "tx_count_change_3m": 0, "complaints_3m": 2, "complaints_12m": 3, "tenure_months": 38, "age": 42,
        "competitor_spread": 0.6, "competitor_spread_change_3m": 0.3, "digital_share_3m": 12 / 15,
        "investment_trend_3m": math.nan, "has_card": False,
    }
    for name, value in expected.items():
        if math.isnan(value):
            assert pd.isna(row[name]), name
        else:
            assert row[name] == pytest.approx(value), name
    assert row["age_band"] == "35-44"


def test_snapshot_holds_only_customers_active_at_the_cutoff():
    assert features_at(hand_frames(), 6).index.tolist() == ["k"]
    assert sorted(features_at(hand_frames(), 5).index) == ["gone", "k"]


def test_snapshot_columns_and_types():
    con = connect(hand_frames())
    first, last = con.execute("SELECT min(m), max(m) FROM monthly").fetchone()
    snapshot, _ = snapshot_at(con, first + 6, last_month=last, horizon_months=3, **CHURN)
    assert list(snapshot.columns[:4]) == ["customer_id", "cutoff", "label", "labeled"]
    assert list(snapshot.columns[4:]) == list(FEATURES)
    assert str(snapshot["label"].dtype) == "Int8" and snapshot["labeled"].dtype == bool
    assert snapshot["cutoff"].dtype == "datetime64[ns]" and snapshot["cutoff"].iloc[0] == pd.Timestamp("2022-07-31")
    assert all(isinstance(snapshot[c].dtype, pd.CategoricalDtype) for c in CATEGORICAL)


def test_missing_income_and_education_stay_missing_with_an_indicator():
    frames = random_tables(3)
    row = features_at(frames, 5)
    assert pd.isna(row.loc["c1", "income"]) and bool(row.loc["c1", "income_missing"])
    assert pd.isna(row.loc["c2", "education"]) and bool(row.loc["c2", "education_missing"])
    assert not row.loc["c0", "income_missing"] and row.loc["c0", "education"] == "tertiary"


def test_catalogue_lists_every_feature_once_with_a_group_and_lookback():
    table = catalogue()
    assert table["feature"].tolist() == list(FEATURES) and table["feature"].is_unique
    assert set(table["group"]) == {"customer", "banking", "market"}
    assert (table["lookback_months"] <= 12).all() and table["meaning"].str.len().gt(10).all()


def _perturb_future(frames: dict, t: int, draw) -> dict:
    """Change or delete monthly, market and churn-event data dated after month number t."""
    cut = frames["market"]["month"].iloc[t]
    monthly, market, events = (frames[k].copy() for k in ("monthly", "market", "churn_events"))
    after = monthly["month"] > cut
    numeric = ["deposit_balance", "investment_balance", "loan_balance", "tx_count", "n_products", "complaints",
               "salary_inflow", "fees_paid", "card_utilisation"]
    factor = draw(st.sampled_from([0.0, 0.5, 3.0]))
    monthly.loc[after, numeric] = (monthly.loc[after, numeric] * factor).round().astype(monthly[numeric].dtypes)
    drop = draw(st.lists(st.sampled_from(monthly.index[after].tolist() or [None]), max_size=5))
    monthly = monthly.drop(index=[i for i in drop if i is not None])
    market.loc[market["month"] > cut, ["competitor_spread", "unemployment", "promo_index"]] = 9.0
    if draw(st.booleans()):
        market = market[market["month"] <= cut]
    late = events["churn_month"] > cut
    if draw(st.booleans()):
        events = events[~late]
    else:
        events.loc[late, "churn_month"] = frames["market"]["month"].iloc[-1]
        events = pd.concat([events, pd.DataFrame({"customer_id": ["c0"], "churn_month": [cut + pd.offsets.MonthEnd(1)],
                                                  "churn_type": ["involuntary"], "reason": [None]})])
    return {**frames, "monthly": monthly, "market": market, "churn_events": events.drop_duplicates("customer_id")}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), t=st.integers(2, 7), data=st.data())
def test_changing_or_deleting_data_after_t_leaves_every_feature_at_t_unchanged(seed, t, data):
    frames = random_tables(seed)
    before = features_at(frames, t)
    after = features_at(_perturb_future(frames, t, data.draw), t)
    assert len(before) > 0
    pd.testing.assert_frame_equal(before, after)


def test_the_docs_table_is_the_generated_catalogue():
    from churnlab.contract.indicators import catalogue_markdown

    docs = (Path(__file__).resolve().parents[2] / "docs" / "indicators.md").read_text(encoding="utf-8")
    assert catalogue_markdown() in docs  # regenerate with `python -m churnlab.contract.indicators`
