"""The snapshots built and written by Spark into the lake (`engine.spark.lake`), never collected to the driver.

Each cutoff's rows are `churnlab.contract.spark_snapshots.snapshot_frame`'s (`snapshot_at`'s rows and types,
built by Spark), the categorical indicators read back as categories (`snapshot_schema`). The cutoffs' frames are
unioned and written in one Spark job,
partitioned by cutoff (`core.lake_spark.write_lake`); the label counts of `features.json` come from one more
small aggregate over the label SQL (one row per cutoff).
"""

import logging
from pathlib import Path

import pyarrow as pa

from churnlab.contract.indicators import CATEGORICAL, FEATURES, FLAGS
from churnlab.contract.labels import DEFINITIONS
from churnlab.contract.spark_snapshots import snapshot_frame
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
