"""churnlab.report.monthly_table: the overview notebook's queries give what pandas gives on the whole table."""

import duckdb
import pandas as pd
import pytest

from churnlab.report.monthly_table import MonthlyTable

MONTHS = pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31"])


@pytest.fixture
def monthly() -> pd.DataFrame:
    """Three customers over three month-ends (c leaves after February); logins never recorded (all 0)."""
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "a", "b", "c", "a", "b"],
        "month": MONTHS[[0, 0, 0, 1, 1, 1, 2, 2]],
        "deposit_balance": [100.0, 50.0, 10.0, 120.0, 40.0, 0.0, 130.0, 45.0],
        "n_products": [2, 1, 1, 2, 1, 1, 3, 1],
        "digital_logins": [0] * 8,
        "branch_visits": [1, 0, 2, 0, 0, 1, 0, 3],
    })


@pytest.fixture
def table(monthly, tmp_path) -> MonthlyTable:
    monthly.to_parquet(tmp_path / "monthly.parquet", index=False)
    return MonthlyTable(tmp_path / "monthly.parquet")


def test_rows_and_monthly_aggregates_equal_pandas_on_the_whole_table(table, monthly):
    assert table.rows == 8
    answer = table.by_month(deposits="sum(deposit_balance)", products="avg(n_products)", customers="count(*)",
                            no_branch="avg((branch_visits = 0)::INT)")
    grouped = monthly.groupby("month")
    expected = pd.DataFrame({"deposits": grouped["deposit_balance"].sum(), "products": grouped["n_products"].mean(),
                             "customers": grouped.size(), "no_branch": grouped["branch_visits"].apply(
                                 lambda v: (v == 0).mean())})
    pd.testing.assert_frame_equal(answer, expected, check_dtype=False, check_names=False)
    assert answer.index.dtype == "datetime64[ns]" and list(answer.index) == list(MONTHS)
    assert answer.loc["2024-03-31", "customers"] == 2 and answer.loc["2024-01-31", "deposits"] == 160.0


def test_rows_at_month_ends_keep_the_file_order(table, monthly):
    rows = table.at([MONTHS[2], MONTHS[0]], ["customer_id", "month", "n_products"])
    expected = monthly.loc[monthly["month"].isin(MONTHS[[0, 2]]), ["customer_id", "month", "n_products"]]
    pd.testing.assert_frame_equal(rows, expected.reset_index(drop=True), check_dtype=False)
    assert rows["month"].dtype == "datetime64[ns]"
    assert table.at(pd.to_datetime(["2023-12-31"]), ["customer_id"]).empty  # a month-end outside the file


def test_a_query_sees_pandas_frames_by_name_and_forgets_them(table):
    chosen = pd.DataFrame({"customer_id": ["c", "a", "c"]})  # duplicates: IN counts each row once
    rows = table.query("SELECT customer_id, month FROM monthly WHERE customer_id IN (SELECT customer_id FROM chosen) "
                       "ORDER BY customer_id, month", chosen=chosen)
    assert list(rows["customer_id"]) == ["a", "a", "a", "c", "c"]
    first = table.query("SELECT customer_id, min(month) AS first FROM monthly GROUP BY ALL ORDER BY customer_id")
    assert list(first["first"]) == [MONTHS[0]] * 3
    with pytest.raises(duckdb.CatalogException, match="chosen"):
        table.query("SELECT * FROM chosen")  # unregistered after its query


def test_unrecorded_names_the_columns_holding_one_value(table):
    assert table.unrecorded(["deposit_balance", "digital_logins", "branch_visits", "investment_balance"]) == \
        ["digital_logins"]  # a column the file lacks is not reported
    assert table.unrecorded(["not_there"]) == []


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(duckdb.IOException, match=r"monthly\.parquet"):
        MonthlyTable(tmp_path / "monthly.parquet")


def test_the_answers_do_not_depend_on_the_row_order(monthly, tmp_path):
    shuffled = monthly.sample(frac=1, random_state=1)
    shuffled.to_parquet(tmp_path / "monthly.parquet", index=False)
    answer = MonthlyTable(tmp_path / "monthly.parquet").by_month(deposits="sum(deposit_balance)")
    assert list(answer["deposits"]) == [160.0, 160.0, 175.0]
