"""notebooks/3.0-churn-model-comparison.ipynb: saved clean, writes nothing, runs on the small pipeline."""

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from notebooks import code_cells, printed_text

NAME = "3.0-churn-model-comparison.ipynb"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / NAME


def test_models_notebook_writes_nothing():
    source = "\n".join(cell.source for cell in code_cells(nbformat.read(NOTEBOOK, as_version=4)))
    for forbidden in ("to_parquet", "to_csv", "savefig", "write_text", "open(", "log_model", "register_model",
                      "set_registered_model_alias", "ORACLE", "data/raw"):
        assert forbidden not in source, f"{NAME} must only read pipeline outputs and MLflow, but uses {forbidden!r}"


@pytest.mark.slow
def test_models_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook = run_notebook(pipeline_dir, NAME)
    errors = [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    text = printed_text(notebook)
    register = json.loads((pipeline_dir / "reports" / "metrics" / "register.json").read_text())
    assert f"Champion: {register['model_name']} version {register['champion']}" in text
    assert re.search(r"\d+ train run\(s\); latest \w{8}: 4 baselines, \d+ trials", text), text[:3000]
    assert "higher values" in text or "depends on the category" in text  # the plain-words explanation
    ids = pd.read_parquet(pipeline_dir / "data" / "processed" / "snapshots.parquet", columns=["customer_id"])
    assert not any(i in text for i in ids["customer_id"].unique()[:500]), "the notebook printed raw customer ids"
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 3, f"expected the trials, calibration and SHAP figures, found {figures}"
