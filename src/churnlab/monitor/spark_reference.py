"""The training reference on Spark: its bins fixed and counted where its rows lie, never collected whole.

With `engine.name: spark` the monitor stage profiles the reference (the training cutoffs' snapshot rows, read by
Spark from the snapshots' file or lake) on Spark, as `stability.fit_reference` does on the driver:

- the champion's churn probability: `mlflow.pyfunc.spark_udf` (`SparkScorer.score`), as for every month;
- the levels of each text, categorical or boolean column (`level_values`): the distinct non-missing values' text
  (a boolean's "True" / "False"), sorted on the driver as `drift.fit_binning` sorts them;
- the edges of each numeric column and of the score (`decile_edges`): `fit_binning` takes the values at sorted
  positions floor((n - 1) q), q = 1/bins .. (bins-1)/bins (numpy's `quantile(method="lower")`), of the n
  non-missing values. Here the same positions are found in the column's value counts (`core.spark_values`),
  one `applyInPandas` task per column, so every edge is one of the column's own doubles, the same one;
- the rows per bin: `monitor.bin_counts`, as for each month;
- the numeric features' value counts are kept (persisted) for every month's KS test.

Only (cutoff, customer_id, p_churn, label) of each reference row come to the driver, in the local reference's order
(cutoff, then customer_id): the label-free backtest's history, the reference AUC, grade shares, mean score and
churn rate are taken from them in pandas, as on the local engine.

Same answers: the levels are the same strings, the edges the same doubles, the counts the same integers. One
difference in principle: Spark groups -0.0 with 0.0 and keeps 0.0, where numpy could pick -0.0 as an edge; the bins
are the same (-0.0 == 0.0), only the edge's label would read "-0" on the local engine.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from churnlab.core.engine import SparkSql
from churnlab.core.spark_values import value_at, value_counts
from churnlab.monitor.bin_counts import bin_counts
from churnlab.monitor.drift import Binning
from churnlab.monitor.months import Layout
from churnlab.monitor.stability import SCORE, Reference

VIEW = "monitor_reference"  # the scored reference, as a temporary view for the bin-count SQL
LEVEL_TYPES = ("string", "boolean", "void")  # Spark's simple type names binned by levels, as pandas' text, category,
# boolean and all-missing object columns are by `fit_binning`
EDGES_SCHEMA = "feature string, edge double"


def lower_ranks(n: int, bins: int) -> np.ndarray:
    """The sorted positions (0-based) of the values `fit_binning` takes as edges of n values:
    floor((n - 1) q) for q = 1/bins .. (bins-1)/bins, numpy's `quantile(method="lower")` in its own arithmetic."""
    return np.floor((n - 1) * (np.arange(1, bins) / bins)).astype(np.int64)


def edges_from_counts(values: np.ndarray, counts: np.ndarray, *, bins: int) -> tuple[float, ...]:
    """`fit_binning`'s edges of a numeric column given as its distinct non-missing `values` (ascending) and the rows
    of each (`counts`): the value at each `lower_ranks` position, duplicates dropped; () without values."""
    if len(values) == 0:
        return ()
    return tuple(np.unique(value_at(values, counts, lower_ranks(int(np.sum(counts)), bins))))


def decile_edges(counts, *, bins: int) -> dict[str, tuple[float, ...]]:
    """`edges_from_counts` of every feature of the Spark `value_counts` frame `counts` (feature, value, ref), one
    Spark task a feature; a feature without values is absent (its edges are ())."""

    def edges(rows: pd.DataFrame) -> pd.DataFrame:
        ordered = rows.groupby("value", sort=True)["ref"].sum()
        found = edges_from_counts(ordered.index.to_numpy(float), ordered.to_numpy(np.int64), bins=bins)
        return pd.DataFrame({"feature": rows["feature"].iloc[0], "edge": list(found)}, columns=["feature", "edge"])

    found: dict[str, list[float]] = {}
    for row in counts.groupBy("feature").applyInPandas(edges, schema=EDGES_SCHEMA).collect():
        found.setdefault(row["feature"], []).append(row["edge"])
    return {feature: tuple(sorted(values)) for feature, values in found.items()}


