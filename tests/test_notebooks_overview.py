"""notebooks/1.0-customer-overview.ipynb: saved clean, reads only contract tables, and runs on the small pipeline."""

import json
import re

import pytest
import yaml

from notebooks import code_cells, run_clean

NAME = "1.0-customer-overview.ipynb"


@pytest.mark.slow
def test_overview_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook, text = run_clean(pipeline_dir, run_notebook, NAME)
    match = re.search(r"annual churn rate: (\d+\.\d) %", text)
    assert match, f"the notebook did not print the annual churn rate; it printed:\n{text[:3000]}"
    reported = json.loads((pipeline_dir / "reports" / "metrics" / "simulate.json").read_text())["annual_churn_rate"]
    assert float(match.group(1)) == pytest.approx(100 * reported, abs=0.06)  # same definition, rounded to 0.1
    simulate = yaml.safe_load((pipeline_dir / "params.yaml").read_text())["simulate"]
    shock = re.search(r"shock month: \d{4}-\d{2} \(month (\d+) of (\d+)\)", text)
    assert shock, "the notebook detected no shock month"
    assert (int(shock.group(1)), int(shock.group(2))) == (simulate["shock_month"] + 1, simulate["n_months"])
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 10, f"expected a figure per chart, found {figures}"
