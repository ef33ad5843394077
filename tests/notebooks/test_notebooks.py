"""Every notebook is committed without outputs and tells its story from pipeline outputs without writing any."""

import ast
import re

import nbformat
import pytest
from notebook_runner import FOLDER, code_cells, source

NAMES = sorted(p.name for p in FOLDER.glob("*.ipynb"))


def test_the_five_story_notebooks_exist():
    assert [n.split("-")[0] for n in NAMES] == ["1.0", "2.0", "3.0", "4.0", "5.0"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_saved_with_outputs_stripped(name):
    notebook = nbformat.read(FOLDER / name, as_version=4)
    dirty = [i for i, cell in enumerate(code_cells(notebook)) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{name}: code cells {dirty} carry outputs or execution counts; strip them before committing"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_finds_the_project_root_and_writes_nothing(name):
    assert "find_root()" in source(name)  # paths resolve from the project root wherever the kernel starts
    for forbidden in ("to_parquet", "to_csv", "savefig", "write_text", "open(", "log_model", "register_model",
                      "ORACLE", "data/oracle"):  # notebooks read pipeline outputs, never the simulator's truth
        assert forbidden not in source(name), f"{name} must only read pipeline outputs, but uses {forbidden!r}"


TRANSLATED = NAMES  # every notebook tells its story in English and Chinese
CJK = re.compile(r"[\u4e00-\u9fff]")
FIGURE_WORDS = {"title", "label", "xlabel", "ylabel"}  # keyword arguments that put words on a figure


def syntax(name: str) -> ast.Module:
    """The notebook's code as Python (IPython magics left out)."""
    return ast.parse("\n".join(line for line in source(name).splitlines() if not line.lstrip().startswith("%")))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_takes_language_and_currency_as_papermill_parameters(name):
    notebook = nbformat.read(FOLDER / name, as_version=4)
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == notebook.cells[:1], f"{name}: the first cell, and only it, is tagged `parameters`"
    defaults: dict = {}
    exec(tagged[0].source, {}, defaults)  # the defaults `make lab` runs with
    assert defaults == {"language": "en", "currency": None}
    assert 'if language != "en":\n    use_chinese_font()' in source(name)


@pytest.mark.parametrize("name", NAMES)
def test_every_table_is_shown_in_the_report_language(name):
    calls = [node for node in ast.walk(syntax(name))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "readable"]
    assert calls or name not in TRANSLATED
    assert all({"language", "currency"} <= {k.arg for k in call.keywords} for call in calls), name


@pytest.mark.parametrize("name", TRANSLATED)
def test_figure_words_come_from_the_glossary_not_from_literals(name):
    def literal(node) -> bool:
        return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)

    calls = [node for node in ast.walk(syntax(name)) if isinstance(node, ast.Call)]
    keywords = [k.arg for call in calls for k in call.keywords if k.arg in FIGURE_WORDS and literal(k.value)]
    setters = [call.func.attr for call in calls if getattr(call.func, "attr", "").startswith(("set_title", "set_xl",
                                                                                            "set_yl"))
               and call.args and literal(call.args[0])]
    assert not keywords and not setters, f"{name}: figure words written in the code: {keywords + setters}"


@pytest.mark.parametrize("name", TRANSLATED)
def test_translated_notebook_tells_its_story_in_english_then_chinese(name):
    cells = [cell for cell in nbformat.read(FOLDER / name, as_version=4).cells if cell.cell_type == "markdown"]
    assert [cell.metadata.get("tags") for cell in cells] == [["lang-en"], ["lang-zh"]] * (len(cells) // 2)
    for en, zh in zip(cells[::2], cells[1::2], strict=True):
        levels = [re.findall(r"^(#+) ", cell.source, re.MULTILINE) for cell in (en, zh)]
        assert levels[0] == levels[1] and CJK.search(zh.source), zh.source[:60]
        names = [set(re.findall(r"`[^`]+`", cell.source)) for cell in (en, zh)]
        assert names[0] <= names[1], f"{zh.source[:40]}: the Chinese lacks {names[0] - names[1]}"
