"""Snapshots in the lake under `dvc repro`, as users run it: with `engine.spark.lake` set, `features` writes the
snapshots with Spark into a versioned lake folder and DVC tracks their manifest at data/processed/snapshots.parquet,
the path every later stage depends on. A second `dvc repro` has nothing to do; a forced rerun of `features` writes
the same manifest bytes (no time stamp, the same version folder), so nothing downstream would rerun. (The stages'
reading through the manifest is `tests/core/test_lake.py`'s; stopping at `features` keeps this test short.)"""

import hashlib
import sys

import pytest
import yaml
from conftest import make_project, run

from churnlab.core.lake import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.alongside]  # a Spark pipeline: in make test's second process

DVC = [sys.executable, "-m", "dvc"]
# the test profile's 30 months, fewer customers
SMALL = {"simulate": {"n_customers": 1200, "n_months": 30, "shock_month": 22, "recession_month": 10,
                      "campaign_months": [12], "oracle_paths": 4, "oracle_survival_months": 12}}
SPARK_CONF = {"spark.ui.enabled": False, "spark.ui.showConsoleProgress": False, "spark.sql.shuffle.partitions": 2,
              "spark.driver.memory": "1g"}


def test_dvc_tracks_the_lake_through_its_manifest(tmp_path):
    pytest.importorskip("pyspark", reason="engine.spark.lake needs the spark extra: pip install -e '.[spark]'")
    lake = tmp_path / "lake"
    engine = {"engine": {"name": "spark", "spark": {"master": "local[2]", "remote": None, "conf": SPARK_CONF,
                                                    "lake": str(lake)}}}
    project = make_project(tmp_path / "project", SMALL | engine)
    run([*DVC, "repro", "features"], project)
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

    run([*DVC, "repro", "-f", "features"], project)
    assert hashlib.md5(manifest_file.read_bytes()).hexdigest() == md5  # same data: same bytes, same version
    assert "up to date" in run([*DVC, "status", "features"], project).stdout
