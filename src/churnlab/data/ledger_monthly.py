"""Monthly rows of the ledger adapter: one row per account and month-end, from the Berka transactions.

The conventions (which transactions count as what, balances, products) are listed in `churnlab.data.ledger`;
this module implements them, vectorised (no loops over transactions). Money stays in the ledger's currency
(CZK) here; `churnlab.data.ledger` converts. Months are month indices 12 * year + month - 1, as in
`churnlab.contract.tables`.
"""

import logging

import numpy as np
import pandas as pd

from churnlab.contract.tables import month_number

log = logging.getLogger(__name__)

CREDIT = "PRIJEM"  # transaction type of a credit; VYDAJ (debit) and VYBER (cash withdrawal) are debits
PENSION = "DUCHOD"
INCOMING_TRANSFER = "PREVOD Z UCTU"  # credit from an account at another bank
FEES = ("SLUZBY", "SANKC. UROK")  # payment for the statement, sanction interest on a negative balance
CUSTOMER_OPERATIONS = ("VKLAD", "VYBER", "VYBER KARTOU", "PREVOD NA UCET")  # cash in, cash out, card, transfer out
CASH_OPERATIONS = ("VKLAD", "VYBER")  # at the counter: one branch visit per day with any of them
MAX_PRODUCTS = 10  # the contract's upper bound


def classify(trans: pd.DataFrame) -> pd.DataFrame:
    """Transactions with month `m`, `signed` amount and the flags the monthly aggregates sum over."""
    k_symbol = trans["k_symbol"].fillna("").str.strip()
    operation = trans["operation"].fillna("").str.strip()
    credit = trans["type"].eq(CREDIT)
    customer = operation.isin(CUSTOMER_OPERATIONS) & k_symbol.eq("")
    return trans.assign(
        m=month_number(trans["date"]).astype("int64"),
        signed=np.where(credit, 1.0, -1.0) * trans["amount"],
        customer=customer,
        cash=customer & operation.isin(CASH_OPERATIONS),
        fee=k_symbol.isin(FEES),
        pension=credit & k_symbol.eq(PENSION),
        income=credit & (k_symbol.eq(PENSION) | operation.eq(INCOMING_TRANSFER)),
    )


def panel(trans: pd.DataFrame, *, last_month: int) -> pd.DataFrame:
    """Every (account_id, m) from the account's first month with a transaction to `last_month`."""
    start = trans.groupby("account_id")["m"].min()
    start = start[start <= last_month]
    counts = (last_month - start + 1).to_numpy()
    k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return pd.DataFrame({"account_id": np.repeat(start.index.to_numpy(), counts),
                         "m": np.repeat(start.to_numpy(), counts) + k})


def month_end_balances(trans: pd.DataFrame) -> pd.Series:
    """The account balance after the last transaction of each (account_id, m) with transactions.

    Berka gives no order within a day (trans_id is not chronological), so the last transaction of the
    month's last day is found from the balances: the day starts at s = balance - amount of its first
    transaction, and ends at balance_last = s + the day's net flow. Of all pairs (first, last) on that
    day, the pair whose two values of s agree best (the ledger's balances carry 0.1 CZK rounding) gives
    the month-end balance. A day with one transaction is its own pair.
    """
    last_day = trans[trans["date"] == trans.groupby(["account_id", "m"])["date"].transform("max")]
    net = last_day.groupby(["account_id", "date"])["signed"].transform("sum")
    lasts = last_day[["account_id", "m", "date", "trans_id", "balance"]].assign(start=last_day["balance"] - net)
    firsts = last_day[["account_id", "date"]].assign(first_start=last_day["balance"] - last_day["signed"])
    pairs = lasts.merge(firsts, on=["account_id", "date"])
    pairs["gap"] = (pairs["start"] - pairs["first_start"]).abs()
    best = pairs.sort_values(["gap", "trans_id"], kind="stable").drop_duplicates(["account_id", "m"])
    return best.set_index(["account_id", "m"])["balance"].sort_index()


def flows(trans: pd.DataFrame) -> pd.DataFrame:
    """Monthly sums per (account_id, m): customer transactions, branch visits, fees and income, in CZK."""
    amount = trans["amount"].abs()
    parts = trans[["account_id", "m"]].assign(
        tx_count=trans["customer"].astype("int64"),
        tx_amount=amount.where(trans["customer"], 0.0),
        fees_paid=amount.where(trans["fee"], 0.0),
        salary_inflow=amount.where(trans["income"], 0.0),
    )
    sums = parts.groupby(["account_id", "m"]).sum()
    visits = trans[trans["cash"]].groupby(["account_id", "m"])["date"].nunique().rename("branch_visits")
    return sums.join(visits).fillna({"branch_visits": 0}).astype({"branch_visits": "int64"})


