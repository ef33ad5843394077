"""The contract source on Spark (`engine.name: spark`): for the same Parquet files it gives the local source's tables,
warnings and errors, word for word; a catalog table and a folder of Parquet files are read too."""

import logging

import numpy as np
import pandas as pd
import pytest
from frames import month, random_tables

from churnlab.contract.schema import ContractError
from churnlab.core.checks import ColumnError, DataError
from churnlab.data import stage
from churnlab.data.contract import find_tables, read_contract

pytestmark = pytest.mark.slow
KEY = b"test-key"


def bank_tables() -> dict[str, pd.DataFrame]:
    """random_tables(3) (five customers over eight month-ends, c4 churns) and a campaign: valid tables."""
    tables = random_tables(3, n_customers=5, n_months=8)
    tables["campaigns"] = pd.DataFrame({"customer_id": ["c0", "c2"], "month": [month(3)] * 2, "treated": [True, False],
                                        "offer": ["rate_match"] * 2, "cost": [60.0, 0.0]})
    return tables


def write(folder, tables: dict[str, pd.DataFrame], folders=("monthly",)) -> dict:
    """The tables as Parquet in `folder`; those in `folders` as a folder `<table>.parquet/` of two files (its data
    rows continue from the first file into the second). Returns `find_tables(folder)`."""
    folder.mkdir()
    for name, frame in tables.items():
        if name in folders:
            (folder / f"{name}.parquet").mkdir()
            half = len(frame) // 2
            frame.iloc[:half].to_parquet(folder / f"{name}.parquet" / "part-0.parquet", index=False)
            frame.iloc[half:].to_parquet(folder / f"{name}.parquet" / "part-1.parquet", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return find_tables(folder)


def answers(spark, files: dict, **options) -> list:
    """What the local and the Spark source give for `files`: the tables, or the error's type and text."""
    from churnlab.data import contract_spark

    found = []
    for read in (lambda: read_contract(files, key=KEY, **options),
                 lambda: contract_spark.read_contract(spark, files, key=KEY, **options)):
        try:
            found.append(read())
        except DataError as err:
            found.append((type(err), str(err)))
    return found


def test_the_same_files_give_the_same_raw_tables_and_warnings_on_both_engines(spark, tmp_path, caplog):
    """Through the data stage's `source_tables` and `run` (what data/raw receives): monthly a folder of two files;
    for Spark, market a catalog table of Parquet files and churn_events a temporary view (numbered in the order
    Spark reads it); three warnings (a gap, a customer without months, a campaign after churn)."""
    tables = bank_tables()
    tables["monthly"] = tables["monthly"].drop(index=3).reset_index(drop=True)  # c0 skips a month
    tables["customers"] = pd.concat([tables["customers"], tables["customers"].iloc[[0]].assign(customer_id="c9")],
                                    ignore_index=True)  # no monthly rows
    churn = tables["churn_events"]["churn_month"].iloc[0]
    tables["campaigns"].loc[1] = ["c4", churn + pd.offsets.MonthEnd(1), False, "rate_match", 0.0]  # after churn
    files = write(tmp_path / "bank", tables)
    from churnlab.data.contract_spark import read_location
    from churnlab.data.spark_rows import ROW

    read_location(spark, files["market"]).drop(ROW).write.parquet(str(tmp_path / "lake" / "market"))
    spark.sql(f"CREATE TABLE default.lake_market USING parquet LOCATION '{tmp_path / 'lake' / 'market'}'")
    spark.createDataFrame(tables["churn_events"]).createOrReplaceTempView("lake_churn_events")
    options = {"path": str(tmp_path / "bank"), "key": KEY, "read": {}, "date_formats": {}, "ledger": {}}
    try:
        results, warned = [], []
        lake = {"market": "table:default.lake_market", "churn_events": "table:lake_churn_events"}
        for engine, tables_in in ((None, {}), (spark, lake)):
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                frames, files_read = stage.source_tables("contract", tables=tables_in, spark=engine, **options)
            warned.append([r.getMessage() for r in caplog.records if "skips months" in r.getMessage()
                           or "have no row" in r.getMessage() or "after the customer's churn" in r.getMessage()])
            results.append(stage.run("contract", frames, inputs={}).tables)
    finally:
        spark.sql("DROP TABLE default.lake_market")
        spark.catalog.dropTempView("lake_churn_events")
    named = [w.replace("table:lake_churn_events", str(files["churn_events"])) for w in warned[1]]
    assert len(warned[0]) == 3 and warned[0] == named  # the same, each naming its table's location
    assert list(results[0]) == list(results[1])
    for path, frame in results[0].items():
        pd.testing.assert_frame_equal(frame, results[1][path])
    assert len(results[1][stage.paths.MONTHLY]) == len(tables["monthly"])
    assert results[1][stage.paths.CUSTOMERS]["customer_id"].str.match(r"p_[0-9a-f]{16}$").all()


def broken(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every kind of bad input at once, in every table (monthly's bad rows in the folder's second file: data rows
    first + 1 ... first + 6, where the second file starts at data row first - 1). Monthly's ids are floats (1000.0)
    where the other files have whole numbers (1000): one problem, and the other rules still compare the ids."""
    customers, monthly, market = tables["customers"], tables["monthly"], tables["market"]
    customers["shoe_size"] = 42  # an extra column
    customers.loc[1, "segment"] = "vip"  # not an allowed value
    customers.loc[2, "birth_year"] = 1850  # out of range
    first = len(monthly) // 2 + 2
    monthly = pd.concat([monthly, monthly.iloc[[first + 5]]], ignore_index=True)  # a repeated (customer, month)
    monthly["tx_count"] = monthly["tx_count"].astype("float64")
    monthly.loc[first, "tx_count"] = 2.5  # a fraction in a whole-number column
    monthly.loc[first + 1, "loan_balance"] = np.nan  # missing in a column that must have values
    monthly.loc[first + 2, "deposit_balance"] = -np.inf  # not finite, and below 0
    monthly.loc[first + 3, "customer_id"] = None  # a blank id
    monthly.loc[first + 4, "month"] = pd.Timestamp("2022-03-15")  # not a month-end
    monthly.loc[len(monthly) - 2, "month"] = month(9)  # the churner's: after its churn month and the market's months
    tables["market"] = market.drop(columns="promo_index").drop(index=4)  # a missing column, a missing month
    tables["churn_events"].loc[1] = ["x00012345", month(2), "involuntary", None]  # no such customer
    tables["campaigns"].loc[0, "customer_id"] = "y00012399"
    numbers = {f"c{i}": str(1000 + i) for i in range(5)}  # whole-number ids, written as floats in monthly
    for frame in (customers, monthly, tables["churn_events"], tables["campaigns"]):
        frame["customer_id"] = frame["customer_id"].map(lambda v: numbers.get(v, v))
    monthly["customer_id"] = monthly["customer_id"].astype("float64")
    return {**tables, "customers": customers, "monthly": monthly}


def test_every_kind_of_bad_input_gives_the_local_error_word_for_word(spark, tmp_path):
    tables = bank_tables()
    first = len(tables["monthly"]) // 2 + 3  # the data row of the first bad monthly row
    local, on_spark = answers(spark, write(tmp_path / "bank", broken(tables)))
    assert local[0] is ContractError and on_spark == local
    text = local[1]
    assert text.startswith("5 tables break the data contract (every problem is listed):")
    for part in ["unexpected extra column(s) ['shoe_size']", "'segment' fails isin",
                 "'birth_year' fails greater_than_or_equal_to(1900)", "duplicate key (customer_id, month): 1 key(s) "
                 "repeated in 2 row(s)", "'tx_count' must hold whole numbers (int64): 1 row(s) do not, e.g. data rows "
                 f"[{first}] values [2.5]",
                 f"column 'loan_balance' is missing in 1 row(s), e.g. data rows [{first + 1}]",
                 "'deposit_balance' is not a finite number", "column 'customer_id' is blank or missing in 1 row(s), "
                 f"e.g. data rows [{first + 3}]", "'month' fails is_month_end", "missing column(s) ['promo_index']",
                 "skips 1 month-end(s)", "is after the customer's churn_month", "is outside the months of market",
                 "has 1 id(s) with no row in customers", "the id types differ between"]:
        assert part in text, part


@pytest.mark.parametrize(("table", "column", "value", "error", "expected"), [
    ("monthly", "deposit_balance", "twelve", DataError, "column 'deposit_balance' must hold numbers; found ['twelve']"),
    ("customers", "payroll", "maybe", DataError, "column 'payroll' must be true/false or 1/0 in every row; found "
                                                 "['maybe']"),
    ("market", "month", None, ColumnError, "missing 1 column(s): 'month'"),
], ids=["text-in-a-number", "not-true-or-false", "no-date-column"])
def test_a_value_that_cannot_be_converted_is_the_same_data_error(spark, tmp_path, table, column, value, error,
                                                                  expected):
    tables = bank_tables()
    if value is None:
        tables[table] = tables[table].drop(columns=column)
    else:
        tables[table] = tables[table].astype({column: object})
        tables[table].loc[2, column] = value
        tables[table][column] = tables[table][column].astype(str)
    local, on_spark = answers(spark, write(tmp_path / "bank", tables, folders=()))
    assert local[0] is error and on_spark == local and expected in local[1]


def test_a_catalog_table_is_an_error_for_the_local_reader_and_must_exist_for_spark(spark, tmp_path):
    files = {**write(tmp_path / "bank", bank_tables(), folders=()), "market": "table:default.no_such_market"}
    with pytest.raises(DataError, match=r"catalog table\(s\) for \['market'\], which only the Spark engine reads"):
        read_contract(files, key=KEY)
    from churnlab.data.contract_spark import read_contract as read_on_spark

    with pytest.raises(DataError, match="table:default.no_such_market: no such table in the Spark catalog"):
        read_on_spark(spark, files, key=KEY)
