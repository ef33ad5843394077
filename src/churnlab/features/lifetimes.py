"""Customer lifetimes for survival analysis: one row per customer, on the tenure scale.

Time is tenure in months counted from the start of the opening month: at the end of the opening month a
customer has tenure 1. The event follows the churn definition (`features.churn.definition`, as the labels
of `churnlab.contract.labels` do); lifetimes support two of the four:

- closure (the default): a churn event of any type in `churn_events`; the event month is the churn month.
- dormancy: the first run of `dormancy_months` (k) consecutive months with no customer-initiated
  transaction, by the labels' own rule (`labels.LABEL_SQL`: all k month rows present, `tx_count == 0`). The
  event month is the run's *first* month: when the customer stopped using the bank, not when k idle months
  made it certain. churn_type is "dormancy". A closure also counts, as in the labels (a closed account
  can never show k idle months); whichever comes first is the event, a tie going to the closure.
  A run starting at month s is seen complete only at s + k - 1, so follow-up ends at L - k + 1 (L the data
  end): a run starting later could not be told apart from k - 1 idle months at the end of the data. Every
  customer without an event by then is censored there, including those whose idle run the data end cuts
  and those whose closure comes later (censoring the unknowns alone, or crediting them with the last
  k - 1 months, would bias the hazard down exactly where the likeliest leavers are). Customers first seen
  after L - k + 1 have no follow-up and are left out (logged).
- value and partial compare each month with the level at a cutoff month, which a lifetime does not have:
  `build_lifetimes` raises ValueError for them.

For each customer seen in `monthly` (and, under dormancy, first seen by L - k + 1):

- entry_month: the first observed month-end; entry_tenure: months from the opening month to the first
  observed month (tenure at the *start* of that month). It is 0 for customers who opened inside the data
  window and positive for those already customers when the window opened. It is the left-truncation time:
  customers who left before the window are never seen, so a customer is in the risk set only after
  entry_tenure.
- exit_month: the event month for churners, else the last observed month-end (under dormancy, at most
  L - k + 1); duration: tenure at the end of exit_month (so duration > entry_tenure always).
- event: 1 if the customer churned by the definition, else 0.
- censoring: a customer without an event is right-censored at the end of follow-up
  (censor_reason = "end_of_data"); churners have censor_reason <NA>. churn_type is kept because a
  voluntary-churn analysis may treat involuntary churn (the bank closing a dormant account) as censoring,
  a competing risk rather than an event.
- covariates: the snapshot indicators at entry_month (prefix `entry_`) and at the last month the customer
  was still active, `active_until` (the month before the event month, or the exit month of a censored
  customer), with prefix `last_`. They are kept apart because `last_` values are measured close to the
  outcome and describe the run-up to churn; only `entry_` covariates are baseline covariates for a Cox
  model. Customers who churned in their first observed month have no active month, so their `last_`
  values are missing.
"""
import logging

import duckdb
import pandas as pd

from churnlab.contract.indicators import FEATURES, FLAGS, point_in_time_features
from churnlab.contract.labels import LABEL_SQL
from churnlab.contract.tables import month_end
from churnlab.core.engine import Sql, as_sql

log = logging.getLogger(__name__)

DEFINITIONS = ("closure", "dormancy")  # of labels.DEFINITIONS, those a lifetime can follow (module doc)
# LABEL_SQL also flags value and partial churn; lifetimes read only its dormancy flag, so any valid
# thresholds do for the others.
OTHER_THRESHOLDS = {"value_drop_pct": 50.0, "value_window_months": 1, "partial_drop": 1}

