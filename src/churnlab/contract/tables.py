"""The contract tables as DuckDB views with an integer month index, shared by the features stage's modules.

Every window is computed in SQL over these views, so a stage can read Parquet files far larger than memory,
and tests can pass six-row DataFrames instead. The SQL is DuckDB's dialect, run by DuckDB in this process or,
with `engine.name: spark`, transpiled for Spark (`churnlab.core.engine`), so it keeps to what both understand.
Months become an integer index `m = 12 * year + month - 1`, so "t - 3" is plain arithmetic and a missing month is
a gap, not a shifted row. Only the columns the features stage reads are checked here; the full contract is
validated where the tables are written (`churnlab.contract.schema`).
"""

from collections.abc import Mapping
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from churnlab.contract.schema import TABLES, ContractError
from churnlab.core.engine import DuckDBSql, Sql, as_sql

# Tables the features stage reads (campaigns are the evaluation stage's business).
READS = ("customers", "monthly", "market", "churn_events")
DATE_COLUMNS = {"customers": ("open_date",), "monthly": ("month",), "market": ("month",),
                "churn_events": ("churn_month",)}
# Keys must be strings to join; nullable categoricals are cast in SQL (an all-missing column has no type).
STRING_COLUMNS = ("customer_id",)

Source = pd.DataFrame | Path | str


def month_index(column: str) -> str:
    """SQL for the month index of a date column: 12 * year + month - 1 (so 2021-01-31 -> 24252)."""
    return f"(12 * year({column}) + month({column}) - 1)"


def month_number(dates):
    """The month index (12 * year + month - 1) of a date, or of each date in a Series (NaN where missing).

    The pandas twin of the SQL `month_index`; the difference of two is the whole months between them.
    """
    if isinstance(dates, pd.Series):
        return 12 * dates.dt.year + dates.dt.month - 1
    date = pd.Timestamp(dates)
    return 12 * date.year + date.month - 1


def month_end(index: int) -> pd.Timestamp:
    """The month-end date of a month index (the inverse of `month_index`)."""
    return pd.Timestamp(year=index // 12, month=index % 12 + 1, day=1) + pd.offsets.MonthEnd(0)


def check_columns(con: duckdb.DuckDBPyConnection | Sql, name: str, view: str) -> None:
    """Raise ContractError naming the table and column when a required column is absent or mistyped."""
    found = as_sql(con).columns(view)
    required = [f.name for f in TABLES[name][0] if f.required]
    missing = [c for c in required if c not in found]
    if missing:
        raise ContractError(f"{name}: missing column(s) {missing} required by the features stage "
                            f"(found {sorted(found)})")
    for column in DATE_COLUMNS[name]:
        if not any(kind in found[column] for kind in ("DATE", "TIMESTAMP")):
            raise ContractError(f"{name}: column {column!r} must be a date, found {found[column]}")
    for column in set(STRING_COLUMNS) & set(required):
        if found[column] not in ("VARCHAR", '"NULL"'):  # "NULL": an empty or all-missing column
            raise ContractError(f"{name}: column {column!r} must be a string, found {found[column]}")


def month_ends(index: pd.Series | np.ndarray) -> pd.Series:
    """The month-end date of each month index (the vectorised `month_end`)."""
    index = pd.Series(np.asarray(index, dtype="int64"))
    firsts = pd.to_datetime(pd.DataFrame({"year": index // 12, "month": index % 12 + 1, "day": 1}))
    return (firsts + pd.offsets.MonthEnd(0)).astype("datetime64[ns]")


MONTH_COLUMNS = {"customers": ("open_date", "open_m"), "monthly": ("month", "m"), "market": ("month", "m"),
                 "churn_events": ("churn_month", "churn_m")}  # table -> (date column, its month index column)


def connect(tables: Mapping[str, Source], *, memory_limit: str | None = None, temp_directory: Path | None = None,
            engine: Sql | None = None):
    """The contract tables (DataFrames or Parquet paths) as views of an engine; by default a new in-memory DuckDB
    connection, which is returned (a `duckdb.DuckDBPyConnection`). Given `engine` (`core.engine.open_engine`:
    DuckDB or Spark), the views are made there and `engine` is returned.

    Views `customers`, `monthly`, `market` and `churn_events` carry the contract columns plus an integer
    month index (`open_m`, `m`, `churn_m`). `memory_limit` and `temp_directory` let the default DuckDB spill
    large joins to disk instead of growing past the machine's memory.
    """
    missing = [name for name in READS if name not in tables]
    if missing:
        raise ContractError(f"missing table(s) {missing}: the features stage reads {list(READS)}")
    sql = engine or DuckDBSql(memory_limit=memory_limit, temp_directory=temp_directory)
    for name in READS:
        source, raw = tables[name], f"raw_{name}"
        if isinstance(source, pd.DataFrame):
            sql.register(raw, source)
        else:
            sql.read_parquet(raw, source)
        check_columns(sql, name, raw)
        # every column as it is, ids as text (they join), plus the month index (no `* REPLACE`: Spark lacks it)
        date, index = MONTH_COLUMNS[name]
        columns = [f"CAST({c} AS VARCHAR) AS {c}" if c in STRING_COLUMNS else c for c in sql.columns(raw)]
        sql.view(name, f"SELECT {', '.join(columns)}, {month_index(date)} AS {index} FROM {raw}")
    return sql if engine is not None else sql.con


def month_range(con: duckdb.DuckDBPyConnection | Sql) -> tuple[int, int]:
    """First and last month index in `monthly` (the data's window)."""
    first, last = as_sql(con).row("SELECT min(m), max(m) FROM monthly")
    if first is None:
        raise ContractError("monthly: the table has no rows")
    return int(first), int(last)
