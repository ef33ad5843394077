"""One SQL text, two engines: the features stage gives the same snapshots, lifetimes, catalogue and metrics on DuckDB
(`engine.name: local`) and on Spark (`spark`, local[2]). Exact for ids, integers, flags, categories and dates;
floats to 1e-9 (the engines may sum in a different order). Spark is one session for the whole test session
(conftest.py's `spark`)."""

import json

import pandas as pd
import pytest
import yaml
from frames import random_tables

from churnlab.contract.tables import connect
from churnlab.core import paths
from churnlab.core.engine import DuckDBSql, SparkSql
from churnlab.features import stage
from churnlab.features.stage import CONTRACT_TABLES, run

pytestmark = pytest.mark.slow
# cutoffs at months 12, 21 and 30 of the profile's 30 (two for training): each Spark query costs seconds
FEATURES = {"first_cutoff_month": 12, "cutoff_every_months": 9, "catalogue": {"bins": 10, "amber_lift": 1.5,
                                                                              "red_lift": 2.0}}
CHURN = {"definition": "closure", "dormancy_months": 3, "value_drop_pct": 50.0, "value_window_months": 3,
         "partial_drop": 1}
def features_on(sql, tables: dict, target, *, horizon_months: int = 6, churn: dict = CHURN, **features):
    """run() on `sql` over `tables`; the snapshots (read back), lifetimes, catalogue and metrics."""
    result = run(connect(tables, engine=sql), snapshots=target, horizon_months=horizon_months, churn=churn,
                 **(FEATURES | features))
    return (pd.read_parquet(target), result.tables[paths.LIFETIMES], result.tables[paths.INDICATORS],
            result.metrics)


def assert_same(local, spark) -> None:
    for name, a, b in zip(("snapshots", "lifetimes", "catalogue"), local[:3], spark[:3], strict=True):
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12, obj=name)
    assert local[3] == spark[3]  # counts, and rates of counts


def test_both_engines_give_the_same_tables_on_the_test_profile(spark, pipeline_dir, tmp_path):
    tables = {name: pipeline_dir / path for name, path in CONTRACT_TABLES.items()}
    local = features_on(DuckDBSql(), tables, tmp_path / "local.parquet")
    on_spark = features_on(SparkSql(spark), tables, tmp_path / "spark.parquet")
    assert_same(local, on_spark)
    snapshots, _, _, metrics = local
    assert metrics["cutoffs"] == 3 and metrics["training_cutoffs"] == 2 and snapshots["cutoff"].nunique() == 3
    assert set(metrics["label_rate"]) == {"closure", "dormancy", "value", "partial"}  # every definition's labels


@pytest.mark.spark_connect
def test_spark_connect_gives_the_same_tables_as_duckdb(spark_connect, tmp_path):
    """engine.spark.remote: the same SQL sent over Spark Connect (gRPC) to a separate server process, on contract
    tables read from Parquet (60 random customers over 31 months: cutoffs at months 21 and 30, one labelled). Small
    tables, not the test profile's pipeline: this test runs in a pytest process of its own, which would build it
    again."""
    assert type(spark_connect).__module__.startswith("pyspark.sql.connect")  # a Connect client, not a local session
    tables = {}
    for name, frame in random_tables(0, n_customers=60, n_months=31).items():
        tables[name] = tmp_path / f"{name}.parquet"
        frame.to_parquet(tables[name])
    local = features_on(DuckDBSql(), tables, tmp_path / "local.parquet", first_cutoff_month=21)
    assert_same(local, features_on(SparkSql(spark_connect), tables, tmp_path / "connect.parquet",
                                   first_cutoff_month=21))
    assert local[0]["cutoff"].nunique() == 2


def test_a_missing_column_is_the_same_clear_error_on_spark(spark):
    frames = random_tables(3)
    frames["monthly"] = frames["monthly"].drop(columns="tx_count")
    with pytest.raises(Exception, match=r"monthly: missing column\(s\) \['tx_count'\] required by the features "
                                        r"stage") as raised:
        connect(frames, engine=SparkSql(spark))
    assert type(raised.value).__name__ == "ContractError"


def test_main_hands_params_engine_to_the_engine_in_one_hop(tmp_path, monkeypatch):
    """params.yaml `engine` -> main() -> open_engine, unchanged (recorded here, then run on DuckDB: no Spark)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    paths.RAW.mkdir(parents=True)
    paths.SOURCE.write_text(json.dumps({"source": "simulator", "time_axis": True, "campaigns": True, "oracle": True,
                                        "closures": True}), encoding="utf-8")
    for name, frame in random_tables(11, n_customers=6, n_months=12).items():
        frame.to_parquet(CONTRACT_TABLES[name], index=False)
    engine = {"name": "spark", "spark": {"master": "local[3]", "remote": None, "conf": {"spark.ui.enabled": False}}}
    paths.PARAMS.write_text(yaml.safe_dump({
        "base": {"seed": 1, "horizon_months": 3}, "engine": engine,
        "features": {"first_cutoff_month": 6, "cutoff_every_months": 2, "churn": CHURN,
                     "catalogue": FEATURES["catalogue"]}}), encoding="utf-8")
    opened = []

    def record(settings, **spill):
        opened.append(settings)
        return DuckDBSql(**spill)

    monkeypatch.setattr(stage, "open_engine", record)
    stage.main()
    assert opened == [engine]
    assert pd.read_parquet(paths.SNAPSHOTS)["cutoff"].nunique() == 4  # months 5..11 every 2, back from the last
