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

import pandas as pd
from frames import customer, months, tables

from churnlab.lifetimes import build_lifetimes
from churnlab.tables import connect, month_range


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
