"""notebooks/3.0-churn-model-comparison.ipynb: runs on the small pipeline, and on a snapshot's random split."""

import json
import re

import pandas as pd
import pytest
from notebook_runner import rendered

NAME = "3.0-churn-model-comparison.ipynb"
EXPLAINED = re.compile(r"^- (\w+) \(.*\): moves the log-odds by ([\d.]+) on average; "
                       r"(higher values raise the risk|higher values lower the risk|depends on the category)$", re.M)


def check_explanations(text: str, *, at_least: int) -> None:
    """The SHAP section explains the top features in plain words, largest average effect first."""
    rows = EXPLAINED.findall(text)
    assert len(rows) >= at_least, text[:3000]
    effects = [float(effect) for _, effect, _ in rows]
    assert effects == sorted(effects, reverse=True) and effects[0] > 0


@pytest.mark.slow
def test_models_notebook_runs_on_the_small_pipeline(pipeline_dir):
    text, shown = rendered(pipeline_dir, NAME)  # the report stage's page: the notebook ran there
    register = json.loads((pipeline_dir / "reports" / "metrics" / "register.json").read_text())
    assert f"Champion: {register['model_name']} version {register['champion']}" in text
    assert re.search(r"\d+ train run\(s\); the latest: 4 baselines, \d+ trials", text), text[:3000]
    assert "MLflow store: mlruns/mlflow.db" in text  # relative to the project: no machine path in a report
    check_explanations(text, at_least=10)  # the plain-words explanation of the top ten features
    ids = pd.read_parquet(pipeline_dir / "data" / "processed" / "snapshots.parquet", columns=["customer_id"])
    assert not any(i in text for i in ids["customer_id"].unique()[:500]), "the notebook printed raw customer ids"
    assert shown >= 3, f"expected the trials, calibration and SHAP figures, found {shown}"


@pytest.mark.slow
def test_models_notebook_judges_a_snapshot_on_its_random_test_customers(snapshot_report_dir):
    text, shown = rendered(snapshot_report_dir, NAME)  # the report stage's page: the notebook ran there
    outputs = snapshot_report_dir / "reports" / "metrics"
    evaluation = json.loads((outputs / "evaluate.json").read_text())
    register = json.loads((outputs / "register.json").read_text())
    assert json.loads((snapshot_report_dir / "models" / "split.json").read_text())["kind"] == "random"
    assert "The label: the file's churn flag (Exited = 1)" in text
    assert "The split: snapshot data has one date (2000-01-31), so no later month-end can be held out" in text
    assert f"Test set: {evaluation['rows']} held-out customers at {evaluation['cutoff']}" in text
    assert "The comparison with the best attainable model skipped: only simulated data" in text
    assert f"Champion: {register['model_name']} version {register['champion']}" in text
    scored = re.search(r"vs observed ([\d.]+)% on the held-out test customers \(([\d,]+) customers\)", text)
    assert scored, text[:3000]  # the notebook's own test part is the one evaluate scored
    assert int(scored.group(2).replace(",", "")) == evaluation["rows"]
    assert float(scored.group(1)) == pytest.approx(100 * evaluation["churn_rate"], abs=0.06)
    check_explanations(text, at_least=5)
    ids = pd.read_parquet(snapshot_report_dir / "data" / "processed" / "snapshots.parquet", columns=["customer_id"])
    assert not any(i in text for i in ids["customer_id"].unique()[:500]), "the notebook printed raw customer ids"
    assert shown >= 3, f"expected the trials, calibration and SHAP figures, found {shown}"