def loan_balances(months: pd.DataFrame, loans: pd.DataFrame) -> pd.DataFrame:
    """Outstanding principal and the number of running loans per panel row (index aligned with `months`).

    Linear amortisation: a loan of `amount` over `duration` months granted in month g owes
    amount * (1 - (m - g) / duration) at month-end m >= g, and nothing once m - g >= duration. Berka's
    `payments` is exactly amount / duration (the amount includes the interest), so this is the schedule.
    """
    rows = months.reset_index()[["index", "account_id", "m"]]
    joined = rows.merge(loans[["account_id", "loan_m", "amount", "duration"]], on="account_id")
    elapsed = joined["m"] - joined["loan_m"]
    owed = joined["amount"] * (1 - elapsed / joined["duration"]).clip(lower=0)
    joined = joined.assign(loan_balance=owed.where(elapsed >= 0, 0.0), running=(elapsed >= 0) & (owed > 0))
    per_row = joined.groupby("index")[["loan_balance", "running"]].sum()
    return per_row.reindex(months.index, fill_value=0).astype({"loan_balance": "float64", "running": "int64"})


def card_counts(months: pd.DataFrame, cards: pd.DataFrame) -> pd.Series:
    """Cards issued on the account by each panel row's month-end (index aligned with `months`)."""
    rows = months.reset_index()[["index", "account_id", "m"]]
    joined = rows.merge(cards[["account_id", "issued_m"]], on="account_id")
    held = joined[joined["issued_m"] <= joined["m"]].groupby("index").size()
    return held.reindex(months.index, fill_value=0).astype("int64")


def monthly_rows(trans: pd.DataFrame, accounts: pd.DataFrame, loans: pd.DataFrame, cards: pd.DataFrame, *,
                 last_month: int) -> pd.DataFrame:
    """The monthly panel in CZK from `classify`-ed transactions of known accounts: one row per account and
    month from the first month with a transaction, never before the opening month, to `last_month`;
    balances are carried forward over months without transactions. `k` counts months from the first row."""
    trans = trans[trans["m"] <= last_month]
    months = panel(trans, last_month=last_month)
    keys = pd.MultiIndex.from_frame(months[["account_id", "m"]])
    balance = month_end_balances(trans).reindex(keys)
    months["balance"] = balance.groupby(level="account_id").ffill().to_numpy()
    months = months.join(flows(trans).reindex(keys).fillna(0).reset_index(drop=True))
    early = months["m"] < months["account_id"].map(accounts.set_index("account_id")["open_m"])
    if early.any():  # a transaction dated before the account's opening: a data error, kept out of the panel
        log.warning("trans: %d account-month(s) with transactions before the account's opening month are left "
                    "out", int(early.sum()))
        months = months[~early].reset_index(drop=True)
    months["k"] = months.groupby("account_id").cumcount()
    months = months.astype({"tx_count": "int64", "branch_visits": "int64"})
    loans_now = loan_balances(months, loans)
    months["loan_balance"] = loans_now["loan_balance"]
    months["n_products"] = (1 + card_counts(months, cards) + loans_now["running"]).clip(upper=MAX_PRODUCTS)
    months["n_products"] = months["n_products"].astype("int64")
    log.info("monthly: %d rows for %d accounts; %d rows with a negative balance (an overdraft, reported as 0)",
             len(months), months["account_id"].nunique(), int((months["balance"] < 0).sum()))
    return months


def account_profile(months: pd.DataFrame, trans: pd.DataFrame, *, profile_months: int) -> pd.DataFrame:
    """Per account, over its first `profile_months` panel months (fewer where the data ends sooner): the mean
    month-end balance (an overdraft counts as 0), and whether income (a pension or an incoming transfer) and
    a pension were credited."""
    early = months[months["k"] < profile_months]
    profile = early.assign(balance=early["balance"].clip(lower=0)).groupby("account_id")["balance"].mean()
    first = trans["account_id"].map(months.groupby("account_id")["m"].min())
    window = trans[(trans["m"] >= first) & (trans["m"] < first + profile_months) & (trans["m"] <= months["m"].max())]
    credits = window.groupby("account_id")[["income", "pension"]].any().reindex(profile.index, fill_value=False)
    return credits.astype(bool).assign(profile_balance=profile)
