"""notebooks/2.0-survival-lifetimes.ipynb: runs on the small pipeline and tells the story."""

import json
import re

import pandas as pd
import pytest

from notebooks import code_cells, run_clean

NAME = "2.0-survival-lifetimes.ipynb"


@pytest.mark.slow
def test_survival_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook, text = run_clean(pipeline_dir, run_notebook, NAME)
    report = json.loads((pipeline_dir / "reports" / "metrics" / "survival.json").read_text())
    assert f"Best model (by {report['selected_by']}): {report['best_model']}" in text
    assert re.search(r"Median lifetime: (\d+|inf) months", text), text[:3000]
    ids = pd.read_parquet(pipeline_dir / "data" / "processed" / "clv.parquet")["customer_id"]
    assert not any(i in text for i in ids.head(500)), "the notebook printed raw customer ids"
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 6, f"expected a figure per chart, found {figures}"
