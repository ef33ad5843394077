"""Benchmark: the rows per PSI / CSI bin and the KS statistics of one month, 1,000,000 rows x 40 columns, in numpy,
DuckDB and Spark.

A month is drawn here with the shape of the monitor's input: 30 numeric columns (skewed amounts, shares, counts of
few distinct values, 5 % missing in a third of them), 6 categorical and 4 boolean columns (some missing). The bins
are fixed on a 200,000-row reference on the driver (`fit_binning`, as the stage does); then the month is counted:

- numpy: `Binning.counts`, one column at a time (the local engine's path);
- DuckDB and Spark: `monitor.bin_counts`, aggregations of `--columns-per-query` columns each (8, the stage's; 40:
  one aggregation of every column), reading the month from a Parquet file (where a month would lie), and once more
  from the pandas frame handed to the engine (an earlier path of the stage, dropped because it handed each
  collected month back to the JVM; the stage on Spark now counts the month where it lies, as from Parquet here).

Then the exact KS statistic and p-value of the 30 numeric columns against the reference: numpy (`drift.ks_test`,
the local engine's path) and Spark (`monitor.spark_months.ks_statistics`: the month's values read from Parquet,
stacked on the reference's value counts (counted once and cached) and summed per column by an `applyInPandas`: the
stage's path on Spark).

Each engine counts twice (the first run pays Spark's planning and code generation); the counts and the KS numbers
must be identical.

    python benchmarks/bench_monitor.py                        # 1,000,000 rows, numpy, DuckDB and Spark local[2]
    python benchmarks/bench_monitor.py --engine local         # numpy and DuckDB only
    python benchmarks/bench_monitor.py --tiny                 # smoke run (the test suite's): 5,000 rows, local
    python benchmarks/bench_monitor.py --tiny --engine spark  # ... and Spark's (the test suite's Spark lane)
"""

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.core.engine import DuckDBSql, SparkSql, spark_session
from churnlab.core.spark_values import value_counts
from churnlab.monitor.bin_counts import COLUMNS_PER_QUERY, bin_counts, frame_bin_counts
from churnlab.monitor.drift import fit_binning, ks_test
from churnlab.monitor.spark_months import ks_statistics, value_ones

# params.yaml's engine.spark.conf (the 1 GB default heap cannot take a million rows from pandas), no progress bars
SPARK_CONF = {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 8, "spark.driver.memory": "4g",
              "spark.ui.showConsoleProgress": False}
TINY = {"rows": 5000, "reference_rows": 2000}  # checks that it runs (local unless --engine); its figures mean nothing


def month_rows(n: int, *, seed: int) -> pd.DataFrame:
    """n rows of 40 monitored columns: 30 numeric, 6 categorical, 4 boolean."""
    rng = np.random.default_rng(seed)
    columns = {}
    for i in range(10):
        amount = np.round(rng.lognormal(6 + i % 4, 1.5, n), 2)
        columns[f"amount_{i}"] = np.where(rng.random(n) < 0.05, np.nan, amount)
    for i in range(10):
        columns[f"share_{i}"] = rng.beta(1 + i % 3, 3, n)
    for i in range(10):
        columns[f"count_{i}"] = rng.poisson(0.3 + i, n).astype(float)  # few distinct values: deciles collapse
    for i in range(6):
        levels = np.array([f"level_{j}" for j in range(3 + i)])
        text = pd.Series(levels[rng.integers(0, len(levels), n)], dtype=object)
        columns[f"category_{i}"] = text.where(rng.random(n) >= 0.02).astype("category")
    for i in range(4):
        flag = pd.Series(rng.random(n) < 0.2 + 0.15 * i, dtype=object)
        columns[f"flag_{i}"] = flag.where(rng.random(n) >= 0.01)
    return pd.DataFrame(columns)


def timed(label: str, step, times: dict):
    start = time.perf_counter()
    out = step()
    times[label] = time.perf_counter() - start
    print(f"{label:<58} {times[label]:8.2f} s", flush=True)
    return out


def same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(np.array_equal(a[c], b[c]) for c in a)


def count_on(sql, name: str, month: pd.DataFrame, path: Path, binnings: dict, times: dict, *,
             per_query: int) -> list[dict]:
    """The month counted twice from the Parquet file, then once from the pandas frame, by the engine `sql`."""
    sql.read_parquet("month", path)
    counts = [timed(f"{name}: from Parquet, run {run}",
                    lambda: bin_counts(sql, "month", binnings, columns_per_query=per_query), times)
              for run in (1, 2)]
    counts.append(timed(f"{name}: from the pandas frame",
                        lambda: frame_bin_counts(sql, month, binnings, columns_per_query=per_query), times))
    return counts


