"""The early-warning indicator catalogue and the SQL that computes every indicator as of a month t.

Each indicator is a feature of a snapshot: a customer's state at month-end t computed only from rows dated
<= t. Windows count back from t: "3 months" means months t-2..t (the lag-0..2 rows), "the previous 3 months"
means t-3..t-1. Lookback windows are conditional aggregates (`sum(CASE WHEN lag <= 2 THEN ... END)`, twice
as fast in DuckDB as `FILTER` clauses) over the rows of months t-11..t of each customer: the same values as
window frames ending at t, but only one cutoff's slice is in memory, and leakage is guarded in one place,
the join condition `month <= t`. A customer with less history than a window uses the months there are; a
ratio whose denominator is zero or absent is missing (XGBoost routes missing values itself). Market
indicators come from the `market` table through window frames over months (`RANGE 3 PRECEDING`).

The SQL is DuckDB's dialect and runs unchanged on Spark through sqlglot (`churnlab.core.engine`): `any_value`
ignores missing values on both, `//` is integer division on both, `* EXCLUDE` becomes Spark's `* EXCEPT`.
"""

from dataclasses import dataclass

import duckdb
import pandas as pd

from churnlab.core.engine import Sql, as_sql

LOOKBACK_MONTHS = 12  # the longest window (complaints and contacts over 12 months)


@dataclass(frozen=True)
class Indicator:
    """One catalogue entry: a snapshot feature column."""

    feature: str
    group: str  # customer, banking or market
    meaning: str
    unit: str
    lookback_months: int  # months of history the value depends on, counting month t itself (0: static)


def _c(feature, meaning, unit, lookback=0):
    return Indicator(feature, "customer", meaning, unit, lookback)


def _b(feature, meaning, unit, lookback=1):
    return Indicator(feature, "banking", meaning, unit, lookback)


def _m(feature, meaning, unit, lookback=1):
    return Indicator(feature, "market", meaning, unit, lookback)


def _balance(product: str) -> list[Indicator]:
    return [
        _b(f"{product}_balance", f"{product.capitalize()} balance at t", "EUR"),
        _b(f"{product}_trend_3m", f"{product.capitalize()} balance at t / its mean over t-3..t-1", "ratio", 4),
        _b(f"{product}_trend_6m", f"{product.capitalize()} balance at t / its mean over t-6..t-1", "ratio", 7),
        _b(f"{product}_volatility_6m", f"Std / mean of the {product} balance over t-5..t", "ratio", 6),
    ]


INDICATORS: tuple[Indicator, ...] = (
    _c("age", "Age in years at t (year of t minus birth year)", "years"),
    _c("age_band", "Age band: <25, 25-34, 35-44, 45-54, 55-64, 65+", "category"),
    _c("income", "Declared net monthly income; missing when not declared", "EUR/month"),
    _c("income_missing", "Income was never declared (informative: non-declarers differ)", "flag"),
    _c("education", "Highest education; missing stays missing", "category"),
    _c("education_missing", "Education was never collected", "flag"),
    _c("segment", "Bank's customer segment", "category"),
    _c("tenure_months", "Months as a customer at the end of t (the opening month counts as 1)", "months"),
    _c("payroll", "Salary is paid into the bank (at opening)", "flag"),
    _c("occupation", "Occupation at onboarding", "category"),
    _c("region", "Home region", "category"),
    _c("acquisition_channel", "Channel through which the customer joined", "category"),
    *_balance("deposit"),
    *_balance("investment"),
    *_balance("loan"),
    _b("total_balance", "Deposit + investment balance at t", "EUR"),
    _b("total_balance_trend_3m", "Total balance at t / its mean over t-3..t-1", "ratio", 4),
    _b("n_products", "Products held at t", "count"),
    _b("n_products_change_3m", "Products at t minus products at t-3", "count", 4),
    _b("tx_count", "Customer-initiated transactions in month t", "count"),
    _b("tx_amount", "Value of customer-initiated transactions in month t", "EUR"),
    _b("tx_count_change_3m", "Mean monthly transactions over t-2..t / over t-5..t-3", "ratio", 6),
    _b("tx_amount_change_3m", "Mean monthly transaction value over t-2..t / over t-5..t-3", "ratio", 6),
    _b("digital_share_3m", "Logins / (logins + branch visits) over t-2..t; missing without either", "share", 3),
    _b("months_since_last_tx", "Months since the last month with a transaction (0: in t); without one in "
       "the last 12 months, the months of history observed (a lower bound)", "months", 12),
    _b("has_card", "Holds a credit card at t (card limit > 0)", "flag"),
    _b("card_utilisation", "Card balance / limit at t; missing without a card", "share"),
    _b("complaints_3m", "Formal complaints over t-2..t", "count", 3),
    _b("complaints_12m", "Formal complaints over t-11..t", "count", 12),
    _b("service_contacts_3m", "Service contacts over t-2..t", "count", 3),
    _b("service_contacts_12m", "Service contacts over t-11..t", "count", 12),
    _b("fees_last_month", "Fees charged in month t", "EUR"),
    _b("fees_3m", "Fees charged over t-2..t", "EUR", 3),
    _b("salary_inflow", "Salary credited in month t; 0 when none", "EUR"),
    _b("months_since_salary", "Months since the last salary inflow (0: in t); without one in the last 12 "
       "months, the months of history observed", "months", 12),
    _m("competitor_spread", "Best competitor deposit rate minus the bank's at t", "percentage points"),
    _m("competitor_spread_change_3m", "Competitor spread at t minus at t-3", "percentage points", 4),
    _m("unemployment", "National unemployment rate at t", "%"),
    _m("unemployment_change_3m", "Unemployment at t minus at t-3", "percentage points", 4),
    _m("promo_index", "Intensity of competitor acquisition promotions at t (0 none, 1 peak)", "index"),
)
FEATURES = tuple(i.feature for i in INDICATORS)
CATEGORICAL = tuple(i.feature for i in INDICATORS if i.unit == "category")
FLAGS = tuple(i.feature for i in INDICATORS if i.unit == "flag")


