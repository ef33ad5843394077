"""Notebook HTML opens offline: no external script, stylesheet or link left in any src or href."""

import re

import nbformat
import pytest

from churnlab.report.html import external_references, offline_html, to_html

EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_offline_html_strips_cdn_scripts_links_and_hyperlinks():
    page = ('<html><head><script src="https://cdn.example/require.js"></script>'
            '<link rel="stylesheet" href="http://cdn.example/a.css">'
            '<script type="module">const m = await import("https://cdn.example/mermaid.mjs");</script>'
            '<script>var local = 1;</script></head>'
            '<body><a href="https://doi.org/10.1/x">paper</a> <a href="#section">here</a></body></html>')
    clean = offline_html(page)
    assert not EXTERNAL.search(clean) and external_references(clean) == []
    assert "var local = 1;" in clean and 'href="#section"' in clean
    assert "paper &lt;https://doi.org/10.1/x&gt;" in clean


def test_nbconvert_export_has_no_external_url():
    """nbconvert's lab template loads require.js and MathJax from a CDN; the exported page must not."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Title\nSee [the paper](https://example.org) and $x^2$."),
                      nbformat.v4.new_code_cell("1 + 1", outputs=[nbformat.v4.new_output(
                          "execute_result", data={"text/plain": "2"}, execution_count=1)])]
    page = to_html(notebook)
    assert "<h1" in page and "Title" in page
    assert not EXTERNAL.search(page), EXTERNAL.findall(page)[:3]
    assert external_references(page) == []


@pytest.mark.slow
def test_execute_runs_a_notebook_with_papermill(tmp_path):
    from churnlab.report.html import execute

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import os\nprint(6 * 7)")]
    nbformat.write(notebook, tmp_path / "n.ipynb")
    executed = execute(tmp_path / "n.ipynb", tmp_path / "out.ipynb", timeout_s=120)
    assert "42" in executed.cells[0].outputs[0]["text"]
