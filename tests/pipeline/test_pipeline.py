"""End to end: `dvc repro` on the small test profile in a temporary copy of the repository."""

import json
import sys

import pandas as pd
import pytest
from conftest import run

from churnlab.contract.validation import validate_all
from churnlab.core import paths

pytestmark = pytest.mark.slow


def test_simulate_stage_runs_through_dvc(pipeline_dir):
    for table in ("customers", "monthly", "market", "churn_events", "campaigns"):
        assert (pipeline_dir / paths.RAW / f"{table}.parquet").exists()
    tables = {t: pd.read_parquet(pipeline_dir / paths.RAW / f"{t}.parquet")
              for t in ("customers", "monthly", "market", "churn_events", "campaigns")}
    validate_all(tables)
    metrics = json.loads((pipeline_dir / paths.METRICS / "data.json").read_text(encoding="utf-8"))
    assert 2700 < metrics["rows"]["customers"] <= 3000 and metrics["rows"]["market"] == 30  # minus burn-in leavers
    assert 0.0 < metrics["oracle"]["auc_mc_standard_error"] < 0.02
    assert "data:" in (pipeline_dir / "dvc.lock").read_text(encoding="utf-8")


def test_repro_again_is_a_no_op(pipeline_dir):
    status = run([sys.executable, "-m", "dvc", "status"], pipeline_dir)
    assert "up to date" in status.stdout
