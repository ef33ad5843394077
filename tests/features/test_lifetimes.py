"""Lifetimes on five hand-worked customers; window months 0..9 = 2022-01-31..2022-10-31 (data end L = 9).

Tenure counts months from the start of the opening month; entry_tenure is tenure at the start of the first
observed month, duration the tenure at the end of the exit month.

| id | opened     | rows  | churn                  | entry_tenure | duration      | event | censor_reason |
|----|------------|-------|------------------------|--------------|---------------|-------|---------------|
| A  | 2021-11-20 | 0..9  | none                   | 2 (Nov, Dec) | 2 + 10 = 12   | 0     | end_of_data   |
| B  | 2022-03-15 | 2..6  | voluntary_closure, 6   | 0            | 5 (Mar..Jul)  | 1     | <NA>          |
| C  | 2019-01-31 | 0..0  | involuntary, 0         | 36           | 37            | 1     | <NA>          |
| D  | 2022-10-02 | 9..9  | none                   | 0            | 1             | 0     | end_of_data   |
| E  | 2020-06-30 | 0..9  | transfer_out, 9        | 19           | 19 + 10 = 29  | 1     | <NA>          |

Covariates: deposit_balance is 100 * (month number + 1), so entry_deposit_balance tells the entry month
and last_deposit_balance the last active month (the month before the churn month, or L): A 1000 (month 9),
B 600 (month 5), C none (churned in its only month), D 1000 (month 9), E 900 (month 8).
"""

import logging

import pandas as pd
import pytest
from frames import customer, months, tables

from churnlab.contract.labels import churn_labels
from churnlab.contract.tables import connect, month_range
from churnlab.data.ledger import ledger_tables, read_ledger
from churnlab.features.lifetimes import build_lifetimes


def deposits(first: int, last: int) -> list[float]:
    return [100.0 * (i + 1) for i in range(first, last + 1)]


def five_customers() -> dict:
    spans = {"A": (0, 9), "B": (2, 6), "C": (0, 0), "D": (9, 9), "E": (0, 9)}
    monthly = [row for c, (a, b) in spans.items() for row in months(c, a, b, deposit_balance=deposits(a, b))]
    opened = {"A": "2021-11-20", "B": "2022-03-15", "C": "2019-01-31", "D": "2022-10-02", "E": "2020-06-30"}
    events = [("B", 6, "voluntary_closure"), ("C", 0, "involuntary"), ("E", 9, "transfer_out")]
    return tables([customer(c, d) for c, d in opened.items()], monthly, events, n_months=10)


def lifetimes() -> pd.DataFrame:
    con = connect(five_customers())
    _, last = month_range(con)
    return build_lifetimes(con, last_month=last).set_index("customer_id")


def test_entry_duration_and_event_match_the_hand_worked_table():
    table = lifetimes()
    assert table["entry_tenure"].to_dict() == {"A": 2, "B": 0, "C": 36, "D": 0, "E": 19}
    assert table["duration"].to_dict() == {"A": 12, "B": 5, "C": 37, "D": 1, "E": 29}
    assert table["event"].to_dict() == {"A": 0, "B": 1, "C": 1, "D": 0, "E": 1}
    assert (table["duration"] > table["entry_tenure"]).all()


def test_censoring_and_churn_type_are_recorded():
    table = lifetimes()
    assert table["censor_reason"].tolist() == ["end_of_data", pd.NA, pd.NA, "end_of_data", pd.NA]
    assert table["churn_type"].tolist() == [pd.NA, "voluntary_closure", "involuntary", pd.NA, "transfer_out"]
    assert table.loc["B", "exit_month"] == pd.Timestamp("2022-07-31")
    assert table.loc["A", "exit_month"] == pd.Timestamp("2022-10-31")
    assert table.loc["B", "entry_month"] == pd.Timestamp("2022-03-31")
    assert table.loc["A", "open_date"] == pd.Timestamp("2021-11-20")


def test_entry_and_last_covariates_come_from_the_right_months():
    table = lifetimes()
    assert table["entry_deposit_balance"].to_dict() == {"A": 100, "B": 300, "C": 100, "D": 1000, "E": 100}
    last = table["last_deposit_balance"]
    assert last[["A", "B", "D", "E"]].tolist() == [1000, 600, 1000, 900]
    assert pd.isna(last["C"]) and pd.isna(table.loc["C", "active_until"])
    assert table.loc["E", "active_until"] == pd.Timestamp("2022-09-30")
    assert table.loc["C", "last_has_card"] is pd.NA  # missing, not False
    assert table.loc["A", "entry_tenure_months"] == 3  # the snapshot tenure at the end of the entry month


