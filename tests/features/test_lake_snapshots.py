"""Snapshots through the lake (`engine.spark.lake`): Spark writes every cutoff in one job and the manifest takes the
snapshot file's place; read back through `core.lake.read_rows` they are the local engine's snapshots, in its row
order and with its categories (floats to 1e-9, as in test_engines.py), with the same metrics and catalogue, on the
test profile's data. (Read in the order Spark's files came back, the same rows fitted other models: 442 metrics of a
250,000-customer benchmark differed; docs/benchmarks.md.)"""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from churnlab.contract.tables import connect
from churnlab.core import paths
from churnlab.core.engine import DuckDBSql, SparkSql
from churnlab.core.lake import read_manifest, read_rows
from churnlab.features.lake_snapshots import snapshot_schema
from churnlab.features.stage import CONTRACT_TABLES, run

pytestmark = pytest.mark.slow
# as test_engines.py: cutoffs at months 12, 21 and 30 of the profile's 30 (two for training)
FEATURES = {"first_cutoff_month": 12, "cutoff_every_months": 9, "catalogue": {"bins": 10, "amber_lift": 1.5,
                                                                              "red_lift": 2.0}}
CHURN = {"definition": "closure", "dormancy_months": 3, "value_drop_pct": 50.0, "value_window_months": 3,
         "partial_drop": 1}


def test_the_lake_holds_the_local_engines_snapshots(spark, pipeline_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    tables = {name: pipeline_dir / path for name, path in CONTRACT_TABLES.items()}
    on_duckdb = run(connect(tables, engine=DuckDBSql()), snapshots=tmp_path / "local.parquet", horizon_months=6,
                    churn=CHURN, **FEATURES)
    local = (pd.read_parquet(tmp_path / "local.parquet"), None, on_duckdb.tables[paths.INDICATORS], on_duckdb.metrics)
    manifest_path = tmp_path / "manifest.parquet"
    result = run(connect(tables, engine=SparkSql(spark)), snapshots=manifest_path, horizon_months=6, churn=CHURN,
                 lake="lake", **FEATURES)
    manifest = read_manifest(manifest_path)
    assert manifest.schema == snapshot_schema() and manifest.rows == len(local[0])
    assert pq.read_metadata(manifest_path).num_rows == 3  # one row per cutoff: the file DVC hashes stays tiny
    assert manifest.order == ("cutoff", "customer_id")
    # the local engine's rows in its order, with its categories in their order: a model fitted on them is the same
    pd.testing.assert_frame_equal(read_rows(manifest_path), local[0], check_exact=False, rtol=1e-9, atol=1e-12)
    training = read_rows(manifest_path, cutoffs=sorted(local[0]["cutoff"].unique())[:2], columns=["segment", "label"])
    pd.testing.assert_frame_equal(training, local[0].loc[local[0]["cutoff"] < local[0]["cutoff"].max(),
                                                         ["segment", "label"]].reset_index(drop=True))
    pd.testing.assert_frame_equal(result.tables[paths.INDICATORS], local[2], check_exact=False, rtol=1e-9,
                                  atol=1e-12)
    assert result.metrics == local[3]
