"""Report pages in Chinese (slow): the zh pages of all five notebooks have Chinese headings, draw every glyph with the
CJK font, and show the same numbers as the English pages, which are the pipeline's. One pipeline run (the
session's `pipeline_dir`), its report stage rerun once in Chinese."""

import json
import re
import shutil
import sys

import nbformat
import pytest
from bs4 import BeautifulSoup

ACRONYMS = re.compile(r"AUC|ROC|PR|PSI|CSI|KS|ECE|EMPC|SHAP|CLV|MLflow|DVC|XGBoost|Cox|AFT|Kaplan-Meier")
PAGES = ["1.0-customer-overview", "2.0-survival-lifetimes", "3.0-churn-model-comparison",
         "4.0-early-warning-and-retention", "5.0-monitoring"]
NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
MISSING_GLYPH = re.compile(r"Glyph \d+ .*missing from font")


def soup(path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def table_numbers(page: BeautifulSoup) -> list[str]:
    """Every number in the page's tables, in order (labels and words left out)."""
    return [cell.get_text(strip=True) for table in page.find_all("table") for cell in table.find_all("td")
            if NUMBER.match(cell.get_text(strip=True))]


@pytest.fixture(scope="module")
def zh_project(pipeline_dir, tmp_path_factory):
    """The pipeline copy with `report` rerun on report.language = zh (every notebook, as params.yaml lists them)."""
    from conftest import run
    from ruamel.yaml import YAML

    project = tmp_path_factory.mktemp("zh") / "project"
    shutil.copytree(pipeline_dir, project, symlinks=True)
    yaml = YAML(typ="rt")
    params = yaml.load(project / "params.yaml")
    params["report"]["language"] = "zh"
    yaml.dump(params, project / "params.yaml")
    run([sys.executable, "-m", "churnlab.report"], project)
    return project


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_a_chinese_page_has_chinese_headings_and_the_english_page_s_numbers(zh_project, pipeline_dir, name):
    zh, en = soup(zh_project / f"reports/notebooks/{name}.html"), soup(pipeline_dir / f"reports/notebooks/{name}.html")
    assert zh.html["lang"] == "zh" and en.html["lang"] == "en"
    headings = [h.get_text(strip=True).rstrip("¶") for h in zh.find_all(re.compile("^h[1-6]$"))]
    assert headings and zh.title.get_text() == headings[0]
    english = [h for h in headings if re.search(r"[A-Za-z]", ACRONYMS.sub("", h))]
    assert not english, f"{name}: English left in the headings: {english}"
    assert table_numbers(zh) and table_numbers(zh) == table_numbers(en)


@pytest.mark.slow
def test_the_chinese_pages_show_the_pipeline_s_numbers_and_index(zh_project):
    monitor = json.loads((zh_project / "reports/metrics/monitor.json").read_text())
    evaluation = json.loads((zh_project / "reports/metrics/evaluate.json").read_text())
    numbers = table_numbers(soup(zh_project / "reports/notebooks/5.0-monitoring.html"))
    assert str(round(monitor["simulator"]["false_alarm_rate"], 3)) in numbers  # readable's 3 digits
    comparison = table_numbers(soup(zh_project / "reports/notebooks/3.0-churn-model-comparison.html"))
    assert str(round(evaluation["baselines"]["forest"]["roc_auc"], 4)) in comparison  # the table's 4 digits
    index = soup(zh_project / "reports/index.html")
    assert index.html["lang"] == "zh-CN" and index.title.get_text() == "客户流失分析报告"


@pytest.mark.slow
def test_a_chinese_notebook_draws_every_glyph(pipeline_dir, tmp_path, monkeypatch):
    """Warnings shown (the report's kernel ignores them): a Chinese title without the CJK font warns, no page in zh."""
    from conftest import project_env

    from churnlab.report import html

    hermetic = html.kernel_environment
    monkeypatch.setattr(html, "kernel_environment", lambda scratch: {
        key: value for key, value in hermetic(scratch).items() if key != "PYTHONWARNINGS"})
    for key, value in project_env(pipeline_dir).items():
        monkeypatch.setenv(key, value)

    def stderr(notebook) -> str:
        return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
                       if o.get("name") == "stderr")

    bare = tmp_path / "bare.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nplt.title('客户流失')\nplt.show()")]), bare)
    assert MISSING_GLYPH.search(stderr(html.execute(bare, tmp_path / "bare.out.ipynb", timeout_s=120)))
    for name in PAGES:
        executed = html.execute(pipeline_dir / f"notebooks/{name}.ipynb", tmp_path / f"{name}.ipynb",
                                parameters={"language": "zh", "currency": None}, timeout_s=600)
        assert not MISSING_GLYPH.search(stderr(executed)), name
        assert any("image/png" in o.get("data", {}) for c in executed.cells for o in c.get("outputs", [])), name
