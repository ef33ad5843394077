"""The snapshots built and written by Spark into the lake (`engine.spark.lake`), never collected to the driver.

The same rows as `churnlab.contract.snapshots.snapshot_at` on either engine (the same SQL texts: `feature_sql` and
`label_sql`, transpiled), with the labels and types of the local snapshots set in Spark instead of pandas: the
categorical indicators as text (read back as categories, `SNAPSHOT_SCHEMA`), the flags as booleans (a missing flag
is False), every other indicator as a double. The cutoffs' frames are unioned and written in one Spark job,
partitioned by cutoff (`core.lake_spark.write_lake`); the label counts of `features.json` come from one more
small aggregate over the label SQL (one row per cutoff).
"""

import logging
from pathlib import Path

import pyarrow as pa

from churnlab.contract.indicators import CATEGORICAL, FEATURES, FLAGS, feature_sql
from churnlab.contract.labels import DEFINITIONS, label_sql
from churnlab.contract.snapshots import ACTIVE_SQL
from churnlab.contract.tables import month_end
from churnlab.core.engine import SparkSql
from churnlab.core.lake import Manifest
from churnlab.core.lake_spark import write_lake

log = logging.getLogger(__name__)

LAKE_NAME = "snapshots"  # <lake>/snapshots/<version>/cutoff=YYYY-MM-DD/
ORDER = ("cutoff", "customer_id")  # the rows' order on reading: the local engine's (its SQL orders by customer_id)


def snapshot_schema() -> pa.Schema:
    """The Arrow types of the snapshot columns, as the local engine writes them and as readers get them."""
    def kind(feature: str) -> pa.DataType:
        if feature in CATEGORICAL:
            return pa.dictionary(pa.int32(), pa.string())
        return pa.bool_() if feature in FLAGS else pa.float64()

    return pa.schema([("customer_id", pa.string()), ("cutoff", pa.timestamp("ns")), ("label", pa.int8()),
                      ("labeled", pa.bool_()), *((f, kind(f)) for f in FEATURES)])


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


def label_counts(labels) -> dict[int, dict]:
    """Per cutoff month index `t`: rows, churners (label 1) and unlabeled rows (NULL) of each definition, from a
    DataFrame of labels with a column `t`; one small aggregate."""
    from pyspark.sql import functions as F

    rows = labels.groupBy("t").agg(
        F.count(F.lit(1)).alias("rows"),
        *(F.sum(F.coalesce(F.col(d).cast("int"), F.lit(0))).alias(f"{d}_positives") for d in DEFINITIONS),
        *(F.sum(F.col(d).isNull().cast("int")).alias(f"{d}_unlabeled") for d in DEFINITIONS)).collect()
    return {int(r["t"]): {"rows": int(r["rows"]), "positives": {d: int(r[f"{d}_positives"]) for d in DEFINITIONS},
                          "unlabeled": {d: int(r[f"{d}_unlabeled"]) for d in DEFINITIONS}} for r in rows}


def write_lake_snapshots(sql: SparkSql, months: list[int], *, last_month: int, horizon_months: int, churn: dict,
                         lake: str, manifest: Path) -> tuple[Manifest, dict[int, dict]]:
    """Every cutoff's snapshot written to `<lake>/snapshots/<version>/` in one Spark job, the manifest at
    `manifest`; returns it and the label counts of each cutoff (`label_counts`). `churn` is `features.churn`."""
    from pyspark.sql import functions as F

    snapshots = labels = None
    for t in months:
        snapshot, labeled = snapshot_frame(sql, t, last_month=last_month, horizon_months=horizon_months, **churn)
        labeled = labeled.withColumn("t", F.lit(int(t)))
        snapshots = snapshot if snapshots is None else snapshots.unionByName(snapshot)
        labels = labeled if labels is None else labels.unionByName(labeled)
    log.info("writing the snapshots of %d cutoffs to the lake %s", len(months), lake)
    written = write_lake(snapshots, lake=lake, name=LAKE_NAME, manifest=manifest, schema=snapshot_schema(),
                         order=ORDER)
    return written, label_counts(labels)
