"""The point-in-time snapshot at one cutoff: who is active, their indicators and their churn labels.

The features stage builds every cutoff's snapshot with this SQL; the monitor stage rebuilds the monthly ones with
the same code, so what is monitored is exactly what was trained on. A customer is active at month index t when
there is a monthly row at t and no churn event at or before t. `con` is DuckDB or a `churnlab.core.engine`
engine (DuckDB or Spark): the SQL is the same text on both.
"""

import duckdb
import pandas as pd

from churnlab.contract.indicators import FEATURES, point_in_time_features
from churnlab.contract.labels import DEFINITIONS, churn_labels
from churnlab.contract.tables import month_end
from churnlab.core.engine import Sql, as_sql

ACTIVE_SQL = """
SELECT x.customer_id, {t} AS t
FROM monthly AS x LEFT JOIN churn_events AS e USING (customer_id)
WHERE x.m = {t} AND (e.churn_m IS NULL OR e.churn_m > {t})
"""


def snapshot_at(con: duckdb.DuckDBPyConnection | Sql, t: int, *, last_month: int, horizon_months: int,
                definition: str, **churn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The snapshot at cutoff month index t, and the labels of all four definitions for the same rows."""
    if definition not in DEFINITIONS:
        raise ValueError(f"features.churn.definition={definition!r} is not one of {DEFINITIONS}")
    as_sql(con).create("active", ACTIVE_SQL.format(t=int(t)))
    features = point_in_time_features(con, "active")
    labels = churn_labels(con, "active", t=t, last_month=last_month, horizon_months=horizon_months, **churn)
    if not labels["customer_id"].equals(features["customer_id"]):  # both are sorted by customer_id
        raise RuntimeError(f"features and labels at cutoff {month_end(t).date()} cover different customers")
    snapshot = pd.DataFrame({
        "customer_id": features["customer_id"],
        "cutoff": pd.Series(month_end(t), index=features.index).astype("datetime64[ns]"),
        "label": labels[definition].array,
        "labeled": labels[definition].notna().to_numpy(),
        **{column: features[column] for column in FEATURES},
    })
    return snapshot, labels
