"""Behaviour clusters assigned on Spark: the nearest centroid worked out by hand (ties to the lowest index), and the
same assignments as `BehaviourClusters.predict` (scikit-learn) on rows with missing, negative, huge and flag values;
each on the classic session and over Spark Connect (conftest's `any_spark`)."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.engine import SparkSql
from churnlab.segment.clusters import BehaviourClusters
from churnlab.segment.spark_clusters import nearest_centroid, predict_on_spark, standardised

pytestmark = pytest.mark.slow  # every test here starts or uses the Spark session

FEATURES = {"log1p": ["deposit_balance", "loan_balance", "tx_count", "fees_3m"],
            "plain": ["digital_share_3m", "has_card"]}
# Centroids (0, 0), (2, 0), (0, 2). Squared distances of (1, 0): 1, 1, 5 (a tie of 0 and 1); (1, 1): 2, 2, 2; (2, 1):
# 5, 1, 5; (1, 2): 5, 5, 1; (3, 3): 18, 10, 10 (a tie of 1 and 2); (-1, 0): 1, 9, 5. The lowest index wins a tie.
CENTROIDS = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
POINTS = pd.DataFrame({"a": [1.0, 1.0, 2.0, 1.0, 3.0, -1.0], "b": [0.0, 1.0, 1.0, 2.0, 3.0, 0.0]})
NEAREST = [0, 0, 1, 2, 1, 0]


def customers(n: int, seed: int) -> pd.DataFrame:
    """Three behaviour groups with the awkward values: missing (NaN and None), negative balances (log1p of 0), a
    balance beyond 5 SD (clipped), a flag with missing values."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, n)
    frame = pd.DataFrame({
        "deposit_balance": rng.lognormal(np.array([9.0, 7.0, 5.0])[group], 0.5),
        "loan_balance": rng.lognormal(9.0, 0.5, n) * (group == 1),
        "tx_count": rng.poisson(np.array([20, 10, 1])[group]).astype(float),
        "fees_3m": rng.gamma(3.0, 2.0, n),
        "digital_share_3m": rng.uniform(0, 1, n),
        "has_card": pd.Series(rng.random(n) < 0.6, dtype=object),
    })
    frame.loc[rng.random(n) < 0.05, "digital_share_3m"] = np.nan
    frame.loc[rng.random(n) < 0.05, "has_card"] = None
    frame.loc[rng.random(n) < 0.03, "deposit_balance"] = -250.0
    frame.loc[0, "fees_3m"] = 1e12
    return frame


def fitted(frame: pd.DataFrame) -> BehaviourClusters:
    return BehaviourClusters(**FEATURES, k_min=2, k_max=4, silhouette_rows=300, name_threshold_sd=0.5, seed=0,
                             flags=["has_card"]).fit(frame)


def test_the_nearest_centroid_worked_out_by_hand_ties_to_the_lowest_index(any_spark):
    rows = any_spark.createDataFrame(POINTS)
    got = rows.select(nearest_centroid([rows["a"], rows["b"]], CENTROIDS).alias("k")).toPandas()["k"].tolist()
    assert got == NEAREST
    squared = ((POINTS.to_numpy()[:, None, :] - CENTROIDS[None, :, :]) ** 2).sum(axis=2)
    assert np.argmin(squared, axis=1).tolist() == NEAREST  # numpy's argmin: the first of equal minima


def test_centroids_must_match_the_columns(any_spark):
    rows = any_spark.createDataFrame(POINTS)
    with pytest.raises(ValueError, match=r"centroids of shape \(3, 2\) for 1 column\(s\)"):
        nearest_centroid([rows["a"]], CENTROIDS)


def test_spark_assigns_every_row_as_scikit_learn_does(any_spark):
    """Fitted on 300 rows, applied to 2,000 others: the same cluster for every row; z to 1e-12 of the local z."""
    clusters = fitted(customers(300, seed=1))
    assert clusters.k_ >= 2
    rows = customers(2000, seed=2)
    rows.index = rows.index * 3 + 7  # the assignments come back on the rows' own index
    sql = SparkSql(any_spark)
    got = predict_on_spark(clusters, rows, sql=sql)
    expected = clusters.predict(rows)
    pd.testing.assert_series_equal(got, expected, check_dtype=False)
    assert got.nunique() == clusters.k_
    sql.register("rows", rows)
    names = [*clusters.log1p, *clusters.plain]
    z = any_spark.table("rows").select(*[c.alias(n) for c, n in zip(standardised(clusters), names, strict=True)])
    np.testing.assert_allclose(z.toPandas()[names].to_numpy(), clusters._standardise(rows), rtol=0, atol=1e-12)
