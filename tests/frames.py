"""Tiny contract tables for the features tests: a few customers over a few month-ends, built by hand."""

import numpy as np
import pandas as pd

START = pd.Timestamp("2022-01-31")
MONTHLY_DEFAULTS = {
    "deposit_balance": 1000.0, "investment_balance": 0.0, "loan_balance": 0.0, "card_limit": 0.0,
    "card_utilisation": np.nan, "n_products": 2, "tx_count": 5, "tx_amount": 500.0, "digital_logins": 4,
    "branch_visits": 1, "complaints": 0, "service_contacts": 0, "fees_paid": 3.0, "salary_inflow": 0.0,
}


def month(i: int) -> pd.Timestamp:
    """Month-end number i of the tiny window (0 = 2022-01-31)."""
    return START + pd.offsets.MonthEnd(i)


def customer(customer_id: str, open_date: str = "2019-06-10", **values) -> dict:
    row = {"customer_id": customer_id, "open_date": pd.Timestamp(open_date), "birth_year": 1980, "gender": "F",
           "education": "secondary", "income": 2500.0, "occupation": "employee", "region": "north",
           "segment": "mass", "acquisition_channel": "branch", "payroll": True}
    return row | values


def months(customer_id: str, first: int, last: int, **series) -> list[dict]:
    """Monthly rows for months first..last; a keyword gives one value for all months or a list per month."""
    rows = []
    for k, i in enumerate(range(first, last + 1)):
        row = {"customer_id": customer_id, "month": month(i), **MONTHLY_DEFAULTS}
        for name, value in series.items():
            row[name] = value[k] if isinstance(value, list | tuple) else value
        rows.append(row)
    return rows


def market(n_months: int) -> pd.DataFrame:
    i = np.arange(n_months)
    return pd.DataFrame({"month": [month(k) for k in i], "policy_rate": 2.0, "competitor_spread": 0.1 * i,
                         "unemployment": 6.0 + 0.05 * i, "promo_index": (i % 4) / 4})


def tables(customers: list[dict], monthly: list[dict], events: list[tuple] = (), *,
           n_months: int) -> dict[str, pd.DataFrame]:
    """Contract tables; `events` are (customer_id, churn month number, churn_type)."""
    monthly_frame = pd.DataFrame(monthly)
    for column in ("n_products", "tx_count", "digital_logins", "branch_visits", "complaints", "service_contacts"):
        monthly_frame[column] = monthly_frame[column].astype("int64")
    return {
        "customers": pd.DataFrame(customers),
        "monthly": monthly_frame,
        "market": market(n_months),
        "churn_events": pd.DataFrame(
            [{"customer_id": c, "churn_month": month(m), "churn_type": kind, "reason": "price"}
             for c, m, kind in events],
            columns=["customer_id", "churn_month", "churn_type", "reason"],
        ).astype({"churn_month": "datetime64[ns]", "customer_id": "object", "churn_type": "object"}),
    }


def random_tables(seed: int, *, n_customers: int = 4, n_months: int = 10) -> dict[str, pd.DataFrame]:
    """Random but contract-shaped tables: some customers open inside the window, one churns."""
    rng = np.random.default_rng(seed)
    customers, monthly, events = [], [], []
    for c in range(n_customers):
        cid = f"c{c}"
        first = 0 if c % 2 == 0 else int(rng.integers(0, 4))
        open_date = "2018-03-05" if first == 0 else str(month(first).date())
        customers.append(customer(cid, open_date, income=np.nan if c == 1 else float(rng.integers(900, 9000)),
                                  education=None if c == 2 else "tertiary"))
        last = n_months - 1
        if c == n_customers - 1:
            last = int(rng.integers(first + 1, n_months))
            events.append((cid, last, "voluntary_closure"))
        n = last - first + 1
        monthly += months(
            cid, first, last,
            deposit_balance=list(rng.gamma(2, 2000, n)), investment_balance=list(rng.gamma(1, 500, n) * (c % 2)),
            loan_balance=list(rng.gamma(1, 300, n)), card_limit=2000.0 if c != 1 else 0.0,
            card_utilisation=list(rng.uniform(0, 1, n)) if c != 1 else np.nan,
            n_products=list(rng.integers(1, 5, n)), tx_count=list(rng.integers(0, 3, n)),
            tx_amount=list(rng.gamma(2, 100, n)), digital_logins=list(rng.integers(0, 6, n)),
            branch_visits=list(rng.integers(0, 2, n)), complaints=list(rng.integers(0, 2, n)),
            service_contacts=list(rng.integers(0, 3, n)), fees_paid=list(rng.uniform(0, 9, n)),
            salary_inflow=list(rng.choice([0.0, 2100.0], n)),
        )
    return tables(customers, monthly, events, n_months=n_months)
