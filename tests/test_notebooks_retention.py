"""Notebook 4.0 (early warning and retention): runs on the small pipeline and tells the story."""

import json

import pandas as pd
import pytest

from notebooks import code_cells, run_clean

NAME = "4.0-early-warning-and-retention.ipynb"


@pytest.mark.slow
def test_retention_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook, text = run_clean(pipeline_dir, run_notebook, NAME)
    report = json.loads((pipeline_dir / "reports" / "metrics" / "retention.json").read_text())
    assert f"gain {report['survival']['rmst_gain_months']:.3f} months per contacted customer" in text
    assert "of the oracle's value retained" in text and "Profit-maximising share".lower() in text.lower()
    ids = pd.read_parquet(pipeline_dir / "data" / "raw" / "customers.parquet")["customer_id"]
    assert not any(i in text for i in ids), "the notebook printed raw customer ids"
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 5, f"expected a figure per chart, found {figures}"
