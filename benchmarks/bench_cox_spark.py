"""Benchmark: the survival stage's Cox model (~35 covariates) fitted in memory (numpy) and from Spark's sums.

The lifetimes are `bench_survival.lifetimes` (delayed entry up to 240 months, a 48-month window, ten covariates
with effects) plus 25 covariates without effect (numbers, counts and flags), 35 in all, as the stage's design
matrix. Both fits are `survival.models.fit_cox` with params.yaml's penalizer: once in memory, once with a
Spark engine (`churnlab.survival.cox_spark`: one mapInPandas job per Newton step, the partitions' sums added on
the driver). The Spark time includes handing the pandas frame to Spark and caching it, not starting Spark.

    python benchmarks/bench_cox_spark.py                      # 200,000 customers, Spark local[2]
    python benchmarks/bench_cox_spark.py --customers 50000
    python benchmarks/bench_cox_spark.py --tiny               # smoke run (the test suite's): 2,000 customers
"""

import argparse
import time

import numpy as np
from bench_survival import COVARIATES, SPARK_CONF, lifetimes

from churnlab.core.engine import SparkSql, spark_session
from churnlab.survival.models import fit_cox

EXTRA = 25  # covariates without effect, so the model has 35 like the stage's
PENALIZER = 0.01  # params.yaml survival.cox.penalizer


def with_extra_covariates(n: int, *, seed: int):
    """`bench_survival.lifetimes` plus EXTRA covariates: a third normal, a third Poisson counts, a third flags."""
    frame = lifetimes(n, seed=seed)
    rng = np.random.default_rng([seed, 35])
    draws = [lambda: rng.normal(0, 1, n), lambda: rng.poisson(2, n).astype(float),
             lambda: (rng.random(n) < 0.3).astype(float)]
    extra = {f"noise_{i}": draws[i % 3]() for i in range(EXTRA)}
    return frame.assign(**extra), [*COVARIATES, *extra]


def timed(label: str, step):
    start = time.perf_counter()
    result = step()
    print(f"{label:<40} {time.perf_counter() - start:8.1f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--tiny", action="store_true", help="smoke run at 2,000 customers")
    args = parser.parse_args()
    n = 2000 if args.tiny else args.customers
    frame, columns = timed(f"generate {n:,} lifetimes", lambda: with_extra_covariates(n, seed=args.seed))
    print(f"covariates={len(columns)} events={int(frame['churned'].sum()):,} months={int(frame['duration'].max()) + 1}")
    local = timed("Cox in memory (numpy)", lambda: fit_cox(frame, columns, penalizer=PENALIZER))
    sql = timed(f"start Spark {args.master}", lambda: SparkSql(spark_session(master=args.master, conf=SPARK_CONF),
                                                               owns_session=True))
    try:
        on_spark = timed(f"Cox from Spark's sums ({args.master})",
                         lambda: fit_cox(frame, columns, penalizer=PENALIZER, sql=sql))
    finally:
        sql.close()
    coef = np.abs(on_spark.fitter_.params_ - local.fitter_.params_).max()
    se = np.abs(on_spark.fitter_.summary["se(coef)"] / local.fitter_.summary["se(coef)"] - 1).max()
    print(f"passes over the customers: numpy {local.fitter_.evaluations_}, spark {on_spark.fitter_.evaluations_}")
    print(f"max |coef spark - numpy| = {coef:.2e}; max relative se difference = {se:.2e}")


if __name__ == "__main__":
    main()
