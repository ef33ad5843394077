"""Benchmark: Kaplan-Meier, Cox and Weibull AFT on 1,000,000 left-truncated lifetimes, wall time per step.

The lifetimes are drawn here, vectorised, with the shape of the bank's data: 60 % of customers already with
the bank when a 48-month window opens (entry tenure up to 240 months, left truncation), 40 % opening inside
it, a monthly voluntary-churn hazard that is high in the first year and shifted by ten covariates (numbers
and dummies, as the survival stage's design matrix), and right-censoring at the window end. Each step calls
the survival stage's own functions; the PH test runs on a sample, as in the stage. The last steps are the
engine-neutral path (`churnlab.survival.aggregated`): per-month counts summed by DuckDB or Spark, then
Kaplan-Meier, log-rank and a Cox model on payroll x segment from those counts alone.

    python benchmarks/bench_survival.py                      # 1,000,000 customers
    python benchmarks/bench_survival.py --customers 100000   # a quicker look
    python benchmarks/bench_survival.py --engine spark       # the counts on Spark local[2] (the spark extra)
    python benchmarks/bench_survival.py --counts-only        # only the engine-neutral steps
    python benchmarks/bench_survival.py --tiny               # smoke run (the test suite's): 3,000 customers
"""

import argparse
import resource
import time

import numpy as np
import pandas as pd

from churnlab.core.engine import DuckDBSql, SparkSql, spark_session
from churnlab.survival import aggregated, aggregated_cox
from churnlab.survival.aggregated import Counting, month_counts
from churnlab.survival.kaplan_meier import fit_km, km_summary, logrank_test
from churnlab.survival.models import fit_aft, fit_cox, ph_tests

COVARIATES = ["age", "n_products", "complaints_3m", "log_deposit", "tx_count", "unemployment",
              "payroll", "segment_affluent", "segment_private", "channel_online"]
# params.yaml's engine.spark.conf (the 1 GB default heap cannot take a million rows from pandas), no progress bars
SPARK_CONF = {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 8, "spark.driver.memory": "4g",
              "spark.ui.showConsoleProgress": False}
TINY = {"customers": 3000, "ph_sample": 500}  # checks that it runs; its figures mean nothing
EFFECTS = np.array([-0.01, -0.28, 0.6, -0.05, -0.02, 0.12, -0.55, 0.1, 0.2, 0.15])  # log hazard ratios


