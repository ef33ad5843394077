"""notebooks/2.0-survival-lifetimes.ipynb: runs on the small pipeline and on a snapshot file, and tells the story."""

import json
import re

import pandas as pd
import pytest
from conftest import snapshot_project
from notebook_runner import figures, rendered, run_clean

NAME = "2.0-survival-lifetimes.ipynb"


@pytest.mark.slow
def test_survival_notebook_runs_on_the_small_pipeline(pipeline_dir):
    text, shown = rendered(pipeline_dir, NAME)  # the report stage's page: the notebook ran there
    report = json.loads((pipeline_dir / "reports" / "metrics" / "survival.json").read_text())
    assert f"Best model (by {report['selected_by']}): {report['best_model']}" in text
    assert re.search(r"Median lifetime: (\d+ months|not reached)", text), text[:3000]
    ids = pd.read_parquet(pipeline_dir / "data" / "processed" / "clv.parquet")["customer_id"]
    assert not any(i in text for i in ids.head(500)), "the notebook printed raw customer ids"
    assert shown >= 6, f"expected a figure per chart, found {shown}"


@pytest.mark.slow
def test_survival_notebook_on_a_snapshot_uses_tenure_and_says_what_it_skips(snapshot_report_dir):
    text, shown = rendered(snapshot_report_dir, NAME)  # the report stage's page: the notebook ran there
    report = json.loads((snapshot_report_dir / "reports" / "metrics" / "survival.json").read_text())
    assert "Data source: snapshot" in text
    assert f"Caveat: {report['notes'][0]}" in text  # event times from a tenure column are approximate
    assert f"Best model (by {report['selected_by']}): {report['best_model']}" in text
    assert re.search(r"Median lifetime: (\d+ months|not reached)", text), text[:3000]
    assert "Competing churn types skipped: a snapshot's churn flag says only that a customer left, not how." in text
    assert f"Section 5 (customer lifetime value) skipped: {report['clv']['skipped']['clv']}" in text
    for group in ("geography", "is_active_member"):  # the file's own columns are the Kaplan-Meier groups
        assert group in text
    assert shown >= 4, f"expected the overall and group curves, hazard ratios and model curves, found {shown}"


@pytest.mark.slow
def test_survival_notebook_on_a_snapshot_without_tenure_says_why_once(tmp_path, run_notebook):
    project = snapshot_project(tmp_path / "no_tenure", tenure=None, stages=("data", "features", "survival"))
    notebook, text = run_clean(project, run_notebook, NAME)
    reason = json.loads((project / "reports" / "metrics" / "survival.json").read_text())["skipped"]["survival"]
    assert f"This notebook (survival analysis) skipped: {reason}" in text
    assert text.count("skipped") == 1, text  # one sentence, not one per section
    assert figures(notebook) == 0
