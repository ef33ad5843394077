"""notebooks/2.0-survival-lifetimes.ipynb: saved clean, reads pipeline outputs only, runs on the small pipeline."""

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from notebooks import code_cells, printed_text

NAME = "2.0-survival-lifetimes.ipynb"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / NAME


def test_survival_notebook_writes_nothing_and_reads_pipeline_outputs_only():
    source = "\n".join(cell.source for cell in code_cells(nbformat.read(NOTEBOOK, as_version=4)))
    for forbidden in ("to_parquet", "to_csv", "savefig", "write_text", "open(", "ORACLE", "data/raw", "RAW"):
        assert forbidden not in source, f"{NAME} must only read pipeline outputs, but uses {forbidden!r}"


@pytest.mark.slow
def test_survival_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook = run_notebook(pipeline_dir, NAME)
    errors = [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    text = printed_text(notebook)
    report = json.loads((pipeline_dir / "reports" / "metrics" / "survival.json").read_text())
    assert f"Best model (by {report['selected_by']}): {report['best_model']}" in text
    assert re.search(r"Median lifetime: (\d+|inf) months", text), text[:3000]
    ids = pd.read_parquet(pipeline_dir / "data" / "processed" / "clv.parquet")["customer_id"]
    assert not any(i in text for i in ids.head(500)), "the notebook printed raw customer ids"
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 6, f"expected a figure per chart, found {figures}"
