"""The data contract: valid tables pass; each kind of bad input gets an error (or, where the rows are usable, a
warning) naming the table or file, the column, the rule and 1-based data rows, with ids masked."""

import logging

import numpy as np
import pandas as pd
import pytest

from churnlab.contract import schema, validation
from churnlab.contract.schema import ContractError
from churnlab.contract.validation import validate, validate_all, validate_relations


def month(text: str) -> pd.Timestamp:
    return pd.Timestamp(text) + pd.offsets.MonthEnd(0)


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    """Two customers: C10001 opened 2021-01-10 and churned in 2021-03; C20002 opened before and stays.

    Ids have six characters, so a masked id shows its last two ("****01").
    """
    customers = pd.DataFrame({
        "customer_id": ["C10001", "C20002"], "open_date": pd.to_datetime(["2021-01-10", "2019-06-03"]),
        "birth_year": [1980, 1955], "gender": ["F", None], "education": ["tertiary", None],
        "income": [3200.0, None], "occupation": ["employee", "retired"], "region": ["north", "capital"],
        "segment": ["mass", "affluent"], "acquisition_channel": ["online", "branch"], "payroll": [True, False],
    })
    months = [month(m) for m in ("2021-01", "2021-02", "2021-03")]
    monthly = pd.DataFrame({
        "customer_id": ["C10001"] * 3 + ["C20002"] * 3, "month": months * 2,
        "deposit_balance": [1000.0, 400.0, 10.0, 5e4, 5.1e4, 5.2e4], "investment_balance": [0.0] * 3 + [1e4] * 3,
        "loan_balance": [0.0] * 6, "card_limit": [2000.0] * 3 + [0.0] * 3,
        "card_utilisation": [0.2, 0.1, 0.0, None, None, None], "n_products": [2, 2, 1, 3, 3, 3],
        "tx_count": [20, 8, 1, 12, 11, 13], "tx_amount": [900.0, 300.0, 10.0, 700.0, 650.0, 720.0],
        "digital_logins": [15, 5, 0, 2, 1, 3], "branch_visits": [0, 0, 1, 2, 1, 2], "complaints": [0, 1, 0, 0, 0, 0],
        "service_contacts": [0, 2, 1, 0, 0, 1], "fees_paid": [4.5, 4.5, 3.0, 1.0, 1.0, 1.0],
        "salary_inflow": [3200.0, 3200.0, 0.0, 0.0, 0.0, 0.0],
    })
    market = pd.DataFrame({"month": months, "policy_rate": [1.0, 1.1, 1.2], "competitor_spread": [0.3, 0.4, 1.5],
                           "unemployment": [6.0, 6.1, 6.2], "promo_index": [0.1, 0.1, 0.9]})
    events = pd.DataFrame({"customer_id": ["C10001"], "churn_month": [months[2]], "churn_type": ["transfer_out"],
                           "reason": ["competitor_offer"]})
    campaigns = pd.DataFrame({"customer_id": ["C10001", "C20002"], "month": [months[1]] * 2, "treated": [True, False],
                              "offer": ["rate_match"] * 2, "cost": [60.0, 0.0]})
    return {"customers": customers, "monthly": monthly, "market": market, "churn_events": events,
            "campaigns": campaigns}


def test_valid_tables_pass(tables):
    checked = validate_all(tables)
    assert set(checked) == set(schema.TABLES)


def test_reason_column_is_optional(tables):
    events = tables["churn_events"].drop(columns="reason")
    assert validate(events, "churn_events").equals(events)
    with pytest.raises(ContractError, match="unexpected extra column"):  # optional, not anything goes
        validate(events.assign(note="x"), "churn_events")


