"""Exact order statistics from value counts: hand-worked medians, numpy's median on random columns with ties, and
`medians_on_spark` equal to pandas' `DataFrame.median` (the early-warning list's reference values) on Spark."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.spark_values import median_from_counts, medians_on_spark, value_at
from churnlab.model.reasons import reference_values


@pytest.mark.parametrize(("values", "counts", "median"), [
    ([1.0, 2.0, 3.0, 4.0], [1, 1, 1, 1], 2.5),   # even: the mean of positions 1 and 2
    ([1.0, 2.0, 3.0], [1, 1, 1], 2.0),           # odd: position 1
    ([1.0, 5.0], [3, 1], 1.0),                   # positions 1 and 2 both hold 1.0
    ([1.0, 5.0], [2, 2], 3.0),                   # positions 1 and 2 hold 1.0 and 5.0
    ([7.0], [1], 7.0),
    ([], [], np.nan),
])
def test_hand_worked_medians(values, counts, median):
    np.testing.assert_equal(median_from_counts(np.array(values), np.array(counts, dtype=np.int64)), median)


def test_value_at_reads_sorted_positions_through_ties():
    assert value_at(np.array([1.0, 2.0, 9.0]), np.array([2, 3, 1]), [0, 1, 2, 4, 5]).tolist() == [1, 1, 2, 2, 9]


def test_the_median_of_the_counts_is_numpys_double():
    rng = np.random.default_rng(0)
    for n in [*range(1, 40), 1000, 1001]:
        column = np.round(rng.lognormal(3.0, 2.0, n), int(rng.integers(0, 4)))  # ties at 0-3 decimals
        values, counts = np.unique(column, return_counts=True)
        assert median_from_counts(values, counts) == np.median(column) == pd.Series(column).median()


@pytest.mark.slow
def test_medians_on_spark_are_pandas_medians(any_spark):
    """Floats with NaN and ties, an integer column, -0.0 beside 0.0, a column with no values (NaN), an odd and an
    even count; text and flags are not numbers (left out, as `reference_values` leaves them out)."""
    rng = np.random.default_rng(3)
    n = 401
    frame = pd.DataFrame({
        "balance": np.where(rng.random(n) < 0.1, np.nan, np.round(rng.lognormal(8.0, 1.0, n), 1)),
        "products": rng.integers(0, 6, n),
        "trend": rng.choice([-0.0, 0.0, 0.5, -1.25], n),
        "unknown": np.full(n, np.nan),
        "even": np.where(np.arange(n) == 0, np.nan, rng.normal(0, 1, n)),
        "segment": rng.choice(["mass", "private"], n),
        "active": rng.random(n) < 0.5,
    })
    features = list(frame.columns)
    on_spark = medians_on_spark(any_spark.createDataFrame(frame).repartition(3), features)
    pd.testing.assert_series_equal(on_spark, reference_values(frame, features), check_exact=True)
    assert list(on_spark.index) == ["balance", "products", "trend", "unknown", "even"]
