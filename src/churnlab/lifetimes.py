"""Customer lifetimes for survival analysis: one row per customer, on the tenure scale.

Time is tenure in months counted from the start of the opening month: at the end of the opening month a
customer has tenure 1. For each customer seen in `monthly`:

- entry_month: the first observed month-end; entry_tenure: months from the opening month to the first
  observed month (tenure at the *start* of that month). It is 0 for customers who opened inside the data
  window and positive for those already customers when the window opened. It is the left-truncation time:
  customers who left before the window are never seen, so a customer is in the risk set only after
  entry_tenure.
- exit_month: the churn month for churners, else the last observed month-end; duration: tenure at the end
  of exit_month (so duration > entry_tenure always).
- event: 1 if the customer has a churn event (the closure definition: any churn type), else 0.
- censoring: a customer without a churn event is right-censored at the end of the data
  (censor_reason = "end_of_data"); churners have censor_reason <NA>. churn_type is kept because a
  voluntary-churn analysis may treat involuntary churn (the bank closing a dormant account) as censoring,
  a competing risk rather than an event.
- covariates: the snapshot indicators at entry_month (prefix `entry_`) and at the last month the customer
  was still active, `active_until` (the month before the churn month, or the last observed month), with
  prefix `last_`. They are kept apart because `last_` values are measured close to the outcome and
  describe the run-up to churn; only `entry_` covariates are baseline covariates for a Cox model.
  Customers who churned in their first observed month have no active month, so their `last_` values are
  missing.
"""

import logging

import duckdb
import pandas as pd

from churnlab.indicators import FEATURES, FLAGS, point_in_time_features
from churnlab.tables import month_end

log = logging.getLogger(__name__)

SPINE_SQL = """
CREATE OR REPLACE TEMP TABLE spine AS
SELECT c.customer_id, c.open_date, c.open_m, min(x.m) AS entry_m, max(x.m) AS last_row_m,
       any_value(e.churn_m) AS churn_m, any_value(e.churn_type) AS churn_type
FROM customers AS c
JOIN monthly AS x USING (customer_id)
LEFT JOIN churn_events AS e USING (customer_id)
GROUP BY c.customer_id, c.open_date, c.open_m
"""


def _dates(indices: pd.Series) -> pd.Series:
    lookup = {i: month_end(int(i)) for i in indices.dropna().unique()}
    return indices.map(lookup).astype("datetime64[ns]")


def build_lifetimes(con: duckdb.DuckDBPyConnection, *, last_month: int) -> pd.DataFrame:
    """One row per customer with a monthly row: entry, exit, duration, event and covariates (see module doc).

    `last_month` is the month index of the data end; a censored customer whose rows stop earlier is
    counted and logged (the contract says rows run to the data end).
    """
    con.execute(SPINE_SQL)
    spine = con.execute("SELECT * FROM spine ORDER BY customer_id").df()
    event = spine["churn_m"].notna()
    exit_m = spine["churn_m"].where(event, spine["last_row_m"]).astype("int64")
    early = int((~event & (spine["last_row_m"] < last_month)).sum())
    if early:
        log.warning("%d censored customer(s) have no row at the data end; censored at their last row", early)
    lifetimes = pd.DataFrame({
        "customer_id": spine["customer_id"],
        "open_date": spine["open_date"].astype("datetime64[ns]"),
        "entry_month": _dates(spine["entry_m"]),
        "entry_tenure": (spine["entry_m"] - spine["open_m"]).astype("int64"),
        "exit_month": _dates(exit_m),
        "duration": (exit_m - spine["open_m"] + 1).astype("int64"),
        "event": event.astype("int8"),
        "churn_type": spine["churn_type"].where(event).astype("string"),
        "censor_reason": pd.Series("end_of_data", index=spine.index, dtype="string").where(~event),
    })
    active_m = exit_m.where(~event, exit_m - 1)
    active_m = active_m.where(active_m >= spine["entry_m"])
    lifetimes["active_until"] = _dates(active_m)

    asof = pd.DataFrame({"customer_id": spine["customer_id"], "entry_t": spine["entry_m"],
                         "last_t": active_m.astype("Int64")})
    con.register("lifetime_asof", asof)
    for prefix, column in (("entry_", "entry_t"), ("last_", "last_t")):
        con.execute(f"CREATE OR REPLACE TEMP TABLE covariate_months AS SELECT customer_id, {column} AS t "
                    f"FROM lifetime_asof WHERE {column} IS NOT NULL")
        covariates = point_in_time_features(con, "covariate_months").drop(columns="t")
        covariates = covariates.rename(columns={f: prefix + f for f in FEATURES})
        lifetimes = lifetimes.merge(covariates, on="customer_id", how="left", validate="one_to_one")
        for flag in FLAGS:  # a customer without covariates has missing flags, not False
            lifetimes[prefix + flag] = lifetimes[prefix + flag].astype("boolean")
    con.unregister("lifetime_asof")
    return lifetimes
