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


def problems(err: pytest.ExceptionInfo) -> list[str]:
    return [line[4:] for line in str(err.value).splitlines() if line.startswith("  - ")]


@pytest.mark.parametrize(("suffix", "blank"), [(".csv", None), (".parquet", " ")])
def test_a_blank_id_is_an_error_before_pseudonymising(tmp_path, suffix, blank):
    """A missing id used to become the customer whose pseudonym is the hash of "nan"."""
    tables = random_tables(3)
    tables["monthly"].loc[2, "customer_id"] = blank
    write(tmp_path / "bank", tables, suffix)
    with pytest.raises(ContractError) as err:
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
    assert str(err.value).startswith(f"{tmp_path / 'bank' / ('monthly' + suffix)}: breaks the 'monthly' contract:")
    assert problems(err) == ["column 'customer_id' is blank or missing in 1 row(s), e.g. data rows [3]"]


def test_float_ids_in_one_file_name_both_files_and_the_fix(tmp_path):
    """customers.csv has 1000, monthly.parquet 1000.0 (a float column): not '... id(s) with no row in customers'."""
    tables = random_tables(3)
    numbers = {f"c{i}": 1000 + i for i in range(4)}
    for name in ("customers", "monthly", "churn_events"):
        tables[name]["customer_id"] = tables[name]["customer_id"].map(numbers)
    tables["monthly"]["customer_id"] = tables["monthly"]["customer_id"].astype("float64")
    write(tmp_path / "bank", {k: v for k, v in tables.items() if k != "monthly"})
    write(tmp_path / "bank", {"monthly": tables["monthly"]}, ".parquet")
    with pytest.raises(ContractError) as err:
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
    bank = tmp_path / "bank"
    assert problems(err) == [
        f"column 'customer_id': the id types differ between {bank / 'monthly.parquet'} and {bank / 'customers.csv'}: "
        f"4 id(s) here are decimals ending in '.0' (e.g. '****.0') where customers has whole numbers (e.g. '****'), "
        f"so they do not join. Fix: write customer_id as whole numbers (or text) in both files (a float column, often "
        f"one with a blank id, writes 1234 as 1234.0)"]


def test_an_unknown_id_is_shown_masked_with_its_file_and_data_row(tmp_path):
    tables = random_tables(3)
    tables["campaigns"] = pd.DataFrame({"customer_id": ["c0", "x00012345"], "month": [tables["market"]["month"][2]] * 2,
                                        "treated": [True, False], "offer": ["rate_match"] * 2, "cost": [60.0, 0.0]})
    write(tmp_path / "bank", tables)
    with pytest.raises(ContractError) as err:
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
    assert str(err.value) == (
        f"{tmp_path / 'bank' / 'campaigns.csv'}: breaks the 'campaigns' contract:\n  - column 'customer_id' has 1 "
        f"id(s) with no row in customers ({tmp_path / 'bank' / 'customers.csv'}), in 1 row(s), e.g. (masked id: "
        f"data rows) {{'*******45': [2]}}")


def test_inf_and_fractions_in_a_csv_are_errors_not_silently_kept_or_truncated(tmp_path):
    tables = random_tables(3)
    tables["monthly"] = tables["monthly"].astype({"deposit_balance": object, "tx_count": object})
    tables["monthly"].loc[1, "deposit_balance"] = "inf"
    tables["monthly"].loc[3, "tx_count"] = "2.5"
    write(tmp_path / "bank", tables)
    with pytest.raises(ContractError) as err:
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
    assert problems(err) == [
        "column 'deposit_balance' is not a finite number in 1 row(s), e.g. data rows [2] values [inf]",
        "column 'tx_count' must hold whole numbers (int64): 1 row(s) do not, e.g. data rows [4] values [2.5]"]


def test_problems_of_two_files_are_reported_at_once(tmp_path):
    tables = random_tables(3)
    tables["customers"].loc[0, "segment"] = "vip"
    tables["monthly"].loc[4, "loan_balance"] = -1.0
    write(tmp_path / "bank", tables)
    with pytest.raises(ContractError) as err:
        read_contract(find_tables(tmp_path / "bank"), key=KEY)
    lines = str(err.value).splitlines()
    assert lines[0] == "2 tables break the data contract (every problem is listed):"
    assert lines[1].endswith("customers.csv: breaks the 'customers' contract:") and "'vip'" in lines[2]
    assert lines[3].endswith("monthly.csv: breaks the 'monthly' contract:") and "data rows [5]" in lines[4]


def test_parquet_saved_as_csv_is_read_as_parquet(tmp_path, caplog):
    tables = random_tables(3)
    write(tmp_path / "bank", tables)
    tables["market"].to_parquet(tmp_path / "bank" / "market.csv", index=False)
    with caplog.at_level("WARNING"):
        read = read_contract(find_tables(tmp_path / "bank"), key=KEY)
    assert read["market"]["month"].tolist() == tables["market"]["month"].tolist()
    assert "market.csv: the file is Parquet" in caplog.text
