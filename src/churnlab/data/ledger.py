"""The "ledger" data source: the contract tables from the PKDD'99 Berka bank ledger (`;`-separated files).

`read_ledger(folder)` reads the raw files; `ledger_tables(raw, key=...)` builds the five contract tables
and validates them with `churnlab.contract.validation.validate_all`. The ledger records accounts and transactions, not
customer relationships, so many contract columns are conventions. Each is listed here.

customers: one per account with an OWNER disposition (in Berka every client has one disposition, so
owner, account and customer are one-to-one; a disponent is a second signatory, not a customer).
- customer_id: `pseudonymise(account_id)` (the panel is per account).
- open_date: the account's date. birth_year, gender: from the owner's birth_number YYMMDD, where women
  have MM + 50; the century is 19 (Berka's clients were born 1911-1987).
- region: the owner's home district's region (district A3; the account's district is the branch).
- income: missing. District A11 is the district's average salary, not the customer's income.
- education: missing (never recorded). occupation: "retired" when a pension (k_symbol DUCHOD) is credited
  in the profile window, else missing.
- segment: the mean month-end balance (overdrafts as 0) over the first `profile_months` months, in CZK:
  mass below `segment_thresholds_czk[0]`, affluent below `[1]`, else private. The defaults, 35,000 and
  70,000 CZK, are about 4 and 8 months of the districts' 1990s average salary (A11 ~ 9,000 CZK); on the
  1993-94 data they mark ~1 in 8 customers affluent and ~1 in 100 private.
- acquisition_channel: "branch" for all: the ledger records no channel.
- payroll: income (a pension, or a credit from another bank, PREVOD Z UCTU) in the profile window. There
  is no salary code; 230 of the 232 accounts with such transfers get them from one payer in 2+ months.
The profile window looks up to `profile_months - 1` months past the opening month: a snapshot of a
customer younger than that sees a little of its own future in segment, payroll and occupation.

monthly: one row per account and month-end, from the first month with a transaction (the opening deposit)
to the last emitted month, also in months without transactions. Money is divided by `czk_per_eur` (default
34: about the 1993-94 CZK per ECU, the euro's 1:1 predecessor; an order-of-magnitude scale, not an FX model).
- deposit_balance: the balance after the month's last transaction (found from the balances, as Berka does
  not order a day's transactions; `ledger_monthly.month_end_balances`), carried forward, floored at 0.
- investment_balance: 0 (no investment products). card_limit: 0 and card_utilisation: missing. Berka's
  cards (classic, junior, gold) are debit cards with no credit line; they count in n_products.
- loan_balance: linear amortisation of the loan over its duration from the loan month. The status (A/B
  finished, C/D running; D and B in arrears) is recorded at the end of the full ledger (1998), so using it
  in 1993-94 would leak the future; no loan reaches its scheduled end in the window anyway.
- n_products: the account (1) + cards issued by the month-end + loans still owed. Standing orders
  (`order`) are not products and carry no dates, so they are not used.
- tx_count, tx_amount: customer-initiated transactions: operations VKLAD (cash deposit), VYBER (cash
  withdrawal), VYBER KARTOU (card withdrawal) and PREVOD NA UCET (transfer out) without a k_symbol. Not
  counted: interest (UROK), fees, pensions and incoming transfers, and payments carrying a k_symbol
  (SIPO household, POJISTNE insurance, UVER loan, LEASING), which run as standing orders.
- branch_visits: a proxy: days in the month with a cash deposit or cash withdrawal (VKLAD, VYBER; card
  withdrawals excluded).
- digital_logins: 0 (the ledger predates internet banking). complaints, service_contacts: 0 for want of
  data: unknown, not zero. Indicators built on them carry no information on this source.
- fees_paid: k_symbol SLUZBY (statement fee) and SANKC. UROK (sanction interest on an overdraft).
- salary_inflow: pensions (DUCHOD) and incoming transfers from other banks (see payroll).

market: one row per emitted month. unemployment: the mean over that month's monthly rows of the owner's
district rate in 1995 (A12; A13, 1996, where A12 is '?', as in district 69): a district-level constant
from after the window, so it varies only with the customer mix. policy_rate, competitor_spread and
promo_index are not in the ledger: constants (default 0), which carry no information.

churn_events and campaigns: empty. Berka records no closures and no campaigns: churn is defined
downstream by dormancy or value run-off (`churnlab.contract.labels`).

The window. The public transaction file holds 1993-01-01 .. 1994-03-30 only. March 1994 lacks its last
day, with the month-end interest and statement fees, so by default (`complete_months_only`) the last
emitted month is 1994-02: 14 month-ends and 1,197 customers (1,229 with March). With a lookback of w and a
horizon of H months, cutoffs run from month w to month 14 - H: w = 3 and H = 6 leave 6 monthly cutoffs
(2 quarterly), and the 12-month indicators (and `features.first_cutoff_month: 12`) do not fit with any
H >= 3. Most customers opened late (half after mid-1993), so early cutoffs hold few, young customers.
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.contract.schema import SEGMENTS, TABLES, empty_table
from churnlab.contract.tables import month_ends, month_number
from churnlab.contract.validation import validate_all
from churnlab.core.checks import DataError
from churnlab.core.privacy import pseudonymise
from churnlab.core.readers import read_table
from churnlab.data.ledger_monthly import account_profile, classify, monthly_rows

log = logging.getLogger(__name__)

FILES = {  # table: (file name, date columns and formats, unique id, text columns)
    "account": ("account.asc", {"date": "%y%m%d"}, "account_id", []),
    "client": ("client.asc", {}, "client_id", ["birth_number"]),
    "disp": ("disp.asc", {}, "disp_id", []),
    "card": ("card.asc", {"issued": "%y%m%d %H:%M:%S"}, "card_id", []),
    "loan": ("loan.asc", {"date": "%y%m%d"}, "loan_id", []),
    "order": ("order.asc", {}, "order_id", ["account_to"]),
    "district": ("district.asc", {}, "A1", []),
}
TRANSACTIONS = "trans*.asc*"  # trans.asc, or the public prefix trans_partial_19930101-19940330.asc.gz
TRANS_COLUMNS = ["trans_id", "account_id", "date", "type", "operation", "amount", "balance", "k_symbol"]
MONEY = ["deposit_balance", "loan_balance", "tx_amount", "fees_paid", "salary_inflow"]


def read_ledger(folder: Path | str) -> dict[str, pd.DataFrame]:
    """The raw Berka tables of `folder` by name (account, client, disp, card, loan, order, district, trans)."""
    folder = Path(folder)
    found = sorted(folder.glob(TRANSACTIONS))
    if len(found) != 1:
        raise DataError(f"{folder}: expected one transaction file {TRANSACTIONS!r}, found {[p.name for p in found]}")
    raw = {name: read_table(folder / file, sep=";", dates=dates, unique=unique, text=text, na_values=["?"])
           for name, (file, dates, unique, text) in FILES.items()}
    raw["trans"] = read_table(found[0], sep=";", dates={"date": "%y%m%d"}, unique="trans_id",
                              text=["type", "operation", "k_symbol", "bank", "account"])
    return raw


def birth_year_gender(birth_number: pd.Series, *, source: str = "client") -> tuple[pd.Series, pd.Series]:
    """Year of birth (19YY) and gender (F where the month is 51-62) from Berka's YYMMDD birth number."""
    digits = birth_number.astype("string").str.strip().str.zfill(6)
    valid = digits.str.fullmatch(r"\d{6}").fillna(False)
    month = pd.to_numeric(digits.str[2:4], errors="coerce")
    day = pd.to_numeric(digits.str[4:6], errors="coerce")
    valid &= (month.between(1, 12) | month.between(51, 62)) & day.between(1, 31)
    if not valid.all():  # a birth number is personal data: count the rows, never show the values
        raise DataError(f"{source}: column 'birth_number' is not YYMMDD (month + 50 for women) in "
                        f"{int((~valid).sum())} row(s), e.g. rows {list(birth_number.index[~valid][:5])}")
    year = (1900 + pd.to_numeric(digits.str[:2])).astype("int64")
    return year, pd.Series(np.where(month > 50, "F", "M"), index=birth_number.index, dtype=object)


