"""The score stage with `engine.name: spark`: the rows stay on Spark (`SparkRows`), its probabilities come from
`mlflow.pyfunc.spark_udf` on local[2], its reasons from Spark tasks and their medians from Spark's value counts, and
the list, the grade table, the migration and the metrics equal the local engine's; with `engine.spark.lake` set, the
list is in the lake and reports/early_warning.parquet is its manifest.

The champion is the tiny XGBoost model of the other score tests (isotonic-calibrated), logged to an MLflow store in
tmp_path and registered. The stage's `main()` on Spark runs in a child process: it stops the session it starts,
which would stop the test session's shared one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snapshot_frames import indicators, monthly_case

from churnlab.core import paths, tracking
from churnlab.core.engine import plain_categories
from churnlab.core.lake import read_manifest, read_rows
from churnlab.model.serving import log_churn_model
from churnlab.model.spark_scoring import SparkScorer
from churnlab.score.spark_rows import COLUMNS, SparkRows
from churnlab.score.stage import run

pytestmark = pytest.mark.slow  # Spark jobs and a child process: seconds each

ROOT = Path(__file__).resolve().parents[2]
NAME = "churnlab-churn"
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
SCORE = {**PARAMS["score"], "grades": {"labels": ["A", "B", "C"], "shares": [0.5, 0.3, 0.2]}}
SPARK = {"master": "local[2]", "remote": None,  # a small child session beside the tests' own
         "conf": {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 2, "spark.driver.memory": "1g"}}


def register(mlflow, model, rows: pd.DataFrame) -> str:
    """Log and register `model` with the alias champion, as the register stage does; the version's URI."""
    with mlflow.start_run(run_name="train"):
        uri = log_churn_model(mlflow, model, rows).model_uri
    version = mlflow.register_model(uri, NAME).version
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", version)
    return f"models:/{NAME}/{version}"


def segments_at(rows: pd.DataFrame, cutoff) -> pd.DataFrame:
    """Segment rows at the scoring cutoff: a bank segment and a CLV rising with the row number."""
    now = rows[rows["cutoff"] == cutoff]
    return pd.DataFrame({"customer_id": now["customer_id"].to_numpy(), "cutoff": now["cutoff"].to_numpy(),
                         "segment": "private", "clv": np.linspace(100.0, 20000.0, len(now)), "monthly_margin": 10.0})


@pytest.fixture(scope="module")
def monthly():
    """Snapshots at five cutoffs (the last unlabelled), a time split and a tiny calibrated champion."""
    return monthly_case()


def test_run_with_the_rows_on_spark_gives_the_local_list_tables_and_metrics(monthly, tmp_path, monkeypatch, spark):
    """`run` on the rows' keys and labels only, every probability, reason and median from the whole rows on Spark
    (`SparkRows`, 3 partitions), gives the local engine's list, tables and metrics. A tenth of the validation rows
    are unlabelled, so the validation part is found by the semi-join, the other parts as whole cutoffs."""
    rows, split, model, train = monthly
    rows = rows.copy()
    unlabelled = (rows["cutoff"] == split.validation[0]) & (rows.index % 10 == 0)
    rows.loc[unlabelled, "label"], rows.loc[unlabelled, "labeled"] = pd.NA, False
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # set_experiment sets it: gone again after the test
    monkeypatch.chdir(tmp_path)
    on_spark = SparkRows(spark.createDataFrame(plain_categories(rows)).repartition(3), rows[COLUMNS],
                         SparkScorer(spark, register(tracking.start(), model, train)))
    called = []

    def counted(method):
        def call(*args, **kwargs):
            called.append(method.__name__)
            return method(*args, **kwargs)
        return call

    arguments = {"split": split, "champion_version": 1, "key": b"k", **SCORE}
    segments = segments_at(rows, rows["cutoff"].max())
    local = run(rows, segments, indicators(), model, **arguments)
    spark_run = run(rows[COLUMNS], segments, indicators(), model, probability=counted(on_spark.probability),
                    explain=counted(on_spark.explain), medians=counted(on_spark.medians), **arguments)
    # validation, test, scoring and previous rows' probabilities, the scoring rows' reasons and their medians
    assert sorted(called) == ["explain", "medians", *["probability"] * 4]
    for table in (paths.EARLY_WARNING, paths.GRADE_TABLE, paths.GRADE_MIGRATION):
        pd.testing.assert_frame_equal(spark_run.tables[table], local.tables[table], check_exact=False, rtol=0,
                                      atol=1e-12)
    assert json.dumps(spark_run.metrics, sort_keys=True, default=str) == json.dumps(local.metrics, sort_keys=True,
                                                                                    default=str)
    assert local.tables[paths.EARLY_WARNING]["p_churn"].std() > 0.01  # rows differ: misalignment would show
    assert local.tables[paths.EARLY_WARNING]["reason_1"].nunique() > 5
    validation = split.parts(rows)["validation"]
    found = on_spark.at(validation.iloc[::-1]).select("customer_id").toPandas()["customer_id"]
    assert 0 < len(validation) < (rows["cutoff"] == split.validation[0]).sum()  # a part of its cutoff: the join
    assert sorted(found) == sorted(validation["customer_id"])