@pytest.mark.parametrize(
    ("table", "mutate", "expected"),
    [
        ("monthly", lambda f: f.drop(columns="tx_count"), r"missing column\(s\) \['tx_count'\]"),
        ("customers", lambda f: f.assign(shoe_size=42), r"unexpected extra column\(s\) \['shoe_size'\]"),
        ("monthly", lambda f: f.assign(n_products=f["n_products"].astype(float)),
         r"'n_products': expected dtype\('int64'\)"),
        ("monthly", lambda f: f.assign(deposit_balance=f["deposit_balance"].where(f.index != 4, -5.0)),
         r"'deposit_balance' fails greater_than_or_equal_to\(0\).*data rows \[5\].*-5\.0"),
        ("monthly", lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True),
         r"duplicate key \(customer_id, month\): 1 key\(s\) repeated in 2 row\(s\), e.g. data rows \[2, 7\] "
         r"\(customer_id '\*\*\*\*01', month 2021-02-28\)"),
        ("customers", lambda f: f.assign(segment=["mass", "vip"]), r"'segment' fails isin.*'vip'"),
        ("market", lambda f: f.assign(month=f["month"] - pd.Timedelta(days=3)), r"'month' fails is_month_end"),
    ],
    ids=["missing-column", "extra-column", "wrong-dtype", "negative-balance", "duplicate-customer-month",
         "unknown-category", "not-month-end"],
)
def test_bad_table_names_table_column_and_rule(tables, table, mutate, expected):
    with pytest.raises(ContractError, match=expected) as err:
        validate(mutate(tables[table]), table, source=f"data/raw/{table}.parquet")
    assert str(err.value).startswith(f"data/raw/{table}.parquet: breaks the '{table}' contract")


def problems(err: pytest.ExceptionInfo) -> list[str]:
    """The problem lines of a ContractError (each starts with '  - ')."""
    return [line[4:] for line in str(err.value).splitlines() if line.startswith("  - ")]


# --- one table ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_an_infinite_balance_is_an_error(tables, value):
    """inf passes '>= 0': every numeric column must also be finite."""
    monthly = tables["monthly"].assign(deposit_balance=tables["monthly"]["deposit_balance"].where(
        tables["monthly"].index != 2, value))
    with pytest.raises(ContractError, match=r"column 'deposit_balance' is not a finite number in 1 row\(s\), "
                                            r"e.g. data rows \[3\] values \[-?inf\]"):
        validate(monthly, "monthly")


def test_missing_values_only_where_nullable_and_never_infinite(tables):
    monthly = tables["monthly"]
    validate(monthly, "monthly")  # card_utilisation is missing without a card: nullable
    infinite = monthly["card_utilisation"].where(monthly.index != 3, np.inf)
    with pytest.raises(ContractError, match=r"'card_utilisation' is not a finite number in 1 row.*data rows \[4\]"):
        validate(monthly.assign(card_utilisation=infinite), "monthly")
    with pytest.raises(ContractError, match=r"column 'fees_paid' is missing in 1 row\(s\), e.g. data rows \[2\]"):
        validate(monthly.assign(fees_paid=monthly["fees_paid"].where(monthly.index != 1)), "monthly")


def test_missing_counts_are_missing_and_fractions_are_not_whole_numbers(tables):
    """A count read with a gap or a fraction arrives as float64: the message says which rows, not just the dtype."""
    monthly = tables["monthly"].assign(tx_count=[20, np.nan, 1, 12, 11, 13])
    with pytest.raises(ContractError) as err:
        validate(monthly, "monthly")
    assert problems(err) == ["column 'tx_count' is missing in 1 row(s), e.g. data rows [2]"]
    with pytest.raises(ContractError, match=r"'tx_count' must hold whole numbers \(int64\): 1 row\(s\) do not, "
                                            r"e.g. data rows \[3\] values \[1.5\]"):
        validate(monthly.assign(tx_count=[20, 8, 1.5, 12, 11, 13]), "monthly")


@pytest.mark.parametrize("missing", [None, np.nan])
def test_a_missing_customer_id_is_an_error_with_its_data_row(tables, missing):
    customers = tables["customers"].assign(customer_id=["C10001", missing])
    with pytest.raises(ContractError) as err:
        validate(customers, "customers", source="bank/customers.csv")
    assert problems(err) == ["column 'customer_id' is blank or missing in 1 row(s), e.g. data rows [2]"]


def test_a_duplicate_key_is_one_problem(tables):
    monthly = pd.concat([tables["monthly"], tables["monthly"].iloc[[1, 4]]], ignore_index=True)
    with pytest.raises(ContractError) as err:
        validate(monthly, "monthly")
    assert problems(err) == [
        "duplicate key (customer_id, month): 2 key(s) repeated in 4 row(s), e.g. data rows [2, 7] "
        "(customer_id '****01', month 2021-02-28); data rows [5, 8] (customer_id '****02', month 2021-02-28)"]


