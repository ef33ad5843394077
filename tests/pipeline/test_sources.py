"""Bring your own data: each source runs the pipeline through `dvc exp run` in a temporary copy of the repository
(small test profile), as the README's one command per source does, up to the stages the source changes. The
snapshot source's whole run is tests/pipeline/test_chinese_source.py: Churn_Modelling.csv as a GB18030 export."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_project, run

from churnlab.core import paths

pytestmark = pytest.mark.slow


def experiment(project: Path, settings: dict[str, object], targets: tuple[str, ...] = ()) -> Path:
    """Commit the copy (`dvc exp run` needs a commit) and run the pipeline, or up to `targets`, with `-S key=value`
    settings."""
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=project, check=True, capture_output=True)
    overrides = [arg for key, value in settings.items() for arg in ("-S", f"{key}={value}")]
    run([sys.executable, "-m", "dvc", "exp", "run", *overrides, *targets], project)
    return project


def metrics(project: Path, stage: str) -> dict:
    return json.loads((project / paths.METRICS / f"{stage}.json").read_text(encoding="utf-8"))


@pytest.mark.shared_data
def test_ledger_source_runs_through_evaluation_and_retention(tmp_path, shared_data):
    project = experiment(make_project(tmp_path / "ledger"), {
        "data.source": "ledger", "data.path": shared_data / "berka_pkdd99", "base.horizon_months": 3,
        "features.first_cutoff_month": 3, "features.cutoff_every_months": 1,
        "features.churn.definition": "dormancy"}, targets=("evaluate", "retention"))
    assert metrics(project, "data")["customers"] == 1197
    assert metrics(project, "features")["lifetime_events"] > 0
    assert metrics(project, "survival")["customers"]["events_train"] > 0
    assert 0.5 < metrics(project, "evaluate")["test"]["roc_auc"] <= 1.0
    assert "skipped" in json.dumps(metrics(project, "retention"))  # no campaigns, no closures


def test_contract_source_runs_through_evaluation_on_csv_tables(tmp_path, pipeline_dir):
    """The simulator's tables of the session pipeline, as a bank would hand them over: CSV, no campaigns."""
    folder = tmp_path / "bank"
    folder.mkdir()
    for table in ("customers", "monthly", "market", "churn_events"):
        pd.read_parquet(pipeline_dir / paths.RAW / f"{table}.parquet").to_csv(folder / f"{table}.csv", index=False)
    project = experiment(make_project(tmp_path / "contract"), {"data.source": "contract", "data.path": folder},
                         targets=("survival", "evaluate"))  # what a source changes; the rest is the simulator pipeline
    data = metrics(project, "data")
    assert data["rows"]["campaigns"] == 0 and data["customers"] == metrics(pipeline_dir, "data")["rows"]["customers"]
    assert not list((project / paths.ORACLE).glob("*.parquet"))
    assert "oracle" not in metrics(project, "evaluate") and "oracle_c_index" not in str(metrics(project, "survival"))
    assert metrics(project, "evaluate")["test"]["roc_auc"] > 0.7
