"""Bad input to the features stage gives a clear error naming the table and the column."""

import duckdb
import pandas as pd
import pytest
from frames import random_tables

from churnlab.contract.schema import ContractError
from churnlab.contract.tables import connect, month_index, month_number, month_range


def test_a_missing_column_names_the_table_and_column():
    frames = random_tables(0)
    frames["monthly"] = frames["monthly"].drop(columns="tx_count")
    with pytest.raises(ContractError, match=r"monthly: missing column\(s\) \['tx_count'\]"):
        connect(frames)


def test_a_date_column_holding_text_is_refused():
    frames = random_tables(0)
    frames["churn_events"] = frames["churn_events"].assign(churn_month=lambda f: f["churn_month"].astype(str))
    with pytest.raises(ContractError, match="churn_events: column 'churn_month' must be a date"):
        connect(frames)


def test_a_missing_table_is_named():
    frames = random_tables(0)
    del frames["market"]
    with pytest.raises(ContractError, match=r"missing table\(s\) \['market'\]"):
        connect(frames)


def test_parquet_paths_work_like_frames(tmp_path):
    frames = random_tables(0)
    sources = {}
    for name, frame in frames.items():
        sources[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(sources[name], index=False)
    assert month_range(connect(sources)) == month_range(connect(frames)) == (2022 * 12, 2022 * 12 + 9)


def test_an_empty_monthly_table_is_a_clear_error():
    frames = random_tables(0)
    frames["monthly"] = frames["monthly"].iloc[:0]
    with pytest.raises(ContractError, match="monthly: the table has no rows"):
        month_range(connect(frames))


def test_month_number_is_the_sql_month_index_in_pandas():
    """2021-01-31 is month 24252 (12 * 2021 + 1 - 1) in SQL and in pandas; a missing date stays missing."""
    sql = duckdb.sql(f"SELECT {month_index('d')} AS m FROM (SELECT DATE '2021-01-31' AS d)").fetchall()[0][0]
    assert sql == month_number("2021-01-31") == 24252
    dates = pd.Series(pd.to_datetime(["2021-01-31", None, "2022-02-28"]))
    numbers = month_number(dates)
    assert numbers.iloc[2] - numbers.iloc[0] == 13 and pd.isna(numbers.iloc[1])
