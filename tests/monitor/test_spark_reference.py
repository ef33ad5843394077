"""The training reference on Spark: the decile positions against numpy's `quantile(method="lower")`, the edges from
value counts against `fit_binning`, and the whole profile against `fit_reference` on the driver, exactly."""

import numpy as np
import pandas as pd
import pytest

from churnlab.monitor.drift import fit_binning
from churnlab.monitor.months import Layout
from churnlab.monitor.spark_reference import edges_from_counts, fit_on_spark, lower_ranks
from churnlab.monitor.stability import SCORE, fit_reference


@pytest.mark.parametrize("bins", [2, 3, 7, 10, 20])
def test_lower_ranks_are_the_positions_numpy_takes(bins):
    for n in [*range(1, 300), 1_000, 4_097, 123_457, 2_000_003]:
        ranks = np.quantile(np.arange(n, dtype=float), np.arange(1, bins) / bins, method="lower")
        assert np.array_equal(lower_ranks(n, bins), ranks.astype(np.int64)), n


SAMPLES = {  # ties, continuous with missing values, one value, few values, none
    "ties": np.random.default_rng(1).poisson(3, 4000).astype(float),
    "continuous": np.where(np.random.default_rng(2).random(3000) < 0.1, np.nan,
                           np.random.default_rng(3).lognormal(6, 1.5, 3000)),
    "one_value": np.full(50, 2.5),
    "few": np.array([3.0, 1.0, 2.0]),
    "none": np.array([np.nan, np.nan]),
}


@pytest.mark.parametrize("name", list(SAMPLES))
def test_edges_from_value_counts_are_fit_binnings(name):
    values = pd.Series(SAMPLES[name])
    counts = values.dropna().value_counts().sort_index()
    for bins in (4, 10):
        found = edges_from_counts(counts.index.to_numpy(float), counts.to_numpy(), bins=bins)
        assert found == fit_binning(values, bins=bins).edges, (name, bins)


def reference_rows(n: int = 600) -> pd.DataFrame:
    """Reference rows of two cutoffs (customer ids out of order) with a numeric feature (ties, NaN), an integer
    feature, a text feature (missing values), a boolean flag (missing values) and a market feature."""
    rng = np.random.default_rng(7)
    balance = np.round(rng.lognormal(7, 1, n), -1)
    balance[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in rng.permutation(n)],
        "cutoff": pd.to_datetime(np.where(np.arange(n) < n // 2, "2022-06-30", "2022-09-30")),
        "label": pd.array(np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.2), dtype="Int8"),
        "deposit_balance": balance,
        "products": rng.integers(1, 5, n),
        "segment": pd.Series(rng.choice(["mass", "affluent", "private"], n), dtype=object)
        .where(rng.random(n) > 0.03, None),
        "payroll": pd.array(np.where(rng.random(n) < 0.02, None, rng.random(n) < 0.4), dtype="boolean"),
        "spread": 0.5,
    })


LAYOUT = Layout(groups={"deposit_balance": "banking", "products": "banking", "segment": "customer",
                        "payroll": "banking", "spread": "market"},
                numeric=["deposit_balance", "products"],
                market_history=pd.DataFrame({"t": [1, 2, 3], "spread": [0.4, 0.5, 0.6]}))


def score_on_spark(rows):
    """p_churn = 1000 / (deposit_balance + 2000), as Spark computes it (the same doubles as numpy below)."""
    from pyspark.sql import functions as F

    return rows.withColumn(SCORE, F.lit(1000.0) / (F.col("deposit_balance") + 2000.0))


@pytest.mark.slow
def test_the_reference_profiled_on_spark_is_the_drivers(spark):
    from churnlab.core.engine import SparkSql

    local = reference_rows()
    spark_frame = spark.createDataFrame(local.astype(object).where(local.notna(), None),
                                        "customer_id string, cutoff timestamp, label tinyint, deposit_balance double, "
                                        "products bigint, segment string, payroll boolean, spread double")
    fitted = fit_on_spark(SparkSql(spark), spark_frame.repartition(3), score=score_on_spark, layout=LAYOUT, bins=10)
    try:
        ordered = local.sort_values(["cutoff", "customer_id"], ignore_index=True)
        scored = ordered.assign(**{SCORE: 1000.0 / (ordered["deposit_balance"] + 2000.0)})
        expected = fit_reference(scored, groups=LAYOUT.groups, market_history=LAYOUT.market_history,
                                 numeric=LAYOUT.numeric, bins=10)
        profile = fitted.profile
        assert profile.binnings == expected.binnings
        assert profile.binnings["segment"].levels == ("affluent", "mass", "private")
        assert profile.binnings["payroll"].levels == ("False", "True")
        assert len(profile.binnings["deposit_balance"].edges) == 9 and len(profile.binnings[SCORE].edges) == 9
        assert profile.counts.keys() == expected.counts.keys()
        for column, counts in expected.counts.items():
            assert np.array_equal(profile.counts[column], counts), column
        assert profile.rows == expected.rows == len(local)
        assert list(profile.numeric) == list(expected.numeric) and set(profile.numeric.values()) == {None}
        assert all(np.array_equal(profile.market[f], expected.market[f]) for f in expected.market)
        pd.testing.assert_frame_equal(fitted.rows, scored[["cutoff", "customer_id", SCORE, "label"]],
                                      check_exact=True)
        kept = fitted.value_counts.toPandas()  # the KS tests' counts: the numeric features only
        assert set(kept["feature"]) == {"deposit_balance", "products"}
        assert kept.groupby("feature")["ref"].sum().to_dict() == {
            "deposit_balance": int(local["deposit_balance"].notna().sum()), "products": len(local)}
    finally:
        fitted.close()
