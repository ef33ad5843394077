"""Rows per PSI / CSI bin of many columns in SQL aggregations, on either engine (DuckDB or Spark).

`Binning.counts` (`churnlab.monitor.drift`) counts one column of a pandas frame in numpy. Here the same counts are
SELECTs of sums over a table, so a month of any size is counted where it lies, by DuckDB or by Spark (the
text is DuckDB's dialect, transpiled for Spark by `SparkSql`, as the features SQL is). The bins are those numpy
uses, fixed on the reference on the driver by `fit_binning`:

- numeric edges e_1 < ... < e_k are right-closed: bin 0 is (-inf, e_1], bin i is (e_i, e_i+1], bin k is
  (e_k, inf) (+inf included), then missing (NULL or NaN). The SQL counts, for each edge, the rows with x <= e_j
  (NULL and NaN never are, on either engine); the bins are the differences. Edges and values are compared as
  doubles: each edge is written as the shortest text that reads back as the same double (`repr`), and every
  value is cast to DOUBLE as numpy casts it to float;
- levels are the values' text (a boolean's "True" / "False", as Python writes it); then unseen levels, then
  missing (NULL). Only text, categorical and boolean columns can have levels: a number's text differs between
  Python and SQL (1.0 against 1), so a numeric column binned by levels is an error.

The counts are integers, so they are the same on DuckDB, on Spark for any partitioning, and in numpy.

The monitor stage on Spark counts every month here, where the month lies, scored by the champion's Spark UDF
(`churnlab.monitor.spark_months`); the local engine counts its pandas months in numpy (`stability.sample_month`).

The columns are counted `COLUMNS_PER_QUERY` at a time, one aggregation each. A single aggregation of 40 columns
(~400 sums) was 2-4 times slower on Spark local[2] than five of 8 columns each (1,000,000 rows, read from Parquet
or handed over from pandas: `benchmarks/bench_monitor.py`); Spark reads only the columns each query names.
"""

import numpy as np
import pandas as pd

from churnlab.core.engine import Sql
from churnlab.monitor.drift import Binning

TABLE = "monitored_rows"
TEXT_TYPES = ("VARCHAR", "ENUM")  # DuckDB's names (SparkSql.columns translates Spark's); ENUM: a pandas category
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
NO_TYPE = '"NULL"'  # the type of a column of missing values only (an all-None pandas column; Spark's void)
COLUMNS_PER_QUERY = 8  # Spark compiles ~80 sums into code the JVM runs fast; ~400 in one query ran 2-4x slower


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double(value: float) -> str:
    return f"CAST({_text(repr(float(value)))} AS DOUBLE)"


def _count(condition: str, alias: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS {alias}"


def column_sums(index: int, column: str, binning: Binning, kind: str) -> list[str]:
    """The SELECT terms of one column (`kind`: its DuckDB type name): missing, then x <= edge or x = level."""
    name = _quoted(column)
    if kind == NO_TYPE:  # every value missing (an empty frame's text column, a month without the column's data)
        bins = binning.levels if binning.levels is not None else binning.edges
        return [f"COUNT(*) AS c{index}_missing", *(f"0 AS c{index}_{j}" for j in range(len(bins)))]
    if binning.levels is not None:
        if kind == "BOOLEAN":
            text = f"CASE WHEN {name} THEN 'True' WHEN NOT {name} THEN 'False' END"
        elif kind.startswith(TEXT_TYPES):
            text = f"CAST({name} AS VARCHAR)"
        else:
            raise ValueError(f"{column}: binned by levels {binning.levels[:3]}... but of type {kind}; levels need "
                             "a text, categorical or boolean column")
        terms = [_count(f"{text} = {_text(level)}", f"c{index}_{j}") for j, level in enumerate(binning.levels)]
    else:
        if kind in ("BOOLEAN",) or kind.startswith(TEXT_TYPES):
            raise ValueError(f"{column}: binned by numeric edges but of type {kind}")
        terms = [_count(f"CAST({name} AS DOUBLE) <= {_double(edge)}", f"c{index}_{j}")
                 for j, edge in enumerate(binning.edges)]
    missing = f"{name} IS NULL" + (f" OR isnan({name})" if kind in FLOAT_TYPES else "")
    return [_count(missing, f"c{index}_missing"), *terms]


def bin_count_sql(table: str, binnings: dict[str, Binning], kinds: dict[str, str]) -> str:
    """One SELECT counting every column of `binnings` in `table` (`kinds`: column -> DuckDB type name)."""
    terms = ["COUNT(*) AS n_rows"]
    for index, (column, binning) in enumerate(binnings.items()):
        terms += column_sums(index, column, binning, kinds[column])
    return "SELECT " + ",\n       ".join(terms) + f"\nFROM {table}"


def bin_counts(sql: Sql, table: str, binnings: dict[str, Binning], *,
               columns_per_query: int = COLUMNS_PER_QUERY) -> dict[str, np.ndarray]:
    """Rows per bin of each column of `binnings` in `table`, counted by the engine `sql`, `columns_per_query`
    columns an aggregation: for each column the int64 array `Binning.counts` gives (bins in its order: the numeric
    bins or the levels and unseen, then missing). KeyError names a column `table` lacks."""
    kinds = sql.columns(table)
    if absent := [c for c in binnings if c not in kinds]:
        raise KeyError(f"{table} has no column(s) {absent} to count")
    if columns_per_query < 1:
        raise ValueError(f"columns_per_query must be at least 1, got {columns_per_query}")
    items = list(binnings.items())
    counts = {}
    for start in range(0, len(items), columns_per_query):
        part = dict(items[start:start + columns_per_query])
        counts |= _read_counts(sql.query(bin_count_sql(table, part, kinds)).iloc[0], part)
    return counts


def _read_counts(row: pd.Series, binnings: dict[str, Binning]) -> dict[str, np.ndarray]:
    """The bins of each column from the one row of `bin_count_sql` (cumulative counts below each edge, matches of
    each level, missing)."""
    rows = int(row["n_rows"])
    counts = {}
    for index, (column, binning) in enumerate(binnings.items()):
        missing = _int(row[f"c{index}_missing"])
        if binning.levels is not None:
            seen = [_int(row[f"c{index}_{j}"]) for j in range(len(binning.levels))]
            counts[column] = np.array([*seen, rows - missing - sum(seen), missing], dtype=np.int64)
        else:
            below = [0, *(_int(row[f"c{index}_{j}"]) for j in range(len(binning.edges))), rows - missing]
            counts[column] = np.array([*np.diff(below), missing], dtype=np.int64)
    return counts


def frame_bin_counts(sql: Sql, frame: pd.DataFrame, binnings: dict[str, Binning], *, table: str = TABLE,
                     columns_per_query: int = COLUMNS_PER_QUERY) -> dict[str, np.ndarray]:
    """`bin_counts` of the pandas frame `frame`, handed to the engine as `table` (only the binned columns) for the
    count and dropped after it."""
    sql.register(table, frame[list(binnings)])
    try:
        return bin_counts(sql, table, binnings, columns_per_query=columns_per_query)
    finally:
        sql.unregister(table)


def _int(value) -> int:
    return 0 if pd.isna(value) else int(value)  # SUM over no rows is NULL
