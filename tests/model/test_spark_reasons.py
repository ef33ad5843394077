"""The early-warning list's reasons on Spark (`reasons_on_spark`) are the local engine's (`reasons_of`) exactly:
the same texts, features, directions and TreeSHAP doubles, in the rows' order and with their index, whatever the
partitions, on a classic session and over Spark Connect."""

import numpy as np
import pandas as pd
import pytest
from snapshot_frames import churn_model, indicators, snapshots

from churnlab.model.reasons import reason_labels, reasons_of, reference_values
from churnlab.model.spark_reasons import reasons_on_spark

pytestmark = pytest.mark.slow  # Spark jobs: seconds each


@pytest.fixture(scope="module")
def case():
    """A calibrated tiny champion, the last cutoff's rows (index not 0..n-1; some categories, incomes and digital
    shares missing), the catalogue's words and the medians of the earlier cutoffs."""
    rows = snapshots(400, seed=5)
    cutoffs = sorted(rows["cutoff"].unique())
    train, validation = (rows[rows["cutoff"] == t] for t in cutoffs[:2])
    model = churn_model(train, calibrate_on=validation)
    scoring = rows[rows["cutoff"] == cutoffs[-1]].copy()
    scoring.loc[scoring.index[::7], "occupation"] = np.nan
    reference = reference_values(rows[rows["cutoff"] < cutoffs[-1]], model.features)
    return model, scoring, {"labels": reason_labels(indicators()), "reference": reference}


@pytest.mark.parametrize(("partitions", "top"), [(1, 3), (3, 3), (3, 60)])
def test_the_reasons_on_spark_are_the_local_ones(any_spark, case, partitions, top):
    """60 ranks is more than the champion's features: every feature is ranked, and later ranks are empty."""
    model, scoring, words = case
    local = reasons_of(model, scoring, top=top, **words)
    on_spark = reasons_on_spark(any_spark, model, scoring, top=top, partitions=partitions, **words)
    pd.testing.assert_frame_equal(on_spark, local, check_exact=True)
    assert on_spark.index.equals(scoring.index) and scoring.index[0] > 0  # the rows' own index, not 0..n-1
    assert local["reason_1"].notna().all() and local["reason_1_shap"].nunique() > 100  # misaligned rows would differ
    last = len(local.columns) // 4
    assert last == min(top, len(model.features)) and (local[f"reason_{last}"].isna().any() or top == 3)
