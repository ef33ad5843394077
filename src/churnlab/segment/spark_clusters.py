"""Behaviour clusters assigned on Spark: k-means fitted on a sample on the driver, every row assigned where it lies.

`BehaviourClusters` is fitted on `segment.clusters.fit_rows` sampled rows (scikit-learn, on the driver). Assigning
a row to a cluster needs only what the fit learned: the columns' medians, means and scales, and the k centroids.
Here that assignment is a Spark column expression, so it runs on the executors over any number of rows:

- x = log1p(max(value, 0)) for the `log1p` columns, the value as a double for the `plain` ones (a flag's true is
  1.0); a missing value (NULL or NaN) takes the fitting sample's median;
- z = (x - mean) / scale, clipped at +-5 SD (`clusters.CLIP_SD`), as `BehaviourClusters._standardise`;
- the nearest centroid by squared Euclidean distance, sum over columns of (z - c)^2; on a tie the lowest index of
  the k-means fit wins, as scikit-learn's argmin does; then renumbered by size (0 = the largest at fit time).

Same answers: the subtractions, divisions and clips are IEEE double operations on both sides, so z differs from
the local z only where Spark's log1p (Java's StrictMath) and numpy's differ, in the last bit. scikit-learn adds the
distances up differently (|c|^2 - 2 x.c, in BLAS), so a row whose two nearest centroids are equidistant to within
about 1e-12 could go to either; away from such rows the assignments are the local engine's exactly (checked on the
tests' frames).
"""

import numpy as np
import pandas as pd

from churnlab.core.engine import SparkSql
from churnlab.segment.clusters import CLIP_SD, BehaviourClusters

ROW = "_row"  # the position of a pandas row, carried through Spark to put the assignments back in order
TABLE = "behaviour_rows"


def standardised(clusters: BehaviourClusters) -> list:
    """The Spark columns of z, one per clustering column (`clusters.log1p`, then `clusters.plain`)."""
    from pyspark.sql import functions as F

    columns = []
    for column in [*clusters.log1p, *clusters.plain]:
        value = F.col(column).cast("double")
        x = F.log1p(F.greatest(value, F.lit(0.0))) if column in clusters.log1p else value
        x = F.when(value.isNull() | F.isnan(value), F.lit(float(clusters.medians_[column]))).otherwise(x)
        z = (x - F.lit(float(clusters.means_[column]))) / F.lit(float(clusters.scales_[column]))
        columns.append(F.least(F.greatest(z, F.lit(-CLIP_SD)), F.lit(CLIP_SD)))
    return columns


def nearest_centroid(z: list, centroids: np.ndarray):
    """The Spark column of the index of the centroid (rows of `centroids`) nearest to the point `z` (columns), by
    squared Euclidean distance; the lowest index among equally near ones."""
    from pyspark.sql import functions as F

    centroids = np.asarray(centroids, dtype=float)
    if centroids.ndim != 2 or centroids.shape[1] != len(z) or len(centroids) == 0:
        raise ValueError(f"centroids of shape {centroids.shape} for {len(z)} column(s)")
    distances = []
    for centre in centroids:
        terms = [(column - F.lit(float(c))) * (column - F.lit(float(c))) for column, c in zip(z, centre, strict=True)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        distances.append(total)
    best, nearest = distances[0], F.lit(0)
    for index, distance in enumerate(distances[1:], start=1):
        nearest = F.when(distance < best, F.lit(index)).otherwise(nearest)  # strictly nearer: ties keep the lower
        best = F.least(best, distance)
    return nearest


def assign_clusters(clusters: BehaviourClusters, rows):
    """The Spark DataFrame `rows` with `behaviour_cluster` (0 = the largest cluster at fit time), computed on Spark."""
    from pyspark.sql import functions as F

    raw = nearest_centroid(standardised(clusters), clusters.kmeans_.cluster_centers_)
    renumber = np.empty(clusters.k_, dtype=int)
    renumber[clusters.order_] = np.arange(clusters.k_)
    cluster = F.lit(int(renumber[0]))
    for index in range(1, clusters.k_):
        cluster = F.when(raw == index, F.lit(int(renumber[index]))).otherwise(cluster)
    return rows.withColumn("behaviour_cluster", cluster.cast("long"))


def predict_on_spark(clusters: BehaviourClusters, snapshots: pd.DataFrame, *, sql: SparkSql) -> pd.Series:
    """`clusters.predict(snapshots)` computed by Spark: the clustering columns of `snapshots` are handed to the
    engine `sql`, assigned there (`assign_clusters`) and brought back in the rows' order."""
    columns = [*clusters.log1p, *clusters.plain]
    sql.register(TABLE, snapshots[columns].reset_index(drop=True).assign(**{ROW: np.arange(len(snapshots))}))
    try:
        assigned = assign_clusters(clusters, sql.spark.table(TABLE)).select(ROW, "behaviour_cluster").toPandas()
    finally:
        sql.unregister(TABLE)
    cluster = assigned.sort_values(ROW)["behaviour_cluster"].to_numpy(dtype=int)
    return pd.Series(cluster, index=snapshots.index, name="behaviour_cluster")
