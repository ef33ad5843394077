"""The contract source: a bank's own tables as CSV or Parquet files, typed, pseudonymised and validated."""

import pandas as pd
import pytest
from frames import random_tables

from churnlab.contract.schema import ContractError
from churnlab.core.checks import DataError
from churnlab.core.privacy import pseudonymise
from churnlab.data.contract import find_tables, read_contract

KEY = b"test-key"


def write(folder, tables: dict[str, pd.DataFrame], suffix: str = ".csv", **csv) -> None:
    folder.mkdir(exist_ok=True)
    for name, frame in tables.items():
        if suffix == ".csv":
            frame.to_csv(folder / f"{name}.csv", index=False, **csv)
        else:
            frame.to_parquet(folder / f"{name}{suffix}", index=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_read_back_typed_with_pseudonymous_ids_that_still_join(tmp_path, suffix):
    tables = random_tables(3, n_customers=5, n_months=8)
    write(tmp_path / "bank", tables, suffix)
    read = read_contract(find_tables(tmp_path / "bank"), key=KEY)
    assert set(read) == {"customers", "monthly", "market", "churn_events", "campaigns"}
    assert read["campaigns"].empty  # no file: an empty table, not an error
    expected = pseudonymise(tables["customers"]["customer_id"], key=KEY)
    assert read["customers"]["customer_id"].tolist() == expected.tolist()
    assert set(read["monthly"]["customer_id"]) == set(expected)  # same key in every table: they still join
    assert read["monthly"]["month"].dtype == "datetime64[ns]" and read["monthly"]["tx_count"].dtype == "int64"
    pd.testing.assert_series_equal(read["monthly"]["deposit_balance"], tables["monthly"]["deposit_balance"])


def test_semicolons_decimal_commas_and_day_first_dates(tmp_path):
    tables = random_tables(4, n_customers=3, n_months=6)
    write(tmp_path / "bank", tables, sep=";", decimal=",", date_format="%d.%m.%Y")
    read = read_contract(find_tables(tmp_path / "bank"), key=KEY)
    assert read["monthly"]["month"].tolist() == tables["monthly"]["month"].tolist()
    balances = read["monthly"]["deposit_balance"].round(6)
    assert balances.tolist() == tables["monthly"]["deposit_balance"].round(6).tolist()


def test_a_missing_required_table_is_named(tmp_path):
    tables = random_tables(3)
    write(tmp_path / "bank", {k: v for k, v in tables.items() if k != "monthly"})
    with pytest.raises(DataError, match=r"no file for contract table\(s\) \['monthly'\]"):
        find_tables(tmp_path / "bank")


def test_two_files_for_one_table_and_unknown_overrides_are_errors(tmp_path):
    tables = random_tables(3)
    write(tmp_path / "bank", tables)
    tables["market"].to_parquet(tmp_path / "bank" / "market.parquet")
    with pytest.raises(DataError, match="both market.parquet and market.csv"):
        find_tables(tmp_path / "bank")
    with pytest.raises(DataError, match="not contract tables"):
        find_tables(tmp_path / "bank", {"accounts": "x.csv"})


def test_a_path_override_wins(tmp_path):
    tables = random_tables(3)
    write(tmp_path / "bank", tables)
    tables["market"].to_csv(tmp_path / "elsewhere.csv", index=False)
    (tmp_path / "bank" / "market.csv").unlink()
    assert find_tables(tmp_path / "bank", {"market": str(tmp_path / "elsewhere.csv")})["market"].name == "elsewhere.csv"


def test_text_in_a_number_column_names_the_file_and_column(tmp_path):
    tables = random_tables(3)
    tables["monthly"] = tables["monthly"].astype({"deposit_balance": object})
    tables["monthly"].loc[2, "deposit_balance"] = "twelve"
    write(tmp_path / "bank", tables)
    with pytest.raises(DataError, match=r"monthly.csv: column 'deposit_balance' must hold numbers; found \[.twelve.\]"):
        read_contract(find_tables(tmp_path / "bank"), key=KEY)


def test_a_date_in_no_known_format_names_the_column(tmp_path):
    tables = random_tables(3)
    write(tmp_path / "bank", tables, date_format="%Y/%d/%m")
    with pytest.raises(DataError, match="column 'open_date'"):
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
    read = read_contract(find_tables(tmp_path / "bank"), key=KEY,
                         date_formats={"open_date": "%Y/%d/%m", "month": "%Y/%d/%m", "churn_month": "%Y/%d/%m"})
    assert read["customers"]["open_date"].tolist() == tables["customers"]["open_date"].tolist()


def test_a_broken_contract_rule_is_a_contract_error(tmp_path):
    tables = random_tables(3)
    tables["monthly"].loc[0, "month"] = pd.Timestamp("2022-01-15")  # not a month-end
    write(tmp_path / "bank", tables)
    with pytest.raises(ContractError, match="monthly.csv: breaks the 'monthly' contract"):
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