SPINE_SQL = """
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


def dormancy_starts(con: duckdb.DuckDBPyConnection | Sql, *, first_month: int, last_month: int,
                    dormancy_months: int) -> pd.Series:
    """The first month index of each customer's first run of `dormancy_months` idle months (index: customer_id).

    labels.LABEL_SQL at cutoff t with a one-month horizon flags exactly the runs that end at t + 1, by the
    labels' rule, so scanning t upwards finds each customer's first run end e; the run starts at e - k + 1.
    LABEL_SQL needs a row at t, so with k = 1 an idle first month is not seen (no label sees it either).
    One query per month: about 10 s for 48 months of 50,000 customers on two cores.
    """
    ends = []
    for t in range(max(first_month, first_month + dormancy_months - 2), last_month):
        flags = as_sql(con).query(LABEL_SQL.format(
            active=f"(SELECT customer_id FROM monthly WHERE m = {t})", t=t, horizon=1,
            dormancy_months=int(dormancy_months), **OTHER_THRESHOLDS))
        ends.append(flags.loc[flags["dormancy_event"].astype(bool), ["customer_id"]].assign(end_m=t + 1))
    ends = pd.concat(ends, ignore_index=True) if ends else pd.DataFrame(columns=["customer_id", "end_m"])
    first_end = ends.groupby("customer_id")["end_m"].min().astype("int64")
    return (first_end - dormancy_months + 1).rename("start_m")


def dormancy_events(con: duckdb.DuckDBPyConnection | Sql, spine: pd.DataFrame, *, last_month: int,
                    dormancy_months: int) -> tuple[pd.DataFrame, int]:
    """The spine with churn_m / churn_type replaced by the dormancy-or-closure event, and the follow-up end.

    Events after the follow-up end L - k + 1 are censored, and customers first seen after it are dropped.
    """
    if dormancy_months is None or dormancy_months < 1:
        raise ValueError(f"features.churn.dormancy_months must be >= 1 for the dormancy definition, "
                         f"got {dormancy_months}")
    first_month = int(spine["entry_m"].min())
    end = last_month - dormancy_months + 1
    if end < first_month:
        raise ValueError(f"features.churn.dormancy_months={dormancy_months} is longer than the data's "
                         f"{last_month - first_month + 1} month(s): no idle run could be seen complete")
    start = spine["customer_id"].map(dormancy_starts(con, first_month=first_month, last_month=last_month,
                                                     dormancy_months=dormancy_months))
    closure = spine["churn_m"].astype("float64")  # NaN, not <NA>: comparisons with it are plain False
    dormant = start.notna() & ~(closure <= start)  # before any closure; a tie goes to the closure
    spine = spine.assign(churn_m=closure.where(~dormant, start),
                         churn_type=spine["churn_type"].where(~dormant, "dormancy"))
    late = spine["churn_m"] > end
    spine = spine.assign(churn_m=spine["churn_m"].where(~late), churn_type=spine["churn_type"].where(~late))
    unseen = spine["entry_m"] > end
    log.info("dormancy (%d idle months): follow-up ends %s; %d dormancy and %d closure event(s) by then, %d later "
             "event(s) censored; %d customer(s) first seen after it left out", dormancy_months,
             month_end(end).date(), int((dormant & ~late).sum()), int((spine["churn_m"].notna() & ~dormant).sum()),
             int(late.sum()), int(unseen.sum()))
    return spine.loc[~unseen].reset_index(drop=True), end


def build_lifetimes(con: duckdb.DuckDBPyConnection | Sql, *, last_month: int, definition: str = "closure",
                    dormancy_months: int | None = None, value_drop_pct: float | None = None,
                    value_window_months: int | None = None, partial_drop: int | None = None) -> pd.DataFrame:
    """One row per customer with a monthly row: entry, exit, duration, event and covariates (see module doc).

    `last_month` is the month index of the data end. The churn keywords are those of params.yaml
    `features.churn` (pass them all with `**params["churn"]`); lifetimes support the definitions closure and
    dormancy (ValueError otherwise), and read only `dormancy_months` of the thresholds. A censored customer
    whose rows stop before the end of follow-up is counted and logged (the contract says rows run to the
    data end).
    """
    if definition not in DEFINITIONS:
        raise ValueError(f"features.churn.definition={definition!r}: lifetimes support {list(DEFINITIONS)} only "
                         f"(value and partial churn compare each month with a cutoff month, which a lifetime "
                         f"does not have)")
    sql = as_sql(con)
    sql.create("spine", SPINE_SQL)
    spine = sql.query("SELECT * FROM spine ORDER BY customer_id")
    end = last_month
    if definition == "dormancy":
        spine, end = dormancy_events(con, spine, last_month=last_month, dormancy_months=dormancy_months)
    event = spine["churn_m"].notna()
    exit_m = spine["churn_m"].where(event, spine["last_row_m"].clip(upper=end)).astype("int64")
    early = int((~event & (spine["last_row_m"] < end)).sum())
    if early:
        log.warning("%d censored customer(s) have no row at the end of follow-up; censored at their last row",
                    early)
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
    sql.register("lifetime_asof", asof)
    for prefix, column in (("entry_", "entry_t"), ("last_", "last_t")):
        sql.create("covariate_months",
                   f"SELECT customer_id, {column} AS t FROM lifetime_asof WHERE {column} IS NOT NULL")
        covariates = point_in_time_features(sql, "covariate_months").drop(columns="t")
        covariates = covariates.rename(columns={f: prefix + f for f in FEATURES})
        lifetimes = lifetimes.merge(covariates, on="customer_id", how="left", validate="one_to_one")
        for flag in FLAGS:  # a customer without covariates has missing flags, not False
            lifetimes[prefix + flag] = lifetimes[prefix + flag].astype("boolean")
    sql.unregister("lifetime_asof")
    return lifetimes