def test_one_row_per_customer_with_entry_and_last_prefixes_kept_apart():
    table = lifetimes()
    assert table.index.is_unique and len(table) == 5
    entry = [c for c in table.columns if c.startswith("entry_") and c not in ("entry_month", "entry_tenure")]
    last = [c for c in table.columns if c.startswith("last_")]
    assert len(entry) == len(last) > 40
    assert {c.removeprefix("entry_") for c in entry} == {c.removeprefix("last_") for c in last}


# --- dormancy: the event is the first month of the first run of k idle months ---------------------------


def idle(first: int, last: int, months_idle: set[int]) -> list[int]:
    """tx_count per month first..last: 0 in the idle months, 5 otherwise."""
    return [0 if i in months_idle else 5 for i in range(first, last + 1)]


def dormancy_customers() -> dict:
    """Window months 0..9 (L = 9), dormancy_months k = 3: follow-up ends at L - k + 1 = 7 (2022-08-31).

    | id | opened     | rows | idle months | closure                | event month | entry_tenure | duration    |
    |----|------------|------|-------------|------------------------|-------------|--------------|-------------|
    | P  | 2021-11-20 | 0..9 | 4, 5, 6     | none                   | 4 dormancy  | 2            | 2 + 5 = 7   |
    | X  | 2021-11-20 | 0..9 | 4..9        | none                   | 4 dormancy  | 2            | 2 + 5 = 7   |
    | Q  | 2019-01-31 | 0..9 | 8, 9        | none                   | censored 7  | 36           | 36 + 8 = 44 |
    | R  | 2021-11-20 | 0..9 | 2, 3, 5, 6  | none                   | censored 7  | 2            | 2 + 8 = 10  |
    | S  | 2020-06-30 | 0..5 | 3, 4, 5     | voluntary_closure, 5   | 3 dormancy  | 19           | 19 + 4 = 23 |
    | T  | 2020-06-30 | 0..4 | none        | transfer_out, 4        | 4 closure   | 19           | 19 + 5 = 24 |
    | U  | 2020-06-30 | 0..9 | none        | voluntary_closure, 9   | censored 7  | 19           | 19 + 8 = 27 |
    | V  | 2022-03-10 | 2..9 | 2, 3, 4     | none                   | censored 7  | 0            | 7 - 2 + 1 = 6 |
    | W  | 2022-09-05 | 8..9 | none        | none                   | left out: first seen after month 7     |

    X's run is longer than k but starts with P's. Q's idle run is cut by the data end (2 of 3 months) and
    R's two runs are too short: both are censored at 7, like U, whose closure comes after the follow-up
    end. S went idle before it closed: the earlier event counts. V was idle from its first month, before its
    first own transaction (month 5): an account not used yet has not stopped using the bank, so V is censored.
    """
    spans = {"P": (0, 9), "X": (0, 9), "Q": (0, 9), "R": (0, 9), "S": (0, 5), "T": (0, 4), "U": (0, 9),
             "V": (2, 9), "W": (8, 9)}
    idle_months = {"P": {4, 5, 6}, "X": set(range(4, 10)), "Q": {8, 9}, "R": {2, 3, 5, 6}, "S": {3, 4, 5},
                   "V": {2, 3, 4}}
    monthly = [row for c, (a, b) in spans.items() for row in months(
        c, a, b, deposit_balance=deposits(a, b), tx_count=idle(a, b, idle_months.get(c, set())))]
    opened = {"P": "2021-11-20", "X": "2021-11-20", "Q": "2019-01-31", "R": "2021-11-20", "S": "2020-06-30",
              "T": "2020-06-30", "U": "2020-06-30", "V": "2022-03-10", "W": "2022-09-05"}
    events = [("S", 5, "voluntary_closure"), ("T", 4, "transfer_out"), ("U", 9, "voluntary_closure")]
    return tables([customer(c, d) for c, d in opened.items()], monthly, events, n_months=10)


CHURN = {"definition": "dormancy", "dormancy_months": 3, "value_drop_pct": 50, "value_window_months": 3,
         "partial_drop": 1}


def dormancy_lifetimes(**churn) -> pd.DataFrame:
    con = connect(dormancy_customers())
    _, last = month_range(con)
    return build_lifetimes(con, last_month=last, **(CHURN | churn)).set_index("customer_id")


