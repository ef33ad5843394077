"""The ledger adapter: Berka-style files become valid contract tables with the documented conventions.

The tiny ledger (written to tmp_path in Berka's own format) has three accounts, worked out by hand:
- account 1, opened 1993-01-15 by client 1 (born 1945-01-15, a woman: month 51), Prague. January: cash
  deposit 1,000 and interest 10 (balance 1,010). February: pension 5,000, then on 28 Feb three
  transactions listed out of order (interest 20, fee 14.6, cash withdrawal 2,000): the day runs
  6,010 -> 4,010 -> 3,995.4 -> 4,015.4, so the month-end balance is 4,015.4, although the highest trans_id
  carries 4,010. March: nothing (balance carried forward, no transactions). April: a deposit.
- account 2, opened 1993-02-10 by client 2 (born 1970-03-12, a man), central Bohemia, with a disponent
  (client 3). February: deposit 800, a transfer in from another bank 3,000, a SIPO standing order 1,000
  (not customer-initiated): 2,800. March: card withdrawal 300, transfer out 200, cash 3,000, sanction
  interest 5: balance -705 (an overdraft, reported as 0). A card issued 1993-03-20 and a loan of 12,000
  over 12 months granted 1993-03-01: 3 products in March, 12,000 owed, 11,000 in April.
- account 3, opened 1993-04-20: only in April.
The extract ends 1993-04-29, so April is incomplete: by default the months are January to March.
District 1 (Prague) has unemployment 0.29 (1995); district 2's 1995 rate is '?', its 1996 rate 1.85.
"""

import gzip

import numpy as np
import pandas as pd
import pytest

from churnlab.contract.validation import validate_all
from churnlab.core.checks import DataError
from churnlab.core.privacy import pseudonymise
from churnlab.data.ledger import birth_year_gender, ledger_tables, read_ledger
from churnlab.data.ledger_monthly import classify, month_end_balances

KEY = b"test-key"
FEB, MAR, APR = (pd.Timestamp(d) for d in ("1993-02-28", "1993-03-31", "1993-04-30"))

TINY = {
    "account.asc": ("account_id;district_id;frequency;date",
                    ['1;1;"POPLATEK MESICNE";930115', '2;2;"POPLATEK MESICNE";930210',
                     '3;1;"POPLATEK MESICNE";930420']),
    "client.asc": ("client_id;birth_number;district_id", ['1;"455115";1', '2;"700312";2', '3;"725504";2',
                                                           '4;"680101";1']),
    "disp.asc": ("disp_id;client_id;account_id;type", ['1;1;1;"OWNER"', '2;2;2;"OWNER"', '3;3;2;"DISPONENT"',
                                                       '4;4;3;"OWNER"']),
    "card.asc": ("card_id;disp_id;type;issued", ['1;2;"classic";930320 00:00:00']),
    "loan.asc": ("loan_id;account_id;date;amount;duration;payments;status", ['1;2;930301;12000;12;1000.00;"C"']),
    "order.asc": ("order_id;account_id;bank_to;account_to;amount;k_symbol", ['1;2;"YZ";"87144583";1000.00;"SIPO"']),
    "district.asc": ("A1;A2;A3;A4;A5;A6;A7;A8;A9;A10;A11;A12;A13;A14;A15;A16",
                     ['1;"Hl.m. Praha";"Prague";1204953;0;0;0;1;1;100.0;12541;0.29;0.43;167;85677;99107',
                      '2;"Benesov";"central Bohemia";88884;80;26;6;2;5;46.7;8507;?;1.85;132;?;2674']),
    "trans.asc": ("trans_id;account_id;date;type;operation;amount;balance;k_symbol;bank;account", [
        '10;1;930115;"PRIJEM";"VKLAD";1000.00;1000.00;"";;',
        '11;1;930131;"PRIJEM";"";10.00;1010.00;"UROK";;',
        '12;1;930211;"PRIJEM";"PREVOD Z UCTU";5000.00;6010.00;"DUCHOD";"AB";"11111111"',
        '13;1;930228;"PRIJEM";"";20.00;4015.40;"UROK";;',
        '15;1;930228;"VYDAJ";"VYBER";14.60;3995.40;"SLUZBY";;',
        '16;1;930228;"VYDAJ";"VYBER";2000.00;4010.00;"";;',
        '17;1;930429;"PRIJEM";"VKLAD";500.00;4515.40;"";;',
        '20;2;930210;"PRIJEM";"VKLAD";800.00;800.00;" ";;',
        '21;2;930215;"PRIJEM";"PREVOD Z UCTU";3000.00;3800.00;"";"CD";"22222222"',
        '22;2;930220;"VYDAJ";"PREVOD NA UCET";1000.00;2800.00;"SIPO";"YZ";"87144583"',
        '23;2;930305;"VYDAJ";"VYBER KARTOU";300.00;2500.00;"";;',
        '24;2;930310;"VYDAJ";"PREVOD NA UCET";200.00;2300.00;"";"EF";"33333333"',
        '25;2;930325;"VYDAJ";"VYBER";3000.00;-700.00;"";;',
        '26;2;930331;"VYDAJ";"VYBER";5.00;-705.00;"SANKC. UROK";;',
        '30;3;930420;"PRIJEM";"VKLAD";900.00;900.00;"";;',
    ]),
}