def test_rows_count_from_one_whatever_the_index(tables):
    """Data row 1 is the first row, also for a frame with another index (a block of a larger table)."""
    monthly = tables["monthly"].set_axis(range(100, 106))
    monthly.loc[101, "deposit_balance"] = -1.0
    with pytest.raises(ContractError, match=r"data rows \[2\] values \[-1.0\]"):
        validate(monthly, "monthly")


def test_a_missing_market_month_is_an_error(tables):
    with pytest.raises(ContractError) as err:
        validate(tables["market"].drop(index=1), "market", source="bank/market.csv")
    assert str(err.value) == (
        "bank/market.csv: breaks the 'market' contract:\n  - column 'month' skips 1 month-end(s) between "
        "2021-01-31 and 2021-03-31, e.g. ['2021-02-28']: market months must be consecutive month-ends")


# --- between tables -------------------------------------------------------------------------------------


def test_month_after_churn_month(tables):
    late = tables["monthly"].iloc[[2]].assign(month=month("2021-04"))
    tables["monthly"] = pd.concat([tables["monthly"], late], ignore_index=True)
    tables["market"] = pd.concat([tables["market"], tables["market"].iloc[[2]].assign(month=month("2021-04"))])
    with pytest.raises(ContractError) as err:
        validate_all(tables)
    assert problems(err) == ["column 'month' is after the customer's churn_month in churn_events in 1 row(s), "
                             "e.g. data row 7 (customer_id '****01', month 2021-04-30)"]


def test_churn_event_without_customer_shows_the_masked_id_and_rows(tables):
    ghost = pd.DataFrame({"customer_id": ["C90009"], "churn_month": [month("2021-02")], "churn_type": ["involuntary"],
                          "reason": [None]})
    tables["churn_events"] = pd.concat([tables["churn_events"], ghost], ignore_index=True)
    with pytest.raises(ContractError) as err:
        validate_all(tables, {"churn_events": "bank/churn_events.csv", "customers": "bank/customers.csv"})
    assert str(err.value) == (
        "bank/churn_events.csv: breaks the 'churn_events' contract:\n  - column 'customer_id' has 1 id(s) with no "
        "row in customers (bank/customers.csv), in 1 row(s), e.g. (masked id: data rows) {'****09': [2]}")
    assert "C90009" not in str(err.value)  # ids are personal data


def test_month_before_open_date(tables):
    tables["customers"].loc[0, "open_date"] = pd.Timestamp("2021-02-15")
    expected = (r"breaks the 'monthly' contract:\n  - column 'month' is before the customer's open_date in customers "
                r"\(dates out of order\) in 1 row\(s\), e.g. data row 1 \(customer_id '\*\*\*\*01', month 2021-01-31\)")
    with pytest.raises(ContractError, match=expected):
        validate_all(tables)


def test_churn_before_opening(tables):
    tables["customers"].loc[0, "open_date"] = pd.Timestamp("2021-05-01")
    tables["monthly"] = tables["monthly"][tables["monthly"]["customer_id"] == "C20002"]
    with pytest.raises(ContractError, match=r"churn_events: breaks .*\n  - column 'churn_month' is before the "
                                            r"customer's open_date"):
        validate_all(tables)


def test_a_monthly_row_outside_the_market_months_is_an_error(tables):
    tables["market"] = tables["market"].iloc[1:]
    with pytest.raises(ContractError) as err:
        validate_all(tables, {"market": "bank/market.csv"})
    assert problems(err) == [
        "column 'month' is outside the months of market (bank/market.csv) (2021-02-28 .. 2021-03-31) in 2 row(s), "
        "e.g. data row 1 (customer_id '****01', month 2021-01-31), data row 4 (customer_id '****02', month "
        "2021-01-31)"]