def owners(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per account with its owner's client_id, birth_number and home district_id."""
    disp = raw["disp"][raw["disp"]["type"].str.upper().eq("OWNER")]
    repeated = disp["account_id"].duplicated(keep=False)
    if repeated.any():
        raise DataError(f"disp: column 'account_id' has {int(disp.loc[repeated, 'account_id'].nunique())} account(s) "
                        f"with more than one OWNER, e.g. accounts {disp.loc[repeated, 'account_id'].unique()[:3]}")
    clients = raw["client"][["client_id", "birth_number", "district_id"]]
    return disp[["account_id", "client_id"]].merge(clients, on="client_id", how="left", validate="many_to_one")


def last_emitted_month(trans: pd.DataFrame, *, extract_end: str | None, complete_months_only: bool) -> int:
    """The month index of the last monthly row: the extract's last month, less one if that is incomplete."""
    end = pd.Timestamp(extract_end) if extract_end else trans["date"].max()
    last = 12 * end.year + end.month - 1
    if complete_months_only and not end.is_month_end:
        log.info("transactions end %s, before the month-end: the last month emitted is the previous one",
                 end.date())
        last -= 1
    return last


def ledger_tables(raw: dict[str, pd.DataFrame], *, key: bytes, czk_per_eur: float = 34.0,
                  segment_thresholds_czk: tuple[float, float] = (35_000, 70_000), profile_months: int = 3,
                  extract_end: str | None = None, complete_months_only: bool = True, policy_rate: float = 0.0,
                  competitor_spread: float = 0.0, promo_index: float = 0.0, language: str = "en"
                  ) -> dict[str, pd.DataFrame]:
    """The five contract tables from the raw Berka tables, validated (conventions in the module docstring)."""
    accounts = raw["account"].assign(open_m=month_number(raw["account"]["date"]).astype("int64"))
    owned = owners(raw)
    trans = raw["trans"].reindex(columns=TRANS_COLUMNS)
    known = trans["account_id"].isin(owned["account_id"]) & trans["account_id"].isin(accounts["account_id"])
    if not known.all():
        log.warning("trans: %d transaction(s) of accounts without an account row or owner are left out",
                    int((~known).sum()))
    trans = classify(trans[known])
    last = last_emitted_month(trans, extract_end=extract_end, complete_months_only=complete_months_only)
    loans = raw["loan"].assign(loan_m=month_number(raw["loan"]["date"]).astype("int64"))
    cards = raw["card"].merge(raw["disp"][["disp_id", "account_id"]], on="disp_id", how="inner")
    cards = cards.assign(issued_m=month_number(cards["issued"]).astype("int64"))
    months = monthly_rows(trans, accounts, loans, cards, last_month=last)
    if months.empty:
        raise DataError(f"trans: no account has a transaction up to {month_ends([last])[0].date()}")
    profile = account_profile(months, trans, profile_months=profile_months)
    ids = pd.Series(profile.index, index=profile.index)
    ids = pseudonymise(ids.astype(str), key=key)
    customers = build_customers(owned.set_index("account_id").loc[profile.index], accounts, profile, raw["district"],
                                ids=ids, thresholds=segment_thresholds_czk)
    monthly = pd.DataFrame({"customer_id": months["account_id"].map(ids).to_numpy(),
                            "month": month_ends(months["m"]).to_numpy()})
    for column in MONEY:
        source = months["balance"].clip(lower=0) if column == "deposit_balance" else months[column]
        monthly[column] = (source / czk_per_eur).astype("float64").to_numpy()
    monthly = monthly.assign(investment_balance=0.0, card_limit=0.0, card_utilisation=np.nan,
                             n_products=months["n_products"].to_numpy(), tx_count=months["tx_count"].to_numpy(),
                             digital_logins=0, branch_visits=months["branch_visits"].to_numpy(), complaints=0,
                             service_contacts=0)
    monthly = monthly[[f.name for f in TABLES["monthly"][0]]]
    rates = unemployment_rates(raw["district"])
    home = months["account_id"].map(owned.set_index("account_id")["district_id"]).map(rates)
    market = build_market(months["m"], home, policy_rate=policy_rate, competitor_spread=competitor_spread,
                          promo_index=promo_index)
    tables = {"customers": customers, "monthly": monthly, "market": market,
              "churn_events": empty_table("churn_events"), "campaigns": empty_table("campaigns")}
    log.info("ledger: %d customers, %d monthly rows, %d months (%s .. %s)", len(customers), len(monthly),
             len(market), market["month"].min().date(), market["month"].max().date())
    return validate_all(tables, sources={name: f"ledger {name}" for name in tables}, language=language)


def build_customers(owned: pd.DataFrame, accounts: pd.DataFrame, profile: pd.DataFrame, district: pd.DataFrame, *,
                    ids: pd.Series, thresholds: tuple[float, float]) -> pd.DataFrame:
    """The customers table, one row per account in `profile` (its index); `owned` is indexed alike."""
    birth_year, gender = birth_year_gender(owned["birth_number"])
    regions = district.set_index("A1")["A3"]
    region = owned["district_id"].map(regions)
    if region.isna().any():
        raise DataError(f"client: column 'district_id' has {int(region.isna().sum())} owner(s) whose district has "
                        f"no region (district A3)")
    affluent, private = thresholds
    segment = np.select([profile["profile_balance"] >= private, profile["profile_balance"] >= affluent],
                        [SEGMENTS[2], SEGMENTS[1]], SEGMENTS[0])
    return pd.DataFrame({
        "customer_id": ids.to_numpy(),
        "open_date": accounts.set_index("account_id").loc[profile.index, "date"].astype("datetime64[ns]").to_numpy(),
        "birth_year": birth_year.to_numpy(),
        "gender": gender.to_numpy(),
        "education": None,
        "income": np.nan,
        "occupation": np.where(profile["pension"], "retired", None),
        "region": region.astype(str).to_numpy(),
        "segment": segment.astype(object),
        "acquisition_channel": "branch",
        "payroll": profile["income"].to_numpy(dtype=bool),
    })


def unemployment_rates(district: pd.DataFrame) -> pd.Series:
    """Unemployment rate (%) per district_id: 1995 (A12), else 1996 (A13)."""
    return pd.to_numeric(district["A12"], errors="coerce").fillna(
        pd.to_numeric(district["A13"], errors="coerce")).set_axis(district["A1"])


def build_market(month: pd.Series, rate: pd.Series, *, policy_rate: float, competitor_spread: float,
                 promo_index: float) -> pd.DataFrame:
    """One row per month: the mean district unemployment over the month's rows, and the constants."""
    unemployment = rate.groupby(month.to_numpy()).mean().sort_index()
    return pd.DataFrame({"month": month_ends(unemployment.index).to_numpy(), "policy_rate": float(policy_rate),
                         "competitor_spread": float(competitor_spread),
                         "unemployment": unemployment.to_numpy(dtype="float64"), "promo_index": float(promo_index)})
