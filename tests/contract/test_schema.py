"""The data contract: valid tables pass, and each kind of bad input gets an error naming table, column, rule."""

import pandas as pd
import pytest

from churnlab.contract import schema
from churnlab.contract.schema import ContractError, validate, validate_all


def month(text: str) -> pd.Timestamp:
    return pd.Timestamp(text) + pd.offsets.MonthEnd(0)


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    """Two customers: C1 opened 2021-01-10 and churned in 2021-03; C2 opened before and stays."""
    customers = pd.DataFrame({
        "customer_id": ["C1", "C2"], "open_date": pd.to_datetime(["2021-01-10", "2019-06-03"]),
        "birth_year": [1980, 1955], "gender": ["F", None], "education": ["tertiary", None],
        "income": [3200.0, None], "occupation": ["employee", "retired"], "region": ["north", "capital"],
        "segment": ["mass", "affluent"], "acquisition_channel": ["online", "branch"], "payroll": [True, False],
    })
    months = [month(m) for m in ("2021-01", "2021-02", "2021-03")]
    monthly = pd.DataFrame({
        "customer_id": ["C1"] * 3 + ["C2"] * 3, "month": months * 2,
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
    events = pd.DataFrame({"customer_id": ["C1"], "churn_month": [months[2]], "churn_type": ["transfer_out"],
                           "reason": ["competitor_offer"]})
    campaigns = pd.DataFrame({"customer_id": ["C1", "C2"], "month": [months[1]] * 2, "treated": [True, False],
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
         r"'deposit_balance' fails greater_than_or_equal_to\(0\).*rows \[4\].*-5\.0"),
        ("monthly", lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True),
         r"duplicate .*customer_id.*rows \[1, 6\]"),
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


def test_month_after_churn_month(tables):
    late = tables["monthly"].iloc[[2]].assign(month=month("2021-04"))
    tables["monthly"] = pd.concat([tables["monthly"], late], ignore_index=True)
    with pytest.raises(ContractError, match=r"monthly: column 'month' is after the customer's churn_month.*C1"):
        validate_all(tables)


def test_churn_event_without_customer(tables):
    ghost = pd.DataFrame({"customer_id": ["C9"], "churn_month": [month("2021-02")], "churn_type": ["involuntary"],
                          "reason": [None]})
    tables["churn_events"] = pd.concat([tables["churn_events"], ghost], ignore_index=True)
    expected = r"churn_events: column 'customer_id' has 1 id\(s\) with no row in customers.*C9"
    with pytest.raises(ContractError, match=expected):
        validate_all(tables)


def test_month_before_open_date(tables):
    tables["customers"].loc[0, "open_date"] = pd.Timestamp("2021-02-15")
    expected = r"monthly: column 'month' is before the customer's open_date.*dates out of order"
    with pytest.raises(ContractError, match=expected):
        validate_all(tables)


def test_churn_before_opening(tables):
    tables["customers"].loc[0, "open_date"] = pd.Timestamp("2021-05-01")
    tables["monthly"] = tables["monthly"][tables["monthly"]["customer_id"] == "C2"]
    with pytest.raises(ContractError, match=r"churn_events: column 'churn_month' is before open_date"):
        validate_all(tables)


def test_dictionary_documents_every_column():
    dictionary = schema.data_dictionary()
    assert (dictionary["meaning"].str.len() > 10).all()
    assert set(dictionary["table"]) == set(schema.TABLES)
    markdown = schema.dictionary_markdown()
    for table in schema.TABLES:
        assert f"## `{table}`" in markdown


def test_docs_data_contract_is_current():
    from conftest import ROOT

    assert (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8") == schema.dictionary_markdown()