def catalogue() -> pd.DataFrame:
    """The catalogue's definitions: feature, group, meaning, unit, lookback_months."""
    return pd.DataFrame([vars(i) for i in INDICATORS])


def _balance_sql(product: str, column: str) -> str:
    return f"""
        any_value(CASE WHEN lag = 0 THEN {column} END) AS {product}_balance,
        any_value(CASE WHEN lag = 0 THEN {column} END)
            / nullif(avg(CASE WHEN lag BETWEEN 1 AND 3 THEN {column} END), 0) AS {product}_trend_3m,
        any_value(CASE WHEN lag = 0 THEN {column} END)
            / nullif(avg(CASE WHEN lag BETWEEN 1 AND 6 THEN {column} END), 0) AS {product}_trend_6m,
        stddev_samp(CASE WHEN lag <= 5 THEN {column} END)
            / nullif(avg(CASE WHEN lag <= 5 THEN {column} END), 0) AS {product}_volatility_6m,"""


def _ratio(column: str, recent: str, before: str) -> str:
    return f"avg(CASE WHEN {recent} THEN {column} END) / nullif(avg(CASE WHEN {before} THEN {column} END), 0)"


FEATURE_SQL = """
WITH hist AS (
    SELECT a.customer_id, a.t, a.t - x.m AS lag,
           x.deposit_balance, x.investment_balance, x.loan_balance,
           x.deposit_balance + x.investment_balance AS total_balance,
           x.card_limit, x.card_utilisation, x.n_products, x.tx_count, x.tx_amount, x.digital_logins,
           x.branch_visits, x.complaints, x.service_contacts, x.fees_paid, x.salary_inflow
    FROM {asof} AS a
    JOIN monthly AS x ON x.customer_id = a.customer_id AND x.m BETWEEN a.t - {window} AND a.t
    WHERE x.m BETWEEN {lo} AND {hi}
),
banking AS (
    SELECT customer_id, t, {balances}
        any_value(CASE WHEN lag = 0 THEN total_balance END) AS total_balance,
        any_value(CASE WHEN lag = 0 THEN total_balance END)
            / nullif(avg(CASE WHEN lag BETWEEN 1 AND 3 THEN total_balance END), 0) AS total_balance_trend_3m,
        any_value(CASE WHEN lag = 0 THEN n_products END) AS n_products,
        any_value(CASE WHEN lag = 0 THEN n_products END)
            - any_value(CASE WHEN lag = 3 THEN n_products END) AS n_products_change_3m,
        any_value(CASE WHEN lag = 0 THEN tx_count END) AS tx_count,
        any_value(CASE WHEN lag = 0 THEN tx_amount END) AS tx_amount,
        {tx_count_change} AS tx_count_change_3m,
        {tx_amount_change} AS tx_amount_change_3m,
        sum(CASE WHEN lag <= 2 THEN digital_logins END)
            / nullif(sum(CASE WHEN lag <= 2 THEN digital_logins + branch_visits END), 0) AS digital_share_3m,
        coalesce(min(CASE WHEN tx_count > 0 THEN lag END), count(*)) AS months_since_last_tx,
        any_value(CASE WHEN lag = 0 THEN card_limit END) > 0 AS has_card,
        any_value(CASE WHEN lag = 0 THEN card_utilisation END) AS card_utilisation,
        sum(CASE WHEN lag <= 2 THEN complaints END) AS complaints_3m,
        sum(complaints) AS complaints_12m,
        sum(CASE WHEN lag <= 2 THEN service_contacts END) AS service_contacts_3m,
        sum(service_contacts) AS service_contacts_12m,
        any_value(CASE WHEN lag = 0 THEN fees_paid END) AS fees_last_month,
        sum(CASE WHEN lag <= 2 THEN fees_paid END) AS fees_3m,
        any_value(CASE WHEN lag = 0 THEN salary_inflow END) AS salary_inflow,
        coalesce(min(CASE WHEN salary_inflow > 0 THEN lag END), count(*)) AS months_since_salary
    FROM hist
    GROUP BY customer_id, t
),
market_at AS (
    SELECT m, competitor_spread, unemployment, promo_index,
        competitor_spread - first(competitor_spread) OVER back3 AS competitor_spread_change_3m,
        unemployment - first(unemployment) OVER back3 AS unemployment_change_3m
    FROM market
    WINDOW back3 AS (ORDER BY m RANGE BETWEEN 3 PRECEDING AND 3 PRECEDING)
)
SELECT b.customer_id, b.t,
    (b.t // 12) - c.birth_year AS age,
    CASE WHEN (b.t // 12) - c.birth_year < 25 THEN '<25'
         WHEN (b.t // 12) - c.birth_year < 35 THEN '25-34'
         WHEN (b.t // 12) - c.birth_year < 45 THEN '35-44'
         WHEN (b.t // 12) - c.birth_year < 55 THEN '45-54'
         WHEN (b.t // 12) - c.birth_year < 65 THEN '55-64'
         ELSE '65+' END AS age_band,
    CAST(c.income AS DOUBLE) AS income, c.income IS NULL AS income_missing,
    CAST(c.education AS VARCHAR) AS education, c.education IS NULL AS education_missing,
    CAST(c.segment AS VARCHAR) AS segment, b.t - c.open_m + 1 AS tenure_months,
    CAST(c.payroll AS BOOLEAN) AS payroll, CAST(c.occupation AS VARCHAR) AS occupation,
    CAST(c.region AS VARCHAR) AS region, CAST(c.acquisition_channel AS VARCHAR) AS acquisition_channel,
    b.* EXCLUDE (customer_id, t),
    k.competitor_spread, k.competitor_spread_change_3m, k.unemployment, k.unemployment_change_3m,
    k.promo_index
FROM banking AS b
JOIN customers AS c USING (customer_id)
LEFT JOIN market_at AS k ON k.m = b.t
ORDER BY b.customer_id, b.t
"""