def test_float_ids_in_one_table_are_named_as_a_type_mismatch(tables):
    """'10001.0' in monthly and '10001' in customers: one problem naming both files and the fix, not
    'no row in customers' for every id, and the other rules still compare the ids."""
    tables["customers"]["customer_id"] = ["10001", "20002"]
    tables["monthly"]["customer_id"] = ["10001.0"] * 3 + ["20002.0"] * 3
    for name in ("churn_events", "campaigns"):
        tables[name]["customer_id"] = tables[name]["customer_id"].str[1:]
    tables["monthly"].loc[0, "month"] = month("2020-12")  # before opening: still found through the '.0'
    sources = {"customers": "bank/customers.csv", "monthly": "bank/monthly.parquet"}
    with pytest.raises(ContractError) as err:
        validate_all(tables, sources)
    assert problems(err) == [
        "column 'customer_id': the id types differ between bank/monthly.parquet and bank/customers.csv: 2 id(s) "
        "here are decimals ending in '.0' (e.g. '*****.0') where customers has whole numbers (e.g. '***01'), so "
        "they do not join. Fix: write customer_id as whole numbers (or text) in both files (a float column, often "
        "one with a blank id, writes 1234 as 1234.0)",
        "column 'month' is before the customer's open_date in customers (bank/customers.csv) (dates out of order) "
        "in 1 row(s), e.g. data row 1 (customer_id '*****.0', month 2020-12-31)",
        "column 'month' is outside the months of market (2021-01-31 .. 2021-03-31) in 1 row(s), e.g. data row 1 "
        "(customer_id '*****.0', month 2020-12-31)"]


def test_float_ids_in_customers_are_named_too(tables):
    tables["customers"]["customer_id"] = ["10001.0", "20002.0"]
    for name in ("monthly", "churn_events", "campaigns"):
        tables[name]["customer_id"] = tables[name]["customer_id"].str[1:]
    with pytest.raises(ContractError) as err:
        validate_all(tables)
    assert [line.split(" (e.g.")[0] for line in problems(err)] == [
        "column 'customer_id': the id types differ between monthly and customers: 2 id(s) here are whole numbers",
        "column 'customer_id': the id types differ between churn_events and customers: 1 id(s) here are whole numbers",
        "column 'customer_id': the id types differ between campaigns and customers: 2 id(s) here are whole numbers"]


def test_every_problem_of_every_table_at_once(tables):
    tables["customers"].loc[1, "segment"] = "vip"
    tables["monthly"].loc[2, "loan_balance"] = np.inf
    tables["market"] = tables["market"].drop(columns="promo_index")
    tables["campaigns"].loc[0, "customer_id"] = "C77777"
    sources = {name: f"bank/{name}.csv" for name in schema.TABLES}
    with pytest.raises(ContractError) as err:
        validate_all(tables, sources)
    message = str(err.value)
    assert message.startswith("4 tables break the data contract (every problem is listed):\n")
    blocks = message.split("\nbank/")[1:]
    assert [block.split(":")[0] for block in blocks] == ["customers.csv", "monthly.csv", "market.csv", "campaigns.csv"]
    assert "'segment' fails isin" in blocks[0] and "'loan_balance' is not a finite number" in blocks[1]
    assert "missing column(s) ['promo_index']" in blocks[2] and "no row in customers" in blocks[3]


def test_validate_relations_alone_reports_every_error(tables):
    """The simulator checks the relations of each block without market: one error, every problem."""
    tables["customers"].loc[0, "open_date"] = pd.Timestamp("2021-02-15")
    tables["churn_events"].loc[0, "customer_id"] = "C30003"
    del tables["market"]
    with pytest.raises(ContractError) as err:
        validate_relations(tables)
    assert [line.split(" in ")[0] for line in problems(err)] == [
        "column 'month' is before the customer's open_date", "column 'customer_id' has 1 id(s) with no row"]


# --- warnings: the rows are kept ------------------------------------------------------------------------


def test_a_gap_in_a_customers_months_is_a_warning(tables, caplog):
    tables["monthly"] = tables["monthly"].drop(index=4).reset_index(drop=True)
    with caplog.at_level(logging.WARNING, logger="churnlab.contract.schema"):
        validate_all(tables, {"monthly": "bank/monthly.csv"})
    assert caplog.messages == [
        "bank/monthly.csv: column 'month' skips months of 1 customer(s) (1 month-end(s) missing in all), e.g. "
        "customer '****02' has no row for 2021-02-28 .. 2021-02-28 (between data rows 4 and 5); kept (features "
        "read a missing month as a month without data)"]


