"""Churn definitions: did a customer active at month-end t churn within (t, t+H] months?

Four definitions, all evaluated on the months t+1..t+H (H = `base.horizon_months`):

- closure: a churn event (any row of `churn_events`, whatever its type) with churn_month in (t, t+H].
- dormancy: k consecutive months with no customer-initiated transaction (`tx_count == 0`), the last of the
  k months inside (t, t+H]. The run may start at or before t (two idle months before t and one after make
  a run of three), and a customer already dormant at t who stays dormant counts. Only months after the
  customer's first own transaction can be idle: an account that has not been used yet (a new account fed
  only by a pension or a transfer, common in the Berka ledger) has not stopped using the bank. A closure
  also counts: a closed account can never show k idle months, and calling a leaver loyal would teach the
  model the opposite of the truth.
- value: the total balance (deposit + investment) is more than x % below its level at t in each of m
  consecutive months, all of them inside (t, t+H]: a sustained move of the money, not a month-end dip.
  A closure also counts. A customer with no balance at t cannot churn by value, only by closure.
- partial: at some month in (t, t+H] the customer holds at least n fewer products than at t. A closure
  also counts.

Observation: the data end at month L. A label is known when t+H <= L, or when the customer has already
churned (by the definition) by L; otherwise the future is not fully observed, the label is missing and
`labeled` is False (the row stays in the snapshots for scoring). Beware: at the late cutoffs
(t+H > L) only positives are labeled, so a model must train on cutoffs with t+H <= L only.
"""

import duckdb
import pandas as pd

from churnlab.core.engine import Sql, as_sql

DEFINITIONS = ("closure", "dormancy", "value", "partial")

LABEL_SQL = """
WITH at_t AS (
    SELECT x.customer_id, x.deposit_balance + x.investment_balance AS balance_t, x.n_products AS products_t
    FROM monthly AS x SEMI JOIN {active} AS a ON a.customer_id = x.customer_id
    WHERE x.m = {t}
),
started AS (  -- the first month with a customer-initiated transaction: idleness counts only after it
    SELECT x.customer_id, min(x.m) AS first_tx_m
    FROM monthly AS x SEMI JOIN {active} AS a ON a.customer_id = x.customer_id
    WHERE x.tx_count > 0
    GROUP BY x.customer_id
),
slice AS (
    SELECT x.customer_id, x.m,
        x.tx_count = 0 AND x.m > coalesce(s.first_tx_m, {t} + {horizon}) AS idle,
        x.m > {t} AND x.deposit_balance + x.investment_balance < (1 - {value_drop_pct} / 100) * b.balance_t AS low,
        x.m > {t} AND x.n_products <= b.products_t - {partial_drop} AS fewer
    FROM monthly AS x JOIN at_t AS b USING (customer_id) LEFT JOIN started AS s USING (customer_id)
    WHERE x.m BETWEEN {t} - {dormancy_months} + 1 AND {t} + {horizon}
),
runs AS (  -- a run ends at month e when every month of the frame ending at e is present and flagged
    SELECT customer_id, m, fewer,
        count(CASE WHEN idle THEN 1 END) OVER idle_frame = {dormancy_months} AS idle_run_ends,
        count(CASE WHEN low THEN 1 END) OVER low_frame = {value_window_months} AS low_run_ends
    FROM slice
    WINDOW idle_frame AS (PARTITION BY customer_id ORDER BY m
                          RANGE BETWEEN {dormancy_months} - 1 PRECEDING AND CURRENT ROW),
           low_frame AS (PARTITION BY customer_id ORDER BY m
                         RANGE BETWEEN {value_window_months} - 1 PRECEDING AND CURRENT ROW)
),
future AS (
    SELECT customer_id,
        bool_or(idle_run_ends AND m > {t}) AS dormancy_event,
        bool_or(low_run_ends) AS value_event,
        bool_or(fewer) AS partial_event
    FROM runs
    GROUP BY customer_id
)
SELECT a.customer_id,
    coalesce(e.churn_m BETWEEN {t} + 1 AND {t} + {horizon}, false) AS closure_event,
    coalesce(f.dormancy_event, false) AS dormancy_event,
    coalesce(f.value_event, false) AS value_event,
    coalesce(f.partial_event, false) AS partial_event
FROM {active} AS a
LEFT JOIN future AS f USING (customer_id)
LEFT JOIN churn_events AS e USING (customer_id)
ORDER BY a.customer_id
"""


def churn_labels(con: duckdb.DuckDBPyConnection | Sql, active: str, *, t: int, last_month: int, horizon_months: int,
                 dormancy_months: int, value_drop_pct: float, value_window_months: int,
                 partial_drop: int) -> pd.DataFrame:
    """One row per customer of the relation `active` (customers active at month index t), sorted by
    customer_id: the label of each definition as a nullable Int8 column (`closure`, `dormancy`, `value`,
    `partial`; 1 churned within (t, t+H], 0 stayed, <NA> future not fully observed: t+H is past `last_month`)."""
    events = as_sql(con).query(label_sql(active, t=t, horizon_months=horizon_months, dormancy_months=dormancy_months,
                                         value_drop_pct=value_drop_pct, value_window_months=value_window_months,
                                         partial_drop=partial_drop))
    return label_events(events, observed=t + horizon_months <= last_month)


def label_sql(active: str, *, t: int, horizon_months: int, dormancy_months: int, value_drop_pct: float,
              value_window_months: int, partial_drop: int) -> str:
    """The SQL (DuckDB's dialect) of each definition's churn event flag (`<definition>_event`, boolean) for the
    customers of `active`, active at month index t; `label_events` turns them into labels."""
    if horizon_months < 1 or dormancy_months < 1 or value_window_months < 1 or partial_drop < 1:
        raise ValueError("horizon_months, dormancy_months, value_window_months and partial_drop must be >= 1")
    if not 0 < value_drop_pct < 100:
        raise ValueError(f"value_drop_pct must be in (0, 100), got {value_drop_pct}")
    return LABEL_SQL.format(
        active=active, t=int(t), horizon=int(horizon_months), dormancy_months=int(dormancy_months),
        value_drop_pct=float(value_drop_pct), value_window_months=int(value_window_months),
        partial_drop=int(partial_drop),
    )


def label_events(events: pd.DataFrame, *, observed: bool) -> pd.DataFrame:
    """Turn the per-definition event flags into labels: closure counts for every definition, and a
    non-event is a 0 only when the whole horizon is observed (else <NA>)."""
    labels = pd.DataFrame({"customer_id": events["customer_id"]})
    closure = events["closure_event"].astype(bool)
    for definition in DEFINITIONS:
        churned = closure | events[f"{definition}_event"].astype(bool)
        label = churned.astype("Int8")
        if not observed:
            label = label.where(churned, pd.NA)
        labels[definition] = label.astype("Int8")
    return labels
