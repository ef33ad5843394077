"""notebooks/3.0-churn-model-comparison.ipynb: saved clean, writes nothing, runs on the small pipeline."""

import json
import re

import pandas as pd
import pytest

from notebooks import code_cells, run_clean

NAME = "3.0-churn-model-comparison.ipynb"


@pytest.mark.slow
def test_models_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook, text = run_clean(pipeline_dir, run_notebook, NAME)
    register = json.loads((pipeline_dir / "reports" / "metrics" / "register.json").read_text())
    assert f"Champion: {register['model_name']} version {register['champion']}" in text
    assert re.search(r"\d+ train run\(s\); latest \w{8}: 4 baselines, \d+ trials", text), text[:3000]
    assert "higher values" in text or "depends on the category" in text  # the plain-words explanation
    ids = pd.read_parquet(pipeline_dir / "data" / "processed" / "snapshots.parquet", columns=["customer_id"])
    assert not any(i in text for i in ids["customer_id"].unique()[:500]), "the notebook printed raw customer ids"
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 3, f"expected the trials, calibration and SHAP figures, found {figures}"
