"""The monthly table as the overview notebook reads it: DuckDB queries over the Parquet file.

data/raw/monthly.parquet has a row per customer and month-end: 36M rows at 1M customers x 36 months, ~5 GiB
as a pandas frame (~100 GiB at 20M). The notebook's charts need only monthly totals, a few month-ends and the
rows of a few thousand customers, so it asks DuckDB for those and never holds the table: only the answers come
into pandas. A query sees the table as `monthly`, and each pandas frame passed by keyword under its name.
"""

from pathlib import Path

import pandas as pd

from churnlab.core.engine import DuckDBSql


class MonthlyTable:
    """Queries over one monthly Parquet file (`path`); `rows` is its number of rows (customer-months)."""

    def __init__(self, path: Path):
        self.sql = DuckDBSql()  # in memory, its own: nothing is written
        self.sql.read_parquet("monthly", path)
        self.rows = int(self.sql.row("SELECT count(*) FROM monthly")[0])

    def query(self, sql: str, **frames: pd.DataFrame) -> pd.DataFrame:
        """The answer of `sql` as a frame, month-ends as pandas reads them from Parquet (datetime64[ns])."""
        for name, frame in frames.items():
            self.sql.register(name, frame)
        try:
            answer = self.sql.query(sql)
        finally:
            for name in frames:
                self.sql.unregister(name)
        dates = [c for c in answer if pd.api.types.is_datetime64_any_dtype(answer[c])]
        return answer.astype(dict.fromkeys(dates, "datetime64[ns]"))

    def by_month(self, **aggregates: str) -> pd.DataFrame:
        """One row per month-end (the index, in order), one column per SQL aggregate, e.g.
        `by_month(deposits="sum(deposit_balance)")`."""
        select = ", ".join(f"{sql} AS {name}" for name, sql in aggregates.items())
        return self.query(f"SELECT month, {select} FROM monthly GROUP BY month ORDER BY month").set_index("month")

    def at(self, months, columns: list[str]) -> pd.DataFrame:
        """The `columns` of every row at the month-ends `months` (a few: each is ~1 / n_months of the table), in the
        file's order (DuckDB keeps it)."""
        wanted = pd.DataFrame({"month": pd.to_datetime(list(months))})
        return self.query(f"SELECT {', '.join(columns)} FROM monthly WHERE month IN (SELECT month FROM wanted)",
                          wanted=wanted)

    def unrecorded(self, columns: list[str]) -> list[str]:
        """The `columns` holding one value at most (all 0, all missing): the source does not record them
        (`pipeline_outputs.unrecorded` does this for a frame)."""
        present = [c for c in columns if c in self.sql.columns("monthly")]
        if not present:
            return []
        counts = self.sql.row(f"SELECT {', '.join(f'count(DISTINCT {c})' for c in present)} FROM monthly")
        return [c for c, n in zip(present, counts, strict=True) if n <= 1]
