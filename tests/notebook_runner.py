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


def rendered(project, name: str) -> tuple[str, int]:
    """What the page the report stage rendered from notebook `name` in `project` shows (reports/notebooks/<stem>.html):
    the text of its code cells' outputs, markdown left out, and how many PNG figures they drew.

    The pipeline's report stage executed the notebook for that page, and a cell that raises fails the stage
    (tests/report/test_html.py), so a test of the notebook on a pipeline that ran `report` reads the page instead of
    executing the notebook again. The page leaves out stderr and the other language's cells (`html.for_readers`).
    """
    from bs4 import BeautifulSoup

    page = BeautifulSoup((project / "reports" / "notebooks" / f"{Path(name).stem}.html").read_text(encoding="utf-8"),
                         "html.parser")
    outputs = page.select("div.jp-OutputArea-output")
    text = "\n".join(o.get_text() for o in outputs if "jp-RenderedImage" not in o.get("class", []))
    return text, sum(len(o.select('img[src^="data:image/png"]')) for o in outputs)


def rendered_errors(project, name: str) -> list[str]:
    """The error outputs on the report stage's page of notebook `name` (stderr streams are not on a page, so any
    output shown as stderr is a cell that raised)."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup((project / "reports" / "notebooks" / f"{Path(name).stem}.html").read_text(encoding="utf-8"),
                         "html.parser")
    shown_as_stderr = 'div.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    return [output.get_text() for output in page.select(shown_as_stderr)]