def test_a_customer_without_monthly_rows_is_a_warning(tables, caplog):
    tables["monthly"] = tables["monthly"].iloc[:3]
    tables["campaigns"] = tables["campaigns"].iloc[:1]
    with caplog.at_level(logging.WARNING, logger="churnlab.contract.schema"):
        validate_all(tables)
    assert caplog.messages == ["customers: column 'customer_id': 1 customer(s) have no row in monthly, e.g. data "
                               "row 2 (customer_id '****02'); kept (such a customer is in no snapshot)"]


def test_a_campaign_after_churn_is_a_warning(tables, caplog):
    tables["campaigns"].loc[0, "month"] = month("2021-04")
    with caplog.at_level(logging.WARNING, logger="churnlab.contract.schema"):
        validate_all(tables, {"campaigns": "bank/campaigns.csv"})
    assert caplog.messages == ["bank/campaigns.csv: column 'month' is after the customer's churn_month in "
                               "churn_events in 1 row(s), e.g. data row 1 (customer_id '****01', month 2021-04-30); "
                               "kept as given"]


def test_gaps_are_found_vectorised_on_a_large_table():
    """Many customers, one gap each in a few: counts and months are exact (the simulator's block size)."""
    n, months = 10_000, pd.date_range("2021-01-31", periods=48, freq="ME")
    monthly = pd.DataFrame({"customer_id": np.repeat([f"C{i:06d}" for i in range(n)], 48),
                            "month": np.tile(months, n)})
    drop = [48 * 7 + 5, 48 * 7 + 6, 48 * 9000 + 20]  # customer 7 misses two months, customer 9000 one
    count, missing, examples = validation.month_gaps({"monthly": monthly.drop(index=drop).reset_index(drop=True)},
                                            pd.factorize(monthly.drop(index=drop)["customer_id"])[0])
    assert (count, missing) == (2, 3)
    assert examples.startswith("customer '*****07' has no row for 2021-06-30 .. 2021-07-31 (between data rows 341 "
                               "and 342)")


BANK_FILES = {"customers": "bank/客户.csv", "monthly": "bank/月度.csv", "market": "bank/市场.csv",
              "churn_events": "bank/流失.csv", "campaigns": "bank/营销.csv"}


def test_a_chinese_error_names_the_file_the_column_and_the_problem(tables):
    tables["monthly"].loc[4, "deposit_balance"] = -5.0
    tables["churn_events"].loc[0, "customer_id"] = "C99945"
    with pytest.raises(ContractError) as raised:
        validate_all(tables, BANK_FILES, language="zh")
    text = str(raised.value)
    assert text.startswith("2张表不符合数据契约（已列出全部问题）：")
    assert "bank/月度.csv：不符合'monthly'表的数据契约：" in text
    assert "列'deposit_balance'未通过检查greater_than_or_equal_to(0)：1行，例如数据行[5]，取值[-5.0]" in text
    assert "bank/流失.csv：不符合'churn_events'表的数据契约：" in text
    assert "列'customer_id'中有1个客户号在customers (bank/客户.csv)中没有对应的行" in text and "****45" in text
    assert "breaks" not in text and "row(s)" not in text  # no English left


def test_both_languages_give_the_english_then_the_chinese(tables):
    tables["market"] = tables["market"].drop(columns="promo_index")
    with pytest.raises(ContractError) as raised:
        validate(tables["market"], "market", source="bank/市场.csv", language="both")
    assert str(raised.value).splitlines() == ["bank/市场.csv: breaks the 'market' contract:",
                                              "  - missing column(s) ['promo_index']",
                                              "bank/市场.csv：不符合'market'表的数据契约：",
                                              "  - 缺少列['promo_index']"]


def test_a_chinese_warning_names_the_file_and_rows(tables, caplog):
    tables["monthly"] = tables["monthly"].drop(index=4)  # C20002 skips 2021-02
    with caplog.at_level(logging.WARNING):
        validate_all(tables, BANK_FILES, language="zh")
    assert "bank/月度.csv：列'month'中有1位客户的月份不连续（共缺少1个月末）" in caplog.text
    assert "客户'****02'缺少2021-02-28 .. 2021-02-28的行（位于数据行4与5之间）" in caplog.text