@pytest.fixture
def project(tmp_path, monkeypatch, monthly):
    """A project folder with the snapshots, segments, catalogue, split and a registered champion (the stage's
    inputs), params.yaml from the repository; returns the folder."""
    rows, split, model, train = monthly
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    for folder in ("mlruns", "data/processed", "data/raw", "reports", "models"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "data/raw/source.json").write_text(json.dumps(
        {"source": "simulator", "time_axis": True, "campaigns": True, "oracle": True}), encoding="utf-8")
    rows.to_parquet(paths.SNAPSHOTS, index=False)
    segments_at(rows, rows["cutoff"].max()).to_parquet(paths.SEGMENTS, index=False)
    indicators().to_csv(paths.INDICATORS, index=False)
    paths.SPLIT.write_text(json.dumps({"train": [str(t.date()) for t in split.train],
                                       "validation": [str(t.date()) for t in split.validation],
                                       "test": str(split.test.date())}), encoding="utf-8")
    register(tracking.start(), model, train)
    return tmp_path


def with_engine(folder: Path, engine: dict) -> None:
    params = {**PARAMS, "engine": engine, "score": SCORE}
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def outputs(folder: Path) -> dict:
    return {"list": read_rows(folder / paths.EARLY_WARNING), "table": pd.read_csv(folder / paths.GRADE_TABLE),
            "migration": pd.read_csv(folder / paths.GRADE_MIGRATION),
            "metrics": json.loads((folder / "reports/metrics/score.json").read_text(encoding="utf-8"))}


@pytest.mark.alongside  # a Spark child process of its own: make test's second process, to balance the lanes
def test_the_stage_on_spark_writes_the_local_outputs(project):
    from churnlab.score import stage

    with_engine(project, {"name": "local"})
    stage.main()
    local = outputs(project)
    (project / "dvc.yaml").write_text("stages: {}\n")  # a relative lake is found from the project root
    with_engine(project, {"name": "spark", "spark": {**SPARK, "lake": "lake"}})  # the list into the lake, too
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "churnlab.score"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = read_manifest(project / paths.EARLY_WARNING)  # the tracked file is now the list's manifest
    assert manifest.location == f"lake/early_warning/{manifest.hash}" and manifest.rows == len(local["list"])
    assert (project / manifest.location).is_dir() and (project / paths.EARLY_WARNING.with_suffix(".csv")).exists()
    on_spark = outputs(project)
    pd.testing.assert_frame_equal(on_spark["list"], local["list"], check_exact=False, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(on_spark["table"], local["table"], check_exact=False, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(on_spark["migration"], local["migration"])
    assert on_spark["metrics"] == local["metrics"]
    assert "scored" in done.stderr and "on Spark with models:/churnlab-churn/1" in done.stderr
    assert f"explained {len(local['list'])} rows in Spark tasks" in done.stderr
