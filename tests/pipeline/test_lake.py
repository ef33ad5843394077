"""The lake under `dvc repro`, as users run it, in one project on the test profile with `engine.spark.lake` set.

`features` writes the snapshots with Spark into a versioned lake folder and DVC tracks their manifest at
data/processed/snapshots.parquet, the path every later stage depends on. A second `dvc repro` has nothing to do.
(That a rewrite of the same rows gives the same manifest bytes and version folder, so nothing downstream would
rerun, is tests/core/test_lake_spark.py's: a forced rerun here would cost a minute of CI.) Then the pipeline on to
`monitor`: `segment` writes the segments, `score` the early-warning list and `monitor` every twelfth month's scores
into the lake, each tracked through its manifest (`monitor` on Spark scores each month with the champion's Spark
UDF and counts it there: its one run under `dvc repro` in the suite). (Reading through a manifest is
`tests/core/test_lake.py`'s; stopping at `monitor` leaves out retention and the report.)"""

import hashlib
import sys

import pandas as pd
import pytest
import yaml
from conftest import make_project, run

from churnlab.core.lake import read_manifest, read_rows

pytestmark = [pytest.mark.slow, pytest.mark.alongside]  # a Spark pipeline: in make test's second process

DVC = [sys.executable, "-m", "dvc"]
SPARK_CONF = {"spark.ui.enabled": False, "spark.ui.showConsoleProgress": False, "spark.sql.shuffle.partitions": 2,
              "spark.driver.memory": "1g"}


@pytest.fixture(scope="module")
def lake_project(tmp_path_factory):
    """A project on the test profile with the Spark engine and a lake outside it, after `dvc repro features`."""
    pytest.importorskip("pyspark", reason="engine.spark.lake needs the spark extra: pip install -e '.[spark]'")
    root = tmp_path_factory.mktemp("lake")
    engine = {"engine": {"name": "spark", "spark": {"master": "local[2]", "remote": None, "conf": SPARK_CONF,
                                                    "lake": str(root / "lake")}},
              "monitor": {"every_months": 12}}  # 2 of the 18 months: each is a few Spark jobs on local[2]
    project = make_project(root / "project", engine)
    run([*DVC, "repro", "features"], project)
    return project, root / "lake"


def test_dvc_tracks_the_lake_through_its_manifest(lake_project):
    project, lake = lake_project
    manifest_file = project / "data" / "processed" / "snapshots.parquet"
    manifest = read_manifest(manifest_file)
    assert manifest is not None and manifest.location == f"{lake}/snapshots/{manifest.hash}"
    assert [p.name for p in (lake / "snapshots").iterdir()] == [manifest.hash]
    assert manifest_file.stat().st_size < 20_000  # what DVC hashes and caches: one row per cutoff
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    outs = {o["path"]: o["md5"] for o in lock["stages"]["features"]["outs"]}
    md5 = hashlib.md5(manifest_file.read_bytes()).hexdigest()
    assert outs["data/processed/snapshots.parquet"] == md5
    assert lock["stages"]["features"]["params"]["params.yaml"]["engine"]["spark"]["lake"] == str(lake)
    train = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["train"]
    assert "data/processed/snapshots.parquet" in train["deps"]  # so train follows the manifest

    again = run([*DVC, "repro", "features"], project)
    assert "didn't change, skipping" in again.stdout and "Running stage" not in again.stdout
    assert "up to date" in run([*DVC, "status", "features"], project).stdout


def test_segment_score_and_monitor_write_their_customer_rows_to_the_lake_under_dvc_repro(lake_project):
    """The pipeline on to `monitor` with the lake: the segments, the early-warning list and the monitored months'
    scores are in the lake, partitioned by cutoff and month, and DVC tracks their manifests; a second `dvc repro`
    has nothing to do."""
    project, lake = lake_project
    run([*DVC, "repro", "monitor"], project)
    lock = {o["path"]: o["md5"] for stage in yaml.safe_load((project / "dvc.lock").read_text())["stages"].values()
            for o in stage.get("outs", [])}
    for tracked, name, partition in (("data/processed/segments.parquet", "segments", "cutoff"),
                                     ("reports/early_warning.parquet", "early_warning", "cutoff"),
                                     ("data/processed/monitor_scores.parquet", "monitor_scores", "month")):
        manifest = read_manifest(project / tracked)
        assert manifest.location == f"{lake}/{name}/{manifest.hash}" and manifest.partition == partition
        assert lock[tracked] == hashlib.md5((project / tracked).read_bytes()).hexdigest()
        rows = read_rows(project / tracked)
        assert len(rows) == manifest.rows > 0
    warning = read_rows(project / "reports/early_warning.parquet")
    assert len(warning) == pd.read_csv(project / "reports/early_warning.csv").shape[0]
    months = read_rows(project / "data/processed/monitor_scores.parquet")
    assert months["month"].nunique() == len(read_manifest(project / "data/processed/monitor_scores.parquet").parts)
    again = run([*DVC, "repro", "monitor"], project)
    assert "Running stage" not in again.stdout