def point_in_time_features(con: duckdb.DuckDBPyConnection | Sql, asof: str) -> pd.DataFrame:
    """Every catalogue indicator for each (customer_id, t) row of the relation `asof`, from rows dated <= t.

    `t` is a month index (see `churnlab.contract.tables`). Returns customer_id, t and the FEATURES columns, sorted by
    customer_id and t, with categorical columns as pandas `category`, flags as bool, the rest float64.
    """
    sql = as_sql(con)
    lo, hi = sql.row(f"SELECT min(t), max(t) FROM {asof}")
    if lo is None:
        return pd.DataFrame(columns=["customer_id", "t", *FEATURES])
    return tidy_dtypes(sql.query(feature_sql(asof, lo=int(lo), hi=int(hi))))


def feature_sql(asof: str, *, lo: int, hi: int) -> str:
    """The SQL (DuckDB's dialect) of every indicator for the (customer_id, t) rows of `asof`, whose month indices t
    lie in [lo, hi]: customer_id, t and the FEATURES columns as the engine types them (`tidy_dtypes` fixes pandas')."""
    window = LOOKBACK_MONTHS - 1
    balances = "".join(_balance_sql(p, f"{p}_balance") for p in ("deposit", "investment", "loan"))
    return FEATURE_SQL.format(
        asof=asof, window=window, lo=lo - window, hi=hi, balances=balances,
        tx_count_change=_ratio("tx_count", "lag <= 2", "lag BETWEEN 3 AND 5"),
        tx_amount_change=_ratio("tx_amount", "lag <= 2", "lag BETWEEN 3 AND 5"),
    )


def tidy_dtypes(features: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as `category`, flags as bool, numbers as float64 (stable dtypes across cutoffs).

    Built as one new frame from a dict of columns: converting column by column in place makes pandas
    re-consolidate its blocks each time, which costs seconds per million rows.
    """
    columns = {"customer_id": features["customer_id"], "t": features["t"]}
    for column in FEATURES:
        values = features[column]
        if column in CATEGORICAL:
            columns[column] = values.astype("category")
        elif column in FLAGS:
            columns[column] = values.astype("boolean").fillna(False).astype(bool)
        else:
            columns[column] = values.astype("float64", copy=False)
    return pd.DataFrame(columns)


def catalogue_markdown() -> str:
    """The catalogue's definitions as a Markdown table (the body of docs/indicators.md's table)."""
    lines = ["| feature | group | meaning | unit | lookback (months) |", "|---|---|---|---|---|"]
    lines += [f"| `{i.feature}` | {i.group} | {i.meaning} | {i.unit} | {i.lookback_months} |" for i in INDICATORS]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(catalogue_markdown())