def quote_header(header: str) -> str:
    return ";".join(f'"{name}"' if not name.startswith("A") else name for name in header.split(";"))


def write_tiny(folder):
    """The tiny ledger of the module docstring, as Berka files (quoted headers, ';', YYMMDD, CRLF)."""
    for name, (header, rows) in TINY.items():
        (folder / name).write_text("\r\n".join([quote_header(header), *rows]) + "\r\n", encoding="ascii")
    return folder


@pytest.fixture
def tiny(tmp_path):
    return write_tiny(tmp_path)


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory):
    return read_ledger(write_tiny(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def tables(tiny_raw):
    return ledger_tables(tiny_raw, key=KEY, czk_per_eur=1.0, segment_thresholds_czk=(2000, 3500))


def ids(*accounts: int) -> list[str]:
    return pseudonymise(pd.Series([str(a) for a in accounts]), key=KEY).tolist()


def row(tables, account: int, month: pd.Timestamp) -> pd.Series:
    monthly = tables["monthly"]
    return monthly[(monthly["customer_id"] == ids(account)[0]) & (monthly["month"] == month)].iloc[0]


def test_tables_pass_the_contract(tables):
    validate_all(tables)
    assert tables["churn_events"].empty and tables["campaigns"].empty
    assert tables["churn_events"]["churn_month"].dtype == "datetime64[ns]"


def test_complete_months_only_by_default(tables):
    assert tables["market"]["month"].dt.strftime("%Y-%m").tolist() == ["1993-01", "1993-02", "1993-03"]
    assert tables["customers"]["customer_id"].tolist() == ids(1, 2)  # account 3 opened in the partial month
    assert len(tables["monthly"]) == 3 + 2


def test_customers(tables):
    customers = tables["customers"].set_index("customer_id")
    one, two = customers.loc[ids(1, 2)].to_dict("records")
    assert (one["birth_year"], one["gender"], one["region"]) == (1945, "F", "Prague")
    assert (two["birth_year"], two["gender"], two["region"]) == (1970, "M", "central Bohemia")
    assert one["open_date"] == pd.Timestamp("1993-01-15") and two["open_date"] == pd.Timestamp("1993-02-10")
    assert one["payroll"] and two["payroll"]  # pension; transfer in from another bank
    assert one["occupation"] == "retired" and two["occupation"] is None
    assert customers["income"].isna().all() and customers["education"].isna().all()
    assert (customers["acquisition_channel"] == "branch").all()
    # profile balance: (1,010 + 4,015.4 + 4,015.4) / 3 = 3,013.6 -> affluent; (2,800 + 0) / 2 = 1,400 -> mass
    assert (one["segment"], two["segment"]) == ("affluent", "mass")


def test_month_end_balance_follows_the_days_chain(tables):
    assert row(tables, 1, FEB)["deposit_balance"] == pytest.approx(4015.4)
    assert row(tables, 1, MAR)["deposit_balance"] == pytest.approx(4015.4)  # carried forward
    assert row(tables, 2, MAR)["deposit_balance"] == 0.0  # overdraft of -705


def test_customer_transactions_fees_and_income(tables):
    feb1, mar1 = row(tables, 1, FEB), row(tables, 1, MAR)
    assert (feb1["tx_count"], feb1["tx_amount"], feb1["fees_paid"], feb1["salary_inflow"]) == (1, 2000.0, 14.6, 5000.0)
    assert (mar1["tx_count"], mar1["tx_amount"], mar1["branch_visits"]) == (0, 0.0, 0)
    feb2, mar2 = row(tables, 2, FEB), row(tables, 2, MAR)
    assert (feb2["tx_count"], feb2["tx_amount"], feb2["salary_inflow"]) == (1, 800.0, 3000.0)  # SIPO not counted
    assert (mar2["tx_count"], mar2["tx_amount"], mar2["fees_paid"]) == (3, 3500.0, 5.0)
    assert (feb2["branch_visits"], mar2["branch_visits"]) == (1, 1)  # the card withdrawal is no branch visit


def test_products_loans_and_cards(tables):
    assert row(tables, 2, FEB)["n_products"] == 1
    march = row(tables, 2, MAR)
    assert (march["n_products"], march["loan_balance"], march["card_limit"]) == (3, 12000.0, 0.0)
    assert np.isnan(march["card_utilisation"])
    unknown = ["investment_balance", "digital_logins", "complaints", "service_contacts"]
    assert tables["monthly"][unknown].eq(0).all().all()


def test_market_is_the_customer_weighted_district_rate(tables):
    market = tables["market"]
    assert market["unemployment"].tolist() == pytest.approx([0.29, (0.29 + 1.85) / 2, (0.29 + 1.85) / 2])
    assert (market[["policy_rate", "competitor_spread", "promo_index"]] == 0).all().all()


def test_partial_month_kept_on_request(tiny_raw):
    tables = ledger_tables(tiny_raw, key=KEY, czk_per_eur=1.0, complete_months_only=False)
    assert tables["market"]["month"].max() == APR
    assert tables["customers"]["customer_id"].tolist() == ids(1, 2, 3)
    assert row(tables, 2, APR)["loan_balance"] == pytest.approx(11000.0)
    assert row(tables, 1, APR)["deposit_balance"] == pytest.approx(4515.4)


def test_money_is_converted(tiny_raw):
    tables = ledger_tables(tiny_raw, key=KEY, czk_per_eur=34.0)
    assert row(tables, 1, FEB)["deposit_balance"] == pytest.approx(4015.4 / 34)
    assert row(tables, 1, FEB)["salary_inflow"] == pytest.approx(5000 / 34)


def test_no_raw_identifier_in_the_output(tables):
    for table in tables.values():
        assert not {"account_id", "client_id", "disp_id", "birth_number", "district_id"} & set(table.columns)
        assert not set(table.astype(str).to_numpy().ravel()) & {"455115", "700312", "725504"}
        if "customer_id" in table:
            assert table["customer_id"].str.fullmatch(r"p_[0-9a-f]{16}").all()


def test_birth_number_errors_do_not_show_the_number():
    with pytest.raises(DataError) as caught:
        birth_year_gender(pd.Series(["451315", "700312"]))
    assert "1 row(s)" in str(caught.value) and "451315" not in str(caught.value)
    year, gender = birth_year_gender(pd.Series([455115, 700312]))
    assert year.tolist() == [1945, 1970] and gender.tolist() == ["F", "M"]


def test_two_owners_of_one_account_is_an_error(tiny_raw):
    raw = dict(tiny_raw, disp=tiny_raw["disp"].copy())
    raw["disp"].loc[raw["disp"]["disp_id"] == 3, "type"] = "OWNER"
    with pytest.raises(DataError, match=r"disp: column 'account_id' has 1 account\(s\) with more than one OWNER"):
        ledger_tables(raw, key=KEY)


def test_transactions_before_the_opening_month_are_left_out(tiny_raw, caplog):
    """Account 2 (opened 1993-02-10) gets a stray January deposit: its rows still start in February."""
    stray = tiny_raw["trans"].iloc[[7]].assign(trans_id=99, date=pd.Timestamp("1993-01-05"), balance=800.0)
    raw = dict(tiny_raw, trans=pd.concat([stray, tiny_raw["trans"]], ignore_index=True))
    tables = ledger_tables(raw, key=KEY, czk_per_eur=1.0)
    assert tables["monthly"].loc[tables["monthly"]["customer_id"] == ids(2)[0], "month"].min() == FEB
    assert "before the account's opening month are left out" in caplog.text


def test_missing_transaction_file_is_an_error(tiny):
    (tiny / "trans.asc").unlink()
    with pytest.raises(DataError, match=r"expected one transaction file"):
        read_ledger(tiny)


# --- the real Berka data (../shared/data/berka_pkdd99) -------------------------------------------------


@pytest.fixture(scope="module")
def berka(shared_data):
    return read_ledger(shared_data / "berka_pkdd99")


@pytest.mark.shared_data
def test_berka_known_facts(berka):
    sizes = {name: len(frame) for name, frame in berka.items()}
    assert sizes == {"account": 4500, "client": 5369, "disp": 5369, "loan": 682, "card": 892, "order": 6471,
                     "district": 77, "trans": 46997}
    assert berka["loan"]["status"].value_counts().to_dict() == {"C": 403, "A": 203, "D": 45, "B": 31}
    district = berka["district"].set_index("A1")
    assert district.loc[69].isna().sum() == 2 and district.drop(index=69).notna().all().all()
    assert berka["trans"]["date"].min() == pd.Timestamp("1993-01-01")
    assert berka["trans"]["date"].max() == pd.Timestamp("1994-03-30")


@pytest.mark.shared_data
def test_berka_month_end_balances_chain(berka):
    """Each month-end balance plus the next month's net flow gives the next month-end balance (to 1 CZK)."""
    trans = classify(berka["trans"])
    ends = month_end_balances(trans).rename("end").reset_index()
    net = trans.groupby(["account_id", "m"])["signed"].sum().rename("net").reset_index()
    chain = ends.merge(net, on=["account_id", "m"]).sort_values(["account_id", "m"])
    chain["previous"] = chain.groupby("account_id")["end"].shift()
    chain = chain.dropna()
    assert len(chain) > 9000
    assert ((chain["previous"] + chain["net"] - chain["end"]).abs() < 1).all()


@pytest.mark.shared_data
def test_berka_contract_tables(berka):
    tables = ledger_tables(berka, key=KEY)
    opened = berka["account"]["date"] <= pd.Timestamp("1994-02-28")
    assert len(tables["customers"]) == int(opened.sum()) == 1197
    assert len(tables["market"]) == 14 and tables["market"]["month"].max() == pd.Timestamp("1994-02-28")
    assert len(tables["monthly"]) == 9729
    assert tables["monthly"].groupby("customer_id").size().max() == 14
    with_march = ledger_tables(berka, key=KEY, complete_months_only=False)
    assert (len(with_march["customers"]), len(with_march["monthly"]), len(with_march["market"])) == (1229, 10958, 15)


def test_gzipped_transactions_are_read(tiny):
    path = tiny / "trans.asc"
    (tiny / "trans_partial.asc.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    assert len(read_ledger(tiny)["trans"]) == len(TINY["trans.asc"][1])