def test_dormancy_events_match_the_hand_worked_table(caplog):
    caplog.set_level(logging.INFO, logger="churnlab.features.lifetimes")
    table = dormancy_lifetimes()
    assert list(table.index) == ["P", "Q", "R", "S", "T", "U", "V", "X"]  # W has no follow-up
    assert "1 customer(s) first seen after it left out" in caplog.text
    assert table["entry_tenure"].to_dict() == {"P": 2, "Q": 36, "R": 2, "S": 19, "T": 19, "U": 19, "V": 0, "X": 2}
    assert table["duration"].to_dict() == {"P": 7, "Q": 44, "R": 10, "S": 23, "T": 24, "U": 27, "V": 6, "X": 7}
    assert table["event"].to_dict() == {"P": 1, "Q": 0, "R": 0, "S": 1, "T": 1, "U": 0, "V": 0, "X": 1}
    # rows P, Q, R, S, T, U, V, X
    assert table["churn_type"].tolist() == ["dormancy", pd.NA, pd.NA, "dormancy", "transfer_out", pd.NA,
                                            pd.NA, "dormancy"]
    assert (table["duration"] > table["entry_tenure"]).all()


def test_dormancy_exit_censoring_and_last_covariates():
    table = dormancy_lifetimes()
    assert table.loc["P", "exit_month"] == pd.Timestamp("2022-05-31")  # the run's first month, 4
    assert table.loc[["Q", "R", "U"], "exit_month"].eq(pd.Timestamp("2022-08-31")).all()  # follow-up end, 7
    end = "end_of_data"
    assert table["censor_reason"].tolist() == [pd.NA, end, end, pd.NA, pd.NA, end, end, pd.NA]  # P, Q, .., X
    # last_ covariates: the month before the event month, or the follow-up end (deposit_balance = 100 (m + 1)).
    last = table["last_deposit_balance"]
    assert last[["P", "Q", "R", "S", "T", "U", "V", "X"]].tolist() == [400, 800, 800, 300, 400, 800, 800, 400]


def test_dormancy_event_agrees_with_the_labels():
    """P's run starts at 4: the dormancy label is 1 at cutoff 3 with horizon 3 (the run ends at 6), 0 at 2."""
    con = connect(dormancy_customers())
    first, last = month_range(con)
    rules = {k: v for k, v in CHURN.items() if k != "definition"}
    at_3, at_2 = (churn_labels(con, "(SELECT 'P' AS customer_id)", t=first + t, last_month=last, horizon_months=3,
                               **rules) for t in (3, 2))
    assert at_3["dormancy"].tolist() == [1] and at_2["dormancy"].tolist() == [0]


def test_closure_is_the_default_and_ignores_the_thresholds():
    con = connect(five_customers())
    _, last = month_range(con)
    default = build_lifetimes(con, last_month=last)
    explicit = build_lifetimes(con, last_month=last, **(CHURN | {"definition": "closure"}))
    pd.testing.assert_frame_equal(default, explicit)


def test_unsupported_definitions_and_bad_dormancy_months_are_errors():
    with pytest.raises(ValueError, match=r"lifetimes support \['closure', 'dormancy'\] only"):
        dormancy_lifetimes(definition="value")
    with pytest.raises(ValueError, match="dormancy_months must be >= 1"):
        dormancy_lifetimes(dormancy_months=None)
    with pytest.raises(ValueError, match="dormancy_months=11 is longer than the data's 10 month"):
        dormancy_lifetimes(dormancy_months=11)


@pytest.mark.shared_data
def test_berka_lifetimes_under_dormancy(shared_data):
    """The Berka ledger has no closures, so only dormancy gives events: 242 of 1,139 customers at k = 3.

    (58 of the 1,197 customers opened after 1993-12, the follow-up end, and are left out.) Every one of
    the 242 runs starts in the month after the opening month: new accounts fed by a pension or transfer
    that the owner does not touch for three months, not leavers (see the report on this change).
    """
    tables = ledger_tables(read_ledger(shared_data / "berka_pkdd99"), key=b"test key")
    con = connect(tables)
    _, last = month_range(con)
    assert build_lifetimes(con, last_month=last)["event"].sum() == 0
    table = build_lifetimes(con, last_month=last, **CHURN)
    assert (len(table), int(table["event"].sum())) == (1139, 242)
    assert (table["duration"] > table["entry_tenure"]).all()
    assert set(table["churn_type"].dropna()) == {"dormancy"}
