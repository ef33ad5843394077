"""Rows per PSI / CSI bin in one SQL aggregation: a hand-worked example, and the same counts (and so the same PSI)
from numpy (`Binning.counts`), DuckDB and Spark for any partitioning: values on the edges, missing values (NULL
and NaN), infinities, a column of few distinct values, categories with unseen levels, booleans; the errors."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.engine import DuckDBSql, SparkSql
from churnlab.monitor.bin_counts import bin_count_sql, bin_counts, frame_bin_counts
from churnlab.monitor.drift import Binning, fit_binning, psi_from_counts

# The worked example of churnlab.monitor.drift, with values on both edges, a missing value and the infinities
EDGES = Binning(edges=(1.5, 2.5))
VALUES = pd.Series([1.0, 1.5, 1.5, 2.0, 2.5, 3.0, np.nan, -np.inf, np.inf, 2.5000000000000004])

# Quotes and backslashes in levels (Spark reads a backslash in a literal as an escape); an infinite edge
AWKWARD = pd.DataFrame({"t": ["it's", "a\\b", "x", None], "x": [1.0, np.inf, 2.0, -np.inf]})
ODD = {"t": Binning(levels=("a\\b", "it's")), "x": Binning(edges=(1.0, np.inf))}


def monitored(n: int, seed: int) -> pd.DataFrame:
    """Columns of every kind the monitor bins: a skewed amount, a score, a column of three values (its deciles
    collapse), an integer count, a category, a flag, each with missing values."""
    rng = np.random.default_rng(seed)
    gone = rng.random(n) < 0.05
    frame = pd.DataFrame({
        "balance": np.round(rng.lognormal(7, 1.5, n), 2),
        "p_churn": rng.beta(1, 9, n),
        "n_products": rng.choice([1.0, 2.0, 3.0], n, p=[0.75, 0.2, 0.05]),
        "complaints": rng.poisson(0.4, n),
        "segment": pd.Series(rng.choice(["mass", "affluent", "private"], n), dtype="category"),
        "payroll": pd.Series(rng.random(n) < 0.3, dtype=object),
    })
    for column in ("balance", "p_churn", "n_products", "segment", "payroll"):
        frame[column] = frame[column].where(~gone | (rng.random(n) < 0.5))
    return frame


def binnings_of(reference: pd.DataFrame) -> dict[str, Binning]:
    return {column: fit_binning(reference[column], bins=10) for column in reference}


def numpy_counts(frame: pd.DataFrame, binnings: dict[str, Binning]) -> dict[str, np.ndarray]:
    return {column: binning.counts(frame[column]) for column, binning in binnings.items()}


def assert_same_counts(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for column in expected:
        assert got[column].dtype == np.int64, column
        np.testing.assert_array_equal(got[column], expected[column], err_msg=column)


def test_the_counts_of_the_worked_example_with_values_on_the_edges():
    """Bins (-inf, 1.5], (1.5, 2.5], (2.5, inf), missing: 1.0, 1.5, 1.5, -inf | 2.0, 2.5 | 3.0, inf, and the
    double just above 2.5 | NaN."""
    expected = [4, 2, 3, 1]
    assert list(EDGES.counts(VALUES)) == expected
    duck = frame_bin_counts(DuckDBSql(), pd.DataFrame({"x": VALUES}), {"x": EDGES})
    assert duck["x"].tolist() == expected


def test_duckdb_counts_equal_numpy_counts_on_every_kind_of_column():
    reference, current = monitored(3000, seed=1), monitored(700, seed=2)
    binnings = binnings_of(reference)
    assert binnings["n_products"].edges == (1.0, 2.0)  # deciles 1,...,1,2,2,3 collapse to two edges
    assert binnings["payroll"].levels == ("False", "True")
    current["segment"] = current["segment"].astype(object)  # text, not a category: it may hold any level
    current.loc[:4, "segment"] = "student"  # a level the reference never saw
    sql = DuckDBSql()
    for frame in (reference, current):
        assert_same_counts(frame_bin_counts(sql, frame, binnings), numpy_counts(frame, binnings))
    counts = frame_bin_counts(sql, current, binnings)
    assert counts["segment"][3] == 5  # levels affluent, mass, private, then unseen
    for per_query in (1, 4):  # the columns counted a few at a time: the same counts
        assert_same_counts(frame_bin_counts(sql, current, binnings, columns_per_query=per_query), counts)
    reference_counts = numpy_counts(reference, binnings)
    for column in binnings:
        assert psi_from_counts(reference_counts[column], counts[column]) == \
            psi_from_counts(reference_counts[column], binnings[column].counts(current[column]))


def test_nan_is_missing_as_null_is():
    """A NaN stored in a DOUBLE column (not NULL: a Parquet file can hold one) is counted as missing."""
    sql = DuckDBSql()
    sql.create("stored", "SELECT CAST(x AS DOUBLE) AS x FROM (VALUES ('1.0'), ('NaN'), ('3.0'), (NULL)) AS v(x)")
    assert bin_counts(sql, "stored", {"x": EDGES})["x"].tolist() == [1, 0, 1, 2]


def test_an_empty_table_has_no_row_in_any_bin():
    frame = monitored(10, seed=3).iloc[:0]
    binnings = binnings_of(monitored(200, seed=4))
    assert_same_counts(frame_bin_counts(DuckDBSql(), frame, binnings), numpy_counts(frame, binnings))


def test_a_column_without_any_value_is_all_missing():
    """An all-None column has no type (DuckDB's NULL, Spark's void): every row is missing, whatever the bins."""
    frame = pd.DataFrame({"payroll": [None] * 3, "balance": [None] * 3})
    binnings = {"payroll": Binning(levels=("False", "True")), "balance": EDGES}
    counts = frame_bin_counts(DuckDBSql(), frame, binnings)
    assert counts["payroll"].tolist() == [0, 0, 0, 3] and counts["balance"].tolist() == [0, 0, 0, 3]
    assert_same_counts(counts, numpy_counts(frame, binnings))


def test_the_sql_compares_values_and_edges_as_the_same_doubles():
    """Each edge is the text that reads back as the same double (repr), cast to DOUBLE, not a DECIMAL literal."""
    text = bin_count_sql("t", {"x": Binning(edges=(0.1, 1e20))}, {"x": "DOUBLE"})
    assert "CAST('0.1' AS DOUBLE)" in text and "CAST('1e+20' AS DOUBLE)" in text
    frame = pd.DataFrame({"x": [0.1, 0.1 + 1e-18, np.nextafter(0.1, 1), 1e20, 1e21]})
    counts = frame_bin_counts(DuckDBSql(), frame, {"x": Binning(edges=(0.1, 1e20))})
    assert counts["x"].tolist() == Binning(edges=(0.1, 1e20)).counts(frame["x"]).tolist() == [2, 2, 1, 0]


def test_levels_with_quotes_and_backslashes_and_an_infinite_edge():
    counts = frame_bin_counts(DuckDBSql(), AWKWARD, ODD)
    assert counts["t"].tolist() == [1, 1, 1, 1] and counts["x"].tolist() == [2, 2, 0, 0]
    assert_same_counts(counts, numpy_counts(AWKWARD, ODD))


def test_errors_name_the_column():
    sql = DuckDBSql()
    sql.register("rows", pd.DataFrame({"amount": [1.0, 2.0], "region": ["north", "south"]}))
    with pytest.raises(KeyError, match=r"rows has no column\(s\) \['age'\]"):
        bin_counts(sql, "rows", {"age": EDGES})
    with pytest.raises(ValueError, match="amount: binned by levels .* of type DOUBLE; levels need a text"):
        bin_counts(sql, "rows", {"amount": Binning(levels=("1.0", "2.0"))})
    with pytest.raises(ValueError, match="region: binned by numeric edges but of type VARCHAR"):
        bin_counts(sql, "rows", {"region": EDGES})
    with pytest.raises(ValueError, match="columns_per_query must be at least 1, got 0"):
        bin_counts(sql, "rows", {"amount": EDGES}, columns_per_query=0)


@pytest.mark.slow
def test_spark_counts_equal_duckdb_and_numpy_counts_for_any_partitioning(any_spark):
    """On the classic session and over Spark Connect: the same SQL text, the numpy counts."""
    reference, current = monitored(3000, seed=5), monitored(900, seed=6)
    binnings = binnings_of(reference)
    expected = numpy_counts(current, binnings)
    assert_same_counts(frame_bin_counts(DuckDBSql(), current, binnings), expected)
    on_spark = SparkSql(any_spark)
    assert_same_counts(frame_bin_counts(on_spark, current, binnings), expected)
    on_spark.register("current", current)
    for partitions, per_query in ((1, 8), (5, 2)):
        any_spark.table("current").repartition(partitions).createOrReplaceTempView("split_rows")
        assert_same_counts(bin_counts(on_spark, "split_rows", binnings, columns_per_query=per_query), expected)
    worked = frame_bin_counts(on_spark, pd.DataFrame({"x": VALUES}), {"x": EDGES})
    assert worked["x"].tolist() == [4, 2, 3, 1]
    empty = frame_bin_counts(on_spark, pd.DataFrame({"payroll": [None] * 3}), {"payroll": binnings["payroll"]})
    assert empty["payroll"].tolist() == [0, 0, 0, 3]
    assert_same_counts(frame_bin_counts(on_spark, AWKWARD, ODD), numpy_counts(AWKWARD, ODD))


@pytest.mark.slow
def test_spark_counts_a_stored_nan_as_missing(any_spark):
    on_spark = SparkSql(any_spark)
    any_spark.createDataFrame([(1.0,), (float("nan"),), (3.0,), (None,)], "x double").createOrReplaceTempView("stored")
    assert bin_counts(on_spark, "stored", {"x": EDGES})["x"].tolist() == [1, 0, 1, 2]
