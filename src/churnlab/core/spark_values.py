"""Exact order statistics on Spark from value counts: each numeric column's distinct values and their rows.

Spark's own `percentile` interpolates in its own arithmetic and `percentile_approx` is approximate, so a statistic
that must equal numpy's double is found in the column's value counts instead: one Spark aggregation counts the rows
of every (feature, value), and a task per feature walks its counts in value order to the sorted positions numpy
would read (`monitor.spark_reference` for the monitor's decile edges; `medians_on_spark` here). Only the values at
those positions are used, so the answer is one of the column's own doubles, or numpy's mean of two of them.
"""

import numpy as np
import pandas as pd

MEDIAN_SCHEMA = "feature string, median double"
NUMERIC_TYPES = ("tinyint", "smallint", "int", "bigint", "float", "double")  # and decimal(p,s): see numeric_columns


def feature_values(frame, features: list[str]):
    """(feature, value): every non-missing value (not NULL, not NaN) of each of `features` in the Spark `frame`, as
    a double, one row each."""
    from pyspark.sql import functions as F

    pairs = F.explode(F.array(*[F.struct(F.lit(f).alias("feature"), F.col(f"`{f}`").cast("double").alias("value"))
                                for f in features]))
    values = frame.select(pairs.alias("pair")).select("pair.feature", "pair.value")
    return values.where(F.col("value").isNotNull() & ~F.isnan("value"))


def value_counts(frame, features: list[str], *, name: str):
    """(feature, value, `name`): the rows of each value of `feature_values`. Spark's grouping makes -0.0 and 0.0 one
    value, as numpy's comparisons do."""
    from pyspark.sql import functions as F

    return feature_values(frame, features).groupBy("feature", "value").agg(F.count(F.lit(1)).alias(name))


def value_at(values: np.ndarray, counts: np.ndarray, positions) -> np.ndarray:
    """The values at sorted `positions` (0-based) of a column given as its distinct `values` (ascending) and the
    rows of each (`counts`)."""
    cumulative = np.cumsum(np.asarray(counts, dtype=np.int64))
    return np.asarray(values, dtype=float)[np.searchsorted(cumulative, positions, side="right")]


def median_from_counts(values: np.ndarray, counts: np.ndarray) -> float:
    """numpy's (and pandas') median of a column given as its distinct non-missing `values` (ascending) and their
    rows `counts`: the mean of the values at sorted positions (n - 1) // 2 and n // 2, by `np.mean` as `np.median`
    takes it; NaN without values."""
    n = int(np.sum(counts))
    if n == 0:
        return float("nan")
    return float(np.mean(value_at(values, counts, [(n - 1) // 2, n // 2])))


def numeric_columns(frame, columns: list[str]) -> list[str]:
    """Those of `columns` that Spark holds as numbers (not boolean, text or dates), in their order."""
    types = dict(frame.dtypes)
    return [c for c in columns if types[c] in NUMERIC_TYPES or types[c].startswith("decimal")]


def medians_on_spark(frame, features: list[str]) -> pd.Series:
    """The median of each numeric one of `features` (`numeric_columns`) over the rows of the Spark `frame`, missing
    values left out, as pandas' `DataFrame.median` gives it (NaN for a column without values): one aggregation, then
    one Spark task a feature."""

    def median(rows: pd.DataFrame) -> pd.DataFrame:
        ordered = rows.sort_values("value")
        found = median_from_counts(ordered["value"].to_numpy(float), ordered["rows"].to_numpy(np.int64))
        return pd.DataFrame({"feature": [rows["feature"].iloc[0]], "median": [found]})

    numeric = numeric_columns(frame, features)
    if not numeric:
        return pd.Series(dtype=float)
    per_feature = value_counts(frame, numeric, name="rows").groupBy("feature").applyInPandas(median, MEDIAN_SCHEMA)
    found = {r["feature"]: r["median"] for r in per_feature.collect()}
    return pd.Series([found.get(f, np.nan) for f in numeric], index=numeric, dtype=float)
