"""notebooks/1.0-customer-overview.ipynb: saved clean, reads only contract tables, and runs on the small pipeline."""

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from notebooks import code_cells, printed_text

NAME = "1.0-customer-overview.ipynb"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / NAME


def test_overview_notebook_reads_no_ground_truth_and_writes_nothing():
    source = "\n".join(cell.source for cell in code_cells(nbformat.read(NOTEBOOK, as_version=4)))
    assert "os.chdir(find_root())" in code_cells(nbformat.read(NOTEBOOK, as_version=4))[0].source
    for forbidden in ("oracle", "ORACLE", "to_parquet", "to_csv", "savefig", "write_text", "open("):
        assert forbidden not in source, f"{NAME} must only read contract tables, but uses {forbidden!r}"


@pytest.mark.slow
def test_overview_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook = run_notebook(pipeline_dir, NAME)
    errors = [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    text = printed_text(notebook)
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
