"""The point-in-time snapshot at one cutoff as a Spark DataFrame, never collected to the driver.

The same rows as `churnlab.contract.snapshots.snapshot_at` on either engine (the same SQL texts: `feature_sql` and
`label_sql`, transpiled), with the labels and types of the local snapshots set in Spark instead of pandas: the
categorical indicators as text, the flags as booleans (a missing flag is False), every other indicator as a double.
The features stage writes these rows into the lake; the monitor stage scores and counts each month's where it lies.
"""

from churnlab.contract.indicators import CATEGORICAL, FEATURES, FLAGS, feature_sql
from churnlab.contract.labels import DEFINITIONS, label_sql
from churnlab.contract.snapshots import ACTIVE_SQL
from churnlab.contract.tables import month_end
from churnlab.core.engine import SparkSql


def label_expressions(*, observed: bool) -> dict[str, str]:
    """Spark SQL of each definition's label from the event flags, as `contract.labels.label_events`: a closure
    counts for every definition, and a non-event is 0 only when the whole horizon is observed (else NULL)."""
    stayed = "0" if observed else "NULL"
    return {d: f"CAST(CASE WHEN closure_event OR {d}_event THEN 1 ELSE {stayed} END AS TINYINT)" for d in DEFINITIONS}


def snapshot_frame(sql: SparkSql, t: int, *, last_month: int, horizon_months: int, definition: str, **churn):
    """The Spark DataFrame of the snapshot at cutoff month index t (`snapshot_at`'s rows and columns, the cutoff as
    a date: the partition folders read cutoff=YYYY-MM-DD), and the DataFrame of its four labels."""
    from pyspark.sql import functions as F

    if definition not in DEFINITIONS:
        raise ValueError(f"features.churn.definition={definition!r} is not one of {DEFINITIONS}")
    active = f"active_{int(t)}"
    sql.create(active, ACTIVE_SQL.format(t=int(t)))
    features = sql.frame(feature_sql(active, lo=int(t), hi=int(t))).drop("t")
    events = sql.frame(label_sql(active, t=t, horizon_months=horizon_months, **churn))
    labels = events.select("customer_id", *(F.expr(e).alias(d) for d, e in
                                            label_expressions(observed=t + horizon_months <= last_month).items()))

    def typed(feature: str):
        if feature in CATEGORICAL:
            return F.col(feature).cast("string").alias(feature)
        if feature in FLAGS:
            return F.coalesce(F.col(feature).cast("boolean"), F.lit(False)).alias(feature)
        return F.col(feature).cast("double").alias(feature)

    snapshot = features.join(labels.select("customer_id", definition), "customer_id").select(
        F.col("customer_id").cast("string").alias("customer_id"),
        F.lit(str(month_end(t).date())).cast("date").alias("cutoff"),
        F.col(definition).alias("label"), F.col(definition).isNotNull().alias("labeled"),
        *(typed(f) for f in FEATURES))
    return snapshot, labels