def ks_on_spark(spark, numeric: list[str], month: Path, reference: Path, times: dict) -> list[dict]:
    """The KS statistics of the month's `numeric` columns, read from Parquet, twice; the reference's value counts
    once (cached, as the stage caches them for every month)."""
    counts = value_counts(spark.read.parquet(str(reference)), numeric, name="ref").persist()
    timed("Spark: the reference's value counts, cached once", counts.count, times)
    try:
        return [timed(f"Spark: KS of {len(numeric)} columns from Parquet, run {run}",
                      lambda: ks_statistics(counts, value_ones(spark.read.parquet(str(month)), numeric, name="cur")),
                      times) for run in (1, 2)]
    finally:
        counts.unpersist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--engine", nargs="+", choices=["local", "spark"], default=None,
                        help="default: local and spark (with --tiny: local)")
    parser.add_argument("--columns-per-query", type=int, nargs="+", default=[COLUMNS_PER_QUERY, 40],
                        help="columns per aggregation; each value is measured")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run at {TINY} (local engine unless --engine)")
    args = parser.parse_args()
    if args.tiny:
        args.rows, args.reference_rows = TINY["rows"], TINY["reference_rows"]
    args.engine = args.engine or (["local"] if args.tiny else ["local", "spark"])
    print(f"rows={args.rows:,} columns=40 reference_rows={args.reference_rows:,} engines={args.engine} "
          f"columns_per_query={args.columns_per_query} load_average={os.getloadavg()[0]:.1f} cpus={os.cpu_count()}",
          flush=True)
    times: dict[str, float] = {}
    reference = timed("draw the reference", lambda: month_rows(args.reference_rows, seed=args.seed), times)
    month = timed("draw the month", lambda: month_rows(args.rows, seed=args.seed + 1), times)
    binnings = timed("fit the bins on the reference (driver)",
                     lambda: {c: fit_binning(reference[c], bins=10) for c in reference}, times)
    print(f"  bins per column: {min(len(b.labels) for b in binnings.values())}.."
          f"{max(len(b.labels) for b in binnings.values())}; "
          f"{sum(len(b.labels) for b in binnings.values())} in all", flush=True)
    expected = timed("numpy: Binning.counts, column by column",
                     lambda: {c: b.counts(month[c]) for c, b in binnings.items()}, times)
    numeric = [c for c in month if c.startswith(("amount_", "share_", "count_"))]
    sorted_reference = {c: np.sort(reference[c].dropna().to_numpy(float)) for c in numeric}
    ks_expected = timed(f"numpy: ks_test of {len(numeric)} numeric columns",
                        lambda: {c: ks_test(sorted_reference[c], month[c]) for c in numeric}, times)
    counted: dict[str, list[dict]] = {}
    ks_found: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "month.parquet"
        timed("write the month to Parquet", lambda: month.to_parquet(path, index=False), times)
        if "local" in args.engine:
            for per_query in args.columns_per_query:
                name = f"DuckDB, {per_query} columns a query"
                counted[name] = count_on(DuckDBSql(), name, month, path, binnings, times, per_query=per_query)
        if "spark" in args.engine:
            session = timed("start Spark local[2]", lambda: spark_session(master="local[2]", conf=SPARK_CONF),
                            times)
            session.sparkContext.setLogLevel("ERROR")
            sql = SparkSql(session, owns_session=True)
            try:
                for per_query in args.columns_per_query:
                    name = f"Spark local[2], {per_query} columns a query"
                    counted[name] = count_on(sql, name, month, path, binnings, times, per_query=per_query)
                reference_path = Path(scratch) / "reference.parquet"
                reference.to_parquet(reference_path, index=False)
                ks_found = ks_on_spark(session, numeric, path, reference_path, times)
            finally:
                sql.close()
    identical = all(same(counts, expected) for runs in counted.values() for counts in runs)
    identical &= all(found == ks_expected for found in ks_found)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"identical={identical} (every engine's counts and KS numbers equal numpy's) peak_rss_python_gib={peak:.2f} "
          f"load_average_end={os.getloadavg()[0]:.1f}", flush=True)
    if not identical:
        raise SystemExit("the engines' counts differ")


if __name__ == "__main__":
    main()
