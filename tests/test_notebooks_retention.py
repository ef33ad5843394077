"""Notebook 4.0 (early warning and retention): saved clean, reads pipeline outputs only, runs on the small pipeline."""

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from notebooks import code_cells, printed_text

NAME = "4.0-early-warning-and-retention.ipynb"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / NAME


def test_retention_notebook_writes_nothing_and_reads_pipeline_outputs_only():
    source = "\n".join(cell.source for cell in code_cells(nbformat.read(NOTEBOOK, as_version=4)))
    for forbidden in ("to_parquet", "to_csv", "savefig", "write_text", "open(", "ORACLE", "data/raw", "RAW"):
        assert forbidden not in source, f"{NAME} must only read pipeline outputs, but uses {forbidden!r}"


@pytest.mark.slow
def test_retention_notebook_runs_on_the_small_pipeline(pipeline_dir, run_notebook):
    notebook = run_notebook(pipeline_dir, NAME)
    errors = [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    text = printed_text(notebook)
    report = json.loads((pipeline_dir / "reports" / "metrics" / "retention.json").read_text())
    assert f"gain {report['survival']['rmst_gain_months']:.3f} months per contacted customer" in text
    assert "of the oracle's value retained" in text and "Profit-maximising share".lower() in text.lower()
    ids = pd.read_parquet(pipeline_dir / "data" / "raw" / "customers.parquet")["customer_id"]
    assert not any(i in text for i in ids), "the notebook printed raw customer ids"
    figures = sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)
    assert figures >= 5, f"expected a figure per chart, found {figures}"
