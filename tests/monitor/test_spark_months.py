"""The months on Spark: value counts, the exact KS statistic against `drift.ks_test` (and so scipy), and the market
medians."""

import numpy as np
import pandas as pd
from scipy import stats

from churnlab.core.spark_values import value_counts
from churnlab.monitor.drift import ks_test
from churnlab.monitor.spark_months import ks_statistics, market_values, value_ones

CASES = {  # as tests/monitor/test_drift.py's: ties, continuous, disjoint, one value; with -0.0 beside 0.0
    "ties": (np.random.default_rng(1).poisson(3, 4000), np.random.default_rng(2).poisson(3.3, 700)),
    "continuous": (np.random.default_rng(3).lognormal(6, 1.5, 3000), np.random.default_rng(4).lognormal(6.1, 1.5, 900)),
    "disjoint": (np.random.default_rng(5).normal(0, 1, 300), np.random.default_rng(6).normal(10, 1, 200)),
    "current_below": (np.random.default_rng(7).normal(10, 1, 300), np.random.default_rng(8).normal(0, 1, 200)),
    "zeros": (np.array([-0.0, 0.0, 0.0, 1.0, 2.0]), np.array([0.0, -0.0, 2.0])),
}


def sample(spark, columns: dict[str, np.ndarray]):
    """A Spark DataFrame of float columns of any lengths (shorter ones padded with missing values), with a row of
    NaN and a row of NULL in every column: neither is a value."""
    n = max(len(v) for v in columns.values())
    frame = pd.DataFrame({c: np.concatenate([np.asarray(v, float), np.full(n - len(v), np.nan)])
                          for c, v in columns.items()})
    schema = ", ".join(f"{c} double" for c in columns)
    rows = spark.createDataFrame(frame.astype(object).where(frame.notna(), None), schema)  # padding: NULL
    return rows.union(spark.createDataFrame([tuple(float("nan") for _ in columns)], schema))


def test_value_counts_count_each_value_once_and_skip_missing(spark):
    rows = sample(spark, {"x": np.array([1.0, 1.0, 2.0, -0.0, 0.0]), "y": np.array([5.0])})
    counts = value_counts(rows, ["x", "y"], name="n").toPandas().sort_values(["feature", "value"], ignore_index=True)
    assert counts.to_dict("list") == {"feature": ["x", "x", "x", "y"], "value": [0.0, 1.0, 2.0, 5.0], "n": [2, 2, 1, 1]}


def test_ks_statistics_equal_ks_test_and_scipy_bit_for_bit(spark):
    """Every case in one Spark job: the statistic is the same double, the p-value the same number, with the month's
    values counted first (`value_counts`) or not (`value_ones`, the stage's)."""
    reference = value_counts(sample(spark, {case: ref for case, (ref, _) in CASES.items()}), list(CASES), name="ref")
    current = sample(spark, {case: cur for case, (_, cur) in CASES.items()})
    for month in (value_counts(current, list(CASES), name="cur"), value_ones(current, list(CASES), name="cur")):
        found = ks_statistics(reference, month)
        assert set(found) == set(CASES)
        for case, (ref, cur) in CASES.items():
            assert found[case] == ks_test(ref, cur), case
            expected = stats.ks_2samp(ref, cur, method="asymp")
            assert found[case] == (float(expected.statistic), float(expected.pvalue)), case


def test_a_feature_without_values_on_one_side_has_no_statistic(spark):
    reference = sample(spark, {"x": np.array([1.0, 2.0]), "empty": np.array([3.0])})
    current = sample(spark, {"x": np.array([2.0]), "empty": np.array([np.nan])})
    found = ks_statistics(value_counts(reference, ["x", "empty"], name="ref"),
                          value_counts(current, ["x", "empty"], name="cur"))
    assert list(found) == ["x"] and found["x"] == ks_test([1.0, 2.0], [2.0])
    assert all(np.isnan(ks_test([3.0], [np.nan])))  # what the local engine reports for "empty"


def test_market_values_are_the_medians(spark):
    rows = spark.createDataFrame(pd.DataFrame({"spread": [0.5, 0.5, 0.5, 0.7], "rate": [1.0, 2.0, 3.0, 4.0]}))
    assert market_values(rows, ["spread", "rate"]) == {"spread": 0.5, "rate": 2.5}  # pandas' medians
    assert market_values(rows, []) == {}
