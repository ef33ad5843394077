"""Helpers for the notebook tests: read a notebook's code cells and what they printed."""

from pathlib import Path

import nbformat

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def figures(notebook) -> int:
    """How many PNG figures the code cells displayed."""
    return sum("image/png" in output.get("data", {}) for cell in code_cells(notebook) for output in cell.outputs)


def printed_text(notebook) -> str:
    """Everything the code cells printed or displayed as text."""
    parts = []
    for cell in code_cells(notebook):
        for output in cell.outputs:
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def source(name: str) -> str:
    """The code of notebook `name` as committed."""
    return "\n".join(cell.source for cell in code_cells(nbformat.read(FOLDER / name, as_version=4)))


def run_clean(project, run_notebook, name: str):
    """Execute notebook `name` in the pipeline copy `project`, check no cell raised; return it and what it printed."""
    notebook = run_notebook(project, name)
    errors = [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]
    assert not errors, f"{name} raised: {errors}"
    return notebook, printed_text(notebook)