def lifetimes(n: int, *, seed: int, window: int = 48) -> pd.DataFrame:
    """n customers on the tenure scale (months) with delayed entry, discrete monthly hazard, censoring."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, n, p=[0.6, 0.28, 0.12])
    x = np.column_stack([
        rng.normal(45, 14, n), rng.integers(1, 6, n), rng.poisson(0.2, n), rng.normal(8, 1.5, n),
        rng.poisson(10, n), rng.normal(6.5, 0.5, n), rng.random(n) < 0.5, segment == 1, segment == 2,
        rng.random(n) < 0.35]).astype(float)
    existing = rng.random(n) < 0.6
    entry = np.where(existing, np.minimum(np.ceil(rng.exponential(60, n)), 240), 0).astype(np.int64)
    observed = np.where(existing, window, rng.integers(1, window + 1, n))  # months seen before the data end
    lp = (x - x.mean(axis=0)) @ EFFECTS
    months = entry[:, None] + np.arange(1, window + 1)[None, :]  # tenure of each month seen, n x window
    hazard = np.minimum(0.0105 * np.exp(1.1 * np.exp(-months / 6.0) + lp[:, None]), 0.9)
    churn = rng.random(hazard.shape) < hazard
    churn &= np.arange(1, window + 1)[None, :] <= observed[:, None]
    first = np.where(churn.any(axis=1), churn.argmax(axis=1) + 1, observed)
    frame = pd.DataFrame(x, columns=COVARIATES)
    frame["entry_tenure"] = entry
    frame["duration"] = entry + first
    frame["churned"] = churn.any(axis=1).astype(np.int8)
    frame["residual"] = first.astype(float)
    return frame


def timed(label: str, step, times: dict):
    start = time.perf_counter()
    result = step()
    times[label] = time.perf_counter() - start
    print(f"{label:<34} {times[label]:8.1f} s", flush=True)
    return result


def customer_level(frame: pd.DataFrame, args, times: dict) -> None:
    """Log-rank, Cox, PH tests and Weibull AFT on the customers themselves (the stage's functions)."""
    timed("log-rank by payroll (delayed entry)", lambda: logrank_test(frame["duration"], frame["churned"],
                                                                      frame["payroll"], frame["entry_tenure"]), times)
    cox = timed("Cox PH (delayed entry, Efron)", lambda: fit_cox(frame, COVARIATES, penalizer=0.0), times)
    error = np.abs(cox.fitter_.params_.to_numpy() - EFFECTS).max()
    print(f"  max |coef - true log HR| = {error:.3f} (true effects act on the monthly hazard, not the Cox scale)")
    ph = timed(f"PH tests on {args.ph_sample:,} sampled", lambda: ph_tests(
        frame, COVARIATES, penalizer=0.0, sample_size=args.ph_sample, seed=args.seed, alpha=0.01,
        source_of=str), times)
    print(f"  violations at p<0.01: {ph.loc[ph['violates'], 'covariate'].tolist()}")
    weibull = timed("Weibull AFT (delayed entry)", lambda: fit_aft("weibull", frame, COVARIATES, penalizer=0.0), times)
    print(f"  AIC={weibull.fitter_.AIC_:,.0f}")
    sample = frame.head(100_000)
    timed("predict 36-month curves, 100k", lambda: cox.survival(sample, sample["entry_tenure"].to_numpy(),
                                                                 np.arange(1, 37)), times)


def from_counts(frame: pd.DataFrame, engine: str, times: dict) -> dict:
    """The engine sums the per-month counts (overall, by payroll, by payroll x segment); KM, log-rank and Cox come
    from the counts alone. Spark gets the columns from pandas here; in a bank they would already be in the lake."""
    counted = pd.DataFrame({"entry_tenure": frame["entry_tenure"], "duration": frame["duration"],
                            "churned": frame["churned"].astype("int32"),
                            "payroll": frame["payroll"].astype(int).map({0: "no", 1: "yes"}),
                            "segment": np.select([frame["segment_affluent"] == 1, frame["segment_private"] == 1],
                                                 ["affluent", "private"], "mass")})
    tenure = {"entry": '"entry_tenure"', "exit": '"duration"', "event": '"churned" = 1'}
    countings = {"all": Counting(**tenure), "payroll": Counting(**tenure, level='"payroll"'),
                 "cox": aggregated_cox.pattern_counting(["payroll", "segment"], **tenure)}
    if engine == "spark":
        sql = timed("start Spark local[2]", lambda: SparkSql(spark_session(
            master="local[2]", conf=SPARK_CONF), owns_session=True), times)
    else:
        sql = DuckDBSql()
    try:
        sql.register("lifetimes", counted)
        counts = timed(f"per-month counts on {engine}", lambda: month_counts(sql, "lifetimes", countings), times)
        counts = timed(f"per-month counts on {engine}, again", lambda: month_counts(sql, "lifetimes", countings),
                       times)
    finally:
        sql.close()
    print(f"  count rows={len(counts):,} (for {len(frame):,} customers)")
    part = {name: counts[counts["grouping"] == name] for name in countings}
    summary = timed("KM + log-rank from counts", lambda: {
        **aggregated.km_summary(part["all"], times=[12, 24, 36]), **aggregated.logrank(part["payroll"])}, times)
    cox = timed("Cox PH from counts (payroll x segment)", lambda: aggregated_cox.fit_cox(part["cox"],
                                                                                          ["payroll", "segment"]),
                times)
    print(f"  hazard ratios {cox['hazard_ratio'].round(3).to_dict()}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--ph-sample", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--engine", choices=["local", "spark"], default="local", help="who sums the counts")
    parser.add_argument("--counts-only", action="store_true", help="skip the customer-level fits")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run at {TINY}")
    args = parser.parse_args()
    if args.tiny:
        vars(args).update(TINY)
    times: dict[str, float] = {}
    total = time.perf_counter()
    frame = timed(f"generate {args.customers:,} lifetimes", lambda: lifetimes(args.customers, seed=args.seed), times)
    print(f"  events={int(frame['churned'].sum()):,} left-truncated={int((frame['entry_tenure'] > 0).sum()):,}")
    kmf = timed("Kaplan-Meier (delayed entry)", lambda: fit_km(frame["duration"], frame["churned"],
                                                               frame["entry_tenure"]), times)
    summary = km_summary(kmf, times=[12, 24, 36])
    print(f"  median={summary['median_months']:.0f} months S(12)={summary['survival_12m']:.3f}")
    if not args.counts_only:
        customer_level(frame, args, times)
    counted = from_counts(frame, args.engine, times)
    gap = max(abs(counted[k] - summary[k]) for k in ("survival_12m", "survival_24m", "survival_36m"))
    print(f"  max |S(t) from counts - lifelines| at 12, 24, 36 months = {gap:.1e}; "
          f"log-rank p by payroll = {counted['p_value']:.3g}")
    wall = time.perf_counter() - total
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"total_wall_time_s={wall:.1f} peak_rss_gib={peak:.2f} (KM + Cox + PH + Weibull = "
          f"{sum(v for k, v in times.items() if k.startswith(('Kaplan', 'Cox PH (', 'PH', 'Weibull'))):.1f} s)")


if __name__ == "__main__":
    main()
