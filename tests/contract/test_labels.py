"""Known-answer tests of the four churn definitions on six hand-made customers (cutoff t = month 3, H = 3).

Months are numbered 0..9 (2022-01-31 .. 2022-10-31); the horizon is months 4, 5, 6. Parameters: dormancy
k = 2 idle months, value drop > 50 % sustained for m = 2 months, partial drop n = 1 product.

| id | story                                                          | closure | dormancy | value | partial |
|----|----------------------------------------------------------------|---------|----------|-------|---------|
| a  | steady: 5 tx, 1000 EUR, 2 products every month                 | 0       | 0        | 0     | 0       |
| b  | closes in month 5 (churn event)                                | 1       | 1        | 1     | 1       |
| c  | no tx in months 3 and 4: run of 2 ends in month 4 (starts at t)| 0       | 1        | 0     | 0       |
| d  | balance 1000 -> 400 in months 5, 6 (60 % drop, 2 months)       | 0       | 0        | 1     | 0       |
| e  | drops to 1 product in month 6                                  | 0       | 0        | 0     | 1       |
| f  | balance 400 in month 6 only (one month), idle in months 1, 2   | 0       | 0        | 0     | 0       |

f's idle run (months 1-2) ends before t, and its one-month dip is not sustained, so f is 0 everywhere.
Closure counts for every definition (b). A closure in month 8 (outside the horizon) would be 0.
"""

import pandas as pd
import pytest
from frames import customer, months, tables

from churnlab.contract.labels import DEFINITIONS, churn_labels, label_events
from churnlab.contract.tables import connect

T = 3
CHURN = {"dormancy_months": 2, "value_drop_pct": 50.0, "value_window_months": 2, "partial_drop": 1}


def six_customers(n_months: int = 10) -> dict[str, pd.DataFrame]:
    last = n_months - 1
    monthly = (
        months("a", 0, last)
        + months("b", 0, 5)
        + months("c", 0, last, tx_count=[5, 5, 5, 0, 0, 5, 5, 5, 5, 5][:n_months])
        + months("d", 0, last, deposit_balance=[1000.0] * 5 + [400.0, 400.0] + [1000.0] * 3)
        + months("e", 0, last, n_products=[2] * 6 + [1] * 4)
        + months("f", 0, last, deposit_balance=[1000.0] * 6 + [400.0] + [1000.0] * 3,
                 tx_count=[5, 0, 0, 5, 5, 5, 5, 5, 5, 5])
    )
    monthly = [row for row in monthly if row["month"] <= pd.Timestamp("2022-01-31") + pd.offsets.MonthEnd(last)]
    return tables([customer(c) for c in "abcdef"], monthly, [("b", 5, "voluntary_closure")], n_months=n_months)


def labels_at(frames: dict, *, t: int = T, horizon: int = 3, **churn) -> pd.DataFrame:
    con = connect(frames)
    last = con.execute("SELECT max(m) FROM monthly").fetchone()[0]
    t_index = con.execute("SELECT min(m) FROM monthly").fetchone()[0] + t
    con.execute(f"CREATE TEMP TABLE active AS SELECT DISTINCT customer_id FROM monthly WHERE m = {t_index}")
    return churn_labels(con, "active", t=t_index, last_month=last, horizon_months=horizon,
                        **(CHURN | churn)).set_index("customer_id").sort_index()


EXPECTED = pd.DataFrame(
    {"closure": [0, 1, 0, 0, 0, 0], "dormancy": [0, 1, 1, 0, 0, 0], "value": [0, 1, 0, 1, 0, 0],
     "partial": [0, 1, 0, 0, 1, 0]},
    index=pd.Index(list("abcdef"), name="customer_id"),
).astype("Int8")


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_each_definition_matches_the_hand_worked_labels(definition):
    labels = labels_at(six_customers())
    pd.testing.assert_series_equal(labels[definition], EXPECTED[definition])


def test_a_dip_shorter_than_the_value_window_is_not_value_churn_but_a_one_month_window_is():
    assert labels_at(six_customers()).loc["f", "value"] == 0
    assert labels_at(six_customers(), value_window_months=1).loc["f", "value"] == 1


def test_a_drop_of_exactly_the_threshold_is_not_a_drop_of_more_than_it():
    assert labels_at(six_customers(), value_drop_pct=60.0).loc["d", "value"] == 0
    assert labels_at(six_customers(), value_drop_pct=59.0).loc["d", "value"] == 1


def test_an_idle_run_that_ended_before_t_does_not_count_but_a_longer_run_requirement_does_not_fire():
    labels = labels_at(six_customers(), dormancy_months=3)
    assert labels.loc["c", "dormancy"] == 0  # only two idle months
    assert labels.loc["f", "dormancy"] == 0


def test_unobserved_future_is_missing_unless_already_churned():
    # Data end at month 5: the horizon 4..6 is cut short, so only b (closed in month 5) and c (idle run
    # complete in month 4) are known; everyone else is <NA>.
    frames = six_customers()
    frames["monthly"] = frames["monthly"][frames["monthly"]["month"] <= pd.Timestamp("2022-06-30")]
    labels = labels_at(frames)
    assert labels["closure"].tolist() == [pd.NA, 1, pd.NA, pd.NA, pd.NA, pd.NA]
    assert labels["dormancy"].tolist() == [pd.NA, 1, 1, pd.NA, pd.NA, pd.NA]
    assert labels.loc["d", "value"] is pd.NA  # 400 in month 5 but the second month is not observed


def test_label_events_keeps_positives_and_blanks_negatives_when_unobserved():
    events = pd.DataFrame({"customer_id": ["x", "y"], "closure_event": [False, False],
                           "dormancy_event": [True, False], "value_event": [False, False],
                           "partial_event": [False, False]})
    labels = label_events(events, observed=False)
    assert labels["dormancy"].tolist() == [1, pd.NA]
    assert labels["closure"].isna().all()
    assert str(labels["value"].dtype) == "Int8"


@pytest.mark.parametrize("bad", [{"value_drop_pct": 0.0}, {"value_drop_pct": 100.0}, {"dormancy_months": 0}])
def test_nonsense_parameters_are_refused(bad):
    with pytest.raises(ValueError, match="must be"):
        labels_at(six_customers(), **bad)


def test_zero_balance_at_t_cannot_churn_by_value():
    frames = six_customers()
    monthly = frames["monthly"]
    monthly.loc[monthly["customer_id"] == "d", "deposit_balance"] = 0.0
    labels = labels_at(frames)
    assert labels.loc["d", "value"] == 0
    assert labels.loc["b", "value"] == 1  # the closure still counts


def test_an_account_not_used_yet_is_not_dormant_until_after_its_first_own_transaction():
    """g opens with no own transaction until month 5 (idle 0..4): not dormant at t = 3. h transacts in month 0,
    then idles in months 1..6: dormant (its run ends inside the horizon)."""
    monthly = (months("g", 0, 9, tx_count=[0, 0, 0, 0, 0, 5, 5, 5, 5, 5])
               + months("h", 0, 9, tx_count=[5, 0, 0, 0, 0, 0, 0, 5, 5, 5]))
    labels = labels_at(tables([customer(c) for c in "gh"], monthly, [], n_months=10))
    assert labels["dormancy"].tolist() == [0, 1]