def level_values(frame, columns: list[str]) -> dict[str, tuple[str, ...]]:
    """The levels `fit_binning` takes of each of `columns` (text, boolean or all-missing) of the Spark `frame`: the
    sorted text of its distinct non-missing values, a boolean's as Python writes it ("True", "False")."""
    from pyspark.sql import functions as F

    if not columns:
        return {}
    types = dict(frame.dtypes)

    def text(column: str):
        value = F.col(f"`{column}`")
        return F.when(value, "True").when(~value, "False") if types[column] == "boolean" else value.cast("string")

    pairs = F.explode(F.array(*[F.struct(F.lit(c).alias("column"), text(c).alias("level")) for c in columns]))
    rows = frame.select(pairs.alias("pair")).select("pair.column", "pair.level").where(F.col("level").isNotNull())
    levels: dict[str, list[str]] = {c: [] for c in columns}
    for row in rows.distinct().collect():
        levels[row["column"]].append(row["level"])
    return {c: tuple(sorted(found)) for c, found in levels.items()}


@dataclass
class SparkReference:
    """The reference profiled on Spark: `profile` (its `numeric` values stay on Spark: None each), `rows` its
    (cutoff, customer_id, p_churn, label) in the local order, and `value_counts` the numeric features' persisted
    value counts (feature, value, ref) for the months' KS tests. `close()` releases them."""

    profile: Reference
    rows: pd.DataFrame
    value_counts: Any

    def close(self) -> None:
        self.value_counts.unpersist()


def fit_on_spark(sql: SparkSql, rows, *, score, layout: Layout, bins: int) -> SparkReference:
    """The `SparkReference` of the Spark DataFrame `rows` (the training cutoffs' snapshot rows), scored by `score`
    (`SparkScorer.score`), with `bins` bins at most per numeric column (see the module docstring)."""
    scored = score(rows).persist()  # scored once: read by the counts, the levels and the rows below
    ks_counts = None
    try:
        profiled = [SCORE, *[f for f, g in layout.groups.items() if g != "market"]]
        types = dict(scored.dtypes)
        by_levels = [c for c in profiled if types[c] in LEVEL_TYPES]
        ks_features = [f for f in layout.numeric if f in types]
        other_numeric = [c for c in profiled if c not in by_levels and c not in ks_features]  # the score, at least
        ks_counts = value_counts(scored, ks_features, name="ref").persist()  # kept for every month's KS test
        edges = decile_edges(ks_counts.unionByName(value_counts(scored, other_numeric, name="ref")), bins=bins)
        levels = level_values(scored, by_levels)
        binnings = {c: Binning(levels=levels[c]) if c in levels else Binning(edges=edges.get(c, ()))
                    for c in profiled}
        scored.createOrReplaceTempView(VIEW)
        try:
            per_bin = bin_counts(sql, VIEW, binnings)
        finally:
            sql.spark.catalog.dropTempView(VIEW)
        collected = scored.select("cutoff", "customer_id", SCORE, "label").toPandas()
    except BaseException:
        if ks_counts is not None:
            ks_counts.unpersist()
        raise
    finally:
        scored.unpersist()
    collected = collected.assign(cutoff=pd.to_datetime(collected["cutoff"]).astype("datetime64[ns]"))
    collected = collected.sort_values(["cutoff", "customer_id"], ignore_index=True).astype(
        {"label": "Int8", SCORE: float})
    market = {f: layout.market_history[f].to_numpy(float) for f, g in layout.groups.items() if g == "market"}
    profile = Reference(len(collected), binnings, per_bin, dict.fromkeys(ks_features), market, dict(layout.groups))
    return SparkReference(profile, collected, ks_counts)
