"""Notebook HTML is a report that opens offline: no external script, stylesheet or link left in any src or href, no
code, no stderr or warning, a title from the first heading; an error output fails it.

The fast tests render small notebooks written here (outputs made up, no kernel); the slow ones execute them."""

import re

import nbformat
import pytest
from bs4 import BeautifulSoup

from churnlab.report.html import external_references, for_readers, kernel_environment, offline_html, title, to_html

SOURCE = "secret_source_marker = 6 * 7"
WARNING = "ipykernel_1/2.py:3: DtypeWarning: Columns (29) have mixed types."
STDERR = 'data-mime-type="application/vnd.jupyter.stderr"'  # an output; the CSS names it too


def stream(name: str, text: str):
    return nbformat.v4.new_output("stream", name=name, text=text)


def tiny_notebook():
    """A set-up cell without output, a heading, and a cell that printed, warned and displayed a table."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import os; os.chdir('..')"),
        nbformat.v4.new_markdown_cell("Intro.\n\n# 5.0 Monitoring: *drift*, `decay` and [alerts](https://example.org)"),
        nbformat.v4.new_code_cell(f"{SOURCE}\nprint('hello reader')", outputs=[
            stream("stdout", "hello reader\n"), stream("stderr", WARNING),
            nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><td>0.125</td></tr></table>",
                                                         "text/plain": "0.125"})]),
        nbformat.v4.new_markdown_cell("## A later heading")]
    return notebook


def code_cells(page: str) -> list:
    return BeautifulSoup(page, "html.parser").select("div.jp-CodeCell")

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
    page = to_html(notebook, name="n.ipynb")
    assert "<h1" in page and "Title" in page
    assert not EXTERNAL.search(page), EXTERNAL.findall(page)[:3]
    assert external_references(page) == []


def test_the_page_shows_outputs_and_markdown_without_code_stderr_or_warnings():
    page = to_html(tiny_notebook(), name="5.0-monitoring.ipynb")
    cells = code_cells(page)
    assert len(cells) == 1, "the code cell without output is left out"
    assert not cells[0].select(".jp-InputArea, .jp-InputPrompt, .jp-OutputPrompt"), "no code, no [n]: prompts"
    assert "secret_source_marker" not in page and "os.chdir" not in page
    assert "hello reader" in page and "<td>0.125</td>" in page and "A later heading" in page
    assert STDERR not in page and "DtypeWarning" not in page and "/tmp/" not in page
    assert "<title>5.0 Monitoring: drift, decay and alerts</title>" in page
    assert external_references(page) == []


def test_for_readers_leaves_the_executed_notebook_as_it_was():
    notebook = tiny_notebook()
    page = for_readers(notebook, name="n.ipynb")
    assert len(notebook.cells) == 4 and len(notebook.cells[2].outputs) == 3 and "title" not in notebook.metadata
    assert [o.get("name") for o in page.cells[1].outputs] == ["stdout", None]
    assert page.metadata["title"] == "5.0 Monitoring: drift, decay and alerts"


@pytest.mark.parametrize(("markdown", "expected"), [
    (["# Plain"], "Plain"),
    (["No heading here", "text\n### Third level ###"], "Third level"),
    (["#hashtag, not a heading", "   ## Indented *a* <b>b</b> `c` [d](e.html) ![f](g.png)"], "Indented a b c d f"),
    (["Churn < 5 %", "# Churn < 5 % & more"], "Churn < 5 % & more"),
    (["# `monitor_psi` and __bold__ _it_"], "monitor_psi and bold it"),
])
def test_the_title_is_the_first_heading_as_plain_text(markdown, expected):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("# a comment, not a heading"),
                      *map(nbformat.v4.new_markdown_cell, markdown)]
    assert title(notebook) == expected


def test_a_notebook_without_heading_is_titled_by_its_name_and_the_title_is_escaped():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("just text")]
    assert title(notebook) is None
    assert "<title>9.0-notes.ipynb</title>" in to_html(notebook, name="9.0-notes.ipynb")
    notebook.cells.append(nbformat.v4.new_markdown_cell("# Churn < 5 % & more"))
    assert "<title>Churn &lt; 5 % &amp; more</title>" in to_html(notebook, name="n.ipynb")


def test_an_error_output_fails_the_page_naming_the_notebook_and_the_cell():
    notebook = tiny_notebook()
    notebook.cells[2].outputs.append(nbformat.v4.new_output("error", ename="KeyError", evalue="'churn'",
                                                            traceback=["KeyError: 'churn'"]))
    with pytest.raises(ValueError, match=r"5.0-monitoring.ipynb: cell 2 raised KeyError: 'churn'"):
        to_html(notebook, name="5.0-monitoring.ipynb")


def test_the_kernel_runs_with_warnings_ignored(tmp_path):
    assert kernel_environment(tmp_path)["PYTHONWARNINGS"] == "ignore"


def write_notebook(path, *sources: str):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# Tiny report"), *map(nbformat.v4.new_code_cell, sources)]
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_execute_runs_a_notebook_with_papermill_and_warnings_stay_out(tmp_path):
    from churnlab.report.html import execute

    write_notebook(tmp_path / "n.ipynb", "import os\nprint(6 * 7)",
                   "import sys, warnings\nfrom pandas.errors import DtypeWarning\nfrom tqdm import TqdmWarning\n"
                   "warnings.warn('mixed types', DtypeWarning)\nwarnings.warn('IProgress not found', TqdmWarning)\n"
                   "sys.stderr.write('a log line\\n')")
    executed = execute(tmp_path / "n.ipynb", tmp_path / "out.ipynb", timeout_s=120)
    assert "42" in executed.cells[1].outputs[0]["text"]
    stderr = "".join(o.get("text", "") for o in executed.cells[2].outputs)
    assert "Warning" not in stderr and "a log line" in stderr, "warnings filtered in the kernel, stderr still written"
    page = to_html(executed, name="n.ipynb")
    assert "a log line" not in page and STDERR not in page and "<title>Tiny report</title>" in page


@pytest.mark.slow
def test_a_cell_that_raises_fails_the_report(tmp_path):
    from churnlab.report.stage import render_notebooks

    write_notebook(tmp_path / "1.0-ok.ipynb", "print('fine')")
    write_notebook(tmp_path / "2.0-bad.ipynb", "import warnings\nwarnings.warn('ignored')\nraise KeyError('churn')")
    pages = render_notebooks(["1.0-*.ipynb"], folder=tmp_path, timeout_s=120)
    assert pages["1.0-ok.ipynb"].title == "Tiny report" and "fine" in pages["1.0-ok.ipynb"].html
    with pytest.raises(Exception, match="KeyError"):  # papermill's PapermillExecutionError, from a worker process
        render_notebooks(["*.ipynb"], folder=tmp_path, timeout_s=120, workers=2)
    write_notebook(tmp_path / "2.0-bad.ipynb", "print('also fine')")
    both = render_notebooks(["2.0-*.ipynb", "1.0-*.ipynb"], folder=tmp_path, timeout_s=120, workers=2)
    assert list(both) == ["2.0-bad.ipynb", "1.0-ok.ipynb"] and "also fine" in both["2.0-bad.ipynb"].html  # in order


def test_printed_chunks_are_joined_so_the_page_is_the_same_every_run():
    import nbformat

    from churnlab.report.html import coalesce_streams

    out = nbformat.v4.new_output
    chunks = [out("stream", name="stdout", text="a\n"), out("stream", name="stdout", text="b\n"),
              out("display_data", data={"text/plain": "x"}), out("stream", name="stdout", text="c\n")]
    joined = coalesce_streams(chunks)
    assert [o.get("text") for o in joined] == ["a\nb\n", None, "c\n"]
    assert chunks[0]["text"] == "a\n"  # the executed notebook itself is left as it was


def bilingual_notebook():
    """A heading and a paragraph written in English and in Chinese (cells tagged lang-en, lang-zh) and a table."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_markdown_cell
    notebook.cells = [cell("# 5.0 Monitoring", metadata={"tags": ["lang-en"]}),
                      cell("# 5.0 模型监控", metadata={"tags": ["lang-zh"]}),
                      nbformat.v4.new_code_cell("x", outputs=[stream("stdout", "0.125\n")]),
                      cell("Drift *only*.", metadata={"tags": ["lang-en"]}),
                      cell("仅看漂移。", metadata={"tags": ["lang-zh"]}),
                      cell("Untagged note.")]
    return notebook


@pytest.mark.parametrize(("language", "lang", "shown", "hidden"), [
    ("en", "en", ["5.0 Monitoring", "Drift", "Untagged note."], ["模型监控", "仅看漂移"]),
    ("zh", "zh", ["5.0 模型监控", "仅看漂移。", "Untagged note."], ["5.0 Monitoring", "Drift"]),
    ("both", "zh", ["5.0 Monitoring", "5.0 模型监控", "Drift", "仅看漂移。"], []),
])
def test_a_page_keeps_the_narrative_of_its_language_and_says_which_it_is(language, lang, shown, hidden):
    page = to_html(bilingual_notebook(), name="5.0-monitoring.ipynb", language=language)
    text = BeautifulSoup(page, "html.parser")
    assert text.html["lang"] == lang and "0.125" in text.get_text()
    assert all(words in text.get_text() for words in shown)
    assert not [words for words in hidden if words in text.get_text()]
    assert text.title.get_text() == ("5.0 模型监控" if language == "zh" else "5.0 Monitoring")


def test_the_title_is_the_first_heading_of_the_language():
    assert title(bilingual_notebook(), "zh") == "5.0 模型监控" and title(bilingual_notebook()) == "5.0 Monitoring"
