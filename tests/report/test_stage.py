"""The report stage: `run` on made-up pages and card inputs (fast), and end to end on the small pipeline profile and on
a snapshot file (slow): offline HTML and the champion's model card."""

import html
import io
import json
import re
import shutil
import sys

import mlflow
import pytest
from bs4 import BeautifulSoup
from conftest import run

from churnlab.report import stage as report
from churnlab.report.model_card import CardInputs, card_html
from churnlab.report.offline_plots import MissingVlConvert
from churnlab.report.stage import Page, find_notebooks

EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_find_notebooks_expands_patterns_in_order_and_skips_missing(tmp_path):
    for name in ("2.0-b.ipynb", "1.0-a.ipynb", "1.1-c.ipynb"):
        (tmp_path / name).write_text("{}")
    found = find_notebooks(["2.0-*.ipynb", "1.*.ipynb", "9.0-*.ipynb", "2.0-b.ipynb"], folder=tmp_path)
    assert [p.name for p in found] == ["2.0-b.ipynb", "1.0-a.ipynb", "1.1-c.ipynb"]


CARD = CardInputs(champion={"name": "churnlab-churn", "version": 3, "run_id": "abc", "tags": {}}, params={})


def test_run_returns_the_pages_the_card_the_template_and_the_index_with_a_summary():
    pages = {"1.0-overview.ipynb": Page("<p>café</p>", 12.5, "1.0 Customer overview")}
    result = report.run(pages, CARD, template="<html>{plot_divs}</html>")
    assert result.texts[report.HTML_DIR / "1.0-overview.html"] == "<p>café</p>"
    assert result.texts[report.PLOTS_TEMPLATE] == "<html>{plot_divs}</html>"
    assert "churnlab-churn version 3" in result.texts[report.MODEL_CARD]
    assert "<title>Model card: churnlab-churn v3</title>" in result.texts[report.MODEL_CARD.with_suffix(".html")]
    assert result.metrics == {"notebooks": {"1.0-overview.ipynb": {"html": "reports/notebooks/1.0-overview.html",
                                                                   "title": "1.0 Customer overview"}},  # no timing
                              "model_card_version": 3, "offline_plots_template": True}
    assert not result.tables and not result.figures and not result.skipped
    index = result.texts[report.INDEX]
    assert '<a href="notebooks/1.0-overview.html">1.0 Customer overview</a>' in index
    assert '<a href="model_card.html">Model card: churnlab-churn v3</a>' in index
    assert "python -m churnlab.report.offline_plots -o reports/plots.html" in index  # no static plots page yet
    assert '<a href="plots.html">' in report.run(pages, CARD, template="", static_plots=True).texts[report.INDEX]


def test_the_indicator_catalogue_is_written_in_the_report_language_with_machine_names_kept():
    import pandas as pd

    indicators = pd.DataFrame({"feature": ["age", "branch_visits"], "group": ["customer", "snapshot"],
                               "meaning": ["Age in years at t", "Visits (a file's own column)"],
                               "unit": ["years", "count"], "lookback_months": [0, 3], "iv": [0.01, 0.2]})
    card = CardInputs(champion=CARD.champion, params={}, indicators=indicators)
    assert report.CATALOGUE not in report.run({}, CARD, template="").texts  # no catalogue read: none written
    written = {language: pd.read_csv(io.StringIO(report.run({}, card, template="", language=language).texts[
        report.CATALOGUE])) for language in ("en", "zh")}
    zh = written["zh"].set_index("feature")
    assert zh.loc["age", ["group", "indicator"]].tolist() == ["客户属性指标", "年龄"]
    assert zh.loc["age", "meaning"].startswith("t月末的年龄") and zh.loc["age", "unit"] != "years"
    own = zh.loc["branch_visits", ["indicator", "meaning"]].tolist()  # a column the glossary does not know
    assert own == ["branch_visits", "Visits (a file's own column)"]
    assert written["en"].loc[0, "group"] == "Customer attribute indicators"
    assert list(written["en"].columns) == list(written["zh"].columns) and "iv" in written["zh"]


def test_every_link_of_the_index_is_a_file_the_stage_writes_or_the_plots_page():
    pages = {f"{n}.0-page.ipynb": Page("<p>x</p>", 1.0, f"Page {n}") for n in (1, 2, 5)}
    result = report.run(pages, CARD, template="", static_plots=True)
    hrefs = re.findall(r'href="([^"]+)"', result.texts[report.INDEX])
    written = {p.relative_to(report.paths.REPORTS).as_posix() for p in result.texts}
    assert set(hrefs) == {"notebooks/1.0-page.html", "notebooks/2.0-page.html", "notebooks/5.0-page.html",
                          "model_card.html", "plots.html"} and set(hrefs) - written == {"plots.html"}


def test_without_vl_convert_the_template_is_a_placeholder(monkeypatch):
    def missing():
        raise MissingVlConvert("offline DVC plots need vl-convert-python")

    monkeypatch.setattr(report, "dvc_template", missing)
    assert report.plots_template() is None
    result = report.run({}, CARD, template=None)
    assert result.texts[report.PLOTS_TEMPLATE] == report.NO_VL_CONVERT
    assert result.metrics["offline_plots_template"] is False and result.metrics["notebooks"] == {}


def test_a_page_that_still_phones_out_fails_the_stage_naming_the_notebook():
    pages = {"ok.ipynb": Page("<p>ok</p>", 1.0, "ok"),
             "2.0-bad.ipynb": Page('<script src="https://cdn.example.org/x.js"></script>', 1.0, "bad")}
    with pytest.raises(ValueError, match=r"2.0-bad.ipynb: external references left in the HTML"):
        report.run(pages, CARD, template=None)


@pytest.mark.slow
def test_report_html_is_offline_and_the_card_names_the_champion(pipeline_dir):
    pages = sorted((pipeline_dir / "reports/notebooks").glob("*.html"))
    rendered = json.loads((pipeline_dir / "reports/metrics/report.json").read_text())["notebooks"]
    assert [p.stem for p in pages] == [name.removesuffix(".ipynb") for name in rendered]
    assert [name.split("-")[0] for name in rendered] == ["1.0", "2.0", "3.0", "4.0", "5.0"]
    for page in [*pages, pipeline_dir / "reports/model_card.html", pipeline_dir / "reports/index.html"]:
        text = page.read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), f"{page.name}: {EXTERNAL.findall(text)[:3]}"
        assert "import(\"http" not in text
    for page in pages:  # reports, not notebooks: no code, no stderr (warnings), a real title
        text = page.read_text(encoding="utf-8")
        assert not BeautifulSoup(text, "html.parser").select(".jp-CodeCell .jp-InputArea"), page.name
        assert "find_root()" not in text  # the first cell of every notebook
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in text
        assert "DtypeWarning" not in text and "IProgress not found" not in text  # the warnings the issue saw
        assert f"<title>{html.escape(rendered[page.stem + '.ipynb']['title'])}</title>" in text
        assert "<title>Notebook</title>" not in text
    index = (pipeline_dir / "reports/index.html").read_text(encoding="utf-8")
    assert all(f'href="notebooks/{p.name}"' in index for p in pages) and 'href="model_card.html"' in index
    register = json.loads((pipeline_dir / "reports/metrics/register.json").read_text())
    card = (pipeline_dir / "reports/model_card.md").read_text()
    assert f"version **{register['champion']}**" in card

    client = mlflow.MlflowClient(f"sqlite:///{pipeline_dir / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("churnlab").experiment_id
    runs = client.search_runs([experiment], filter_string="attributes.run_name = 'report'")
    assert len(runs) == 1 and runs[0].data.metrics["model_card_version"] == register["champion"]
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "report")}
    assert artifacts == {"report/model_card.md", "report/model_card.html", "report/report.json"}


@pytest.mark.slow
def test_monitoring_notebook_runs(pipeline_dir):
    """On the page the pipeline's report stage rendered (it executed the notebook; a cell that raises fails it)."""
    from notebook_runner import rendered_errors

    report = json.loads((pipeline_dir / "reports/metrics/report.json").read_text())
    assert report["notebooks"]["5.0-monitoring.ipynb"]["html"] == "reports/notebooks/5.0-monitoring.html"
    assert not rendered_errors(pipeline_dir, "5.0-monitoring.ipynb")


@pytest.mark.slow
def test_report_on_a_snapshot_renders_every_notebook_and_says_what_was_skipped(snapshot_report_dir):
    project = snapshot_report_dir  # segment, score, retention, monitor and report run on the snapshot project's copy
    report = json.loads((project / "reports/metrics/report.json").read_text())
    assert [name.split("-")[0] for name in report["notebooks"]] == ["1.0", "2.0", "3.0", "4.0", "5.0"]
    monitor = json.loads((project / "reports/metrics/monitor.json").read_text())["skipped"]["monitor"]
    retention = json.loads((project / "reports/metrics/retention.json").read_text())["skipped"]

    def page(name: str) -> str:  # what a reader sees: the HTML's text, entities decoded
        return html.unescape(re.sub(r"<[^>]+>", "", (project / "reports/notebooks" / name).read_text()))

    assert f"This notebook (monitoring) skipped: {monitor}." in page("5.0-monitoring.html")
    retention_page = page("4.0-early-warning-and-retention.html")
    assert f"Section 3 (targeting policies) skipped: {retention['campaign']}." in retention_page
    assert f"Section 5 (win-back) skipped: {retention['winback']}." in retention_page
    card = (project / "reports/model_card.md").read_text()
    assert f"Not monitored: {monitor}." in card and "one row per customer at a single date" in card
    assert "oracle" not in card and "quarterly" not in card


def test_the_report_stage_writes_the_card_in_the_language_of_params():
    result = report.run({}, CARD, template=None, language="zh")
    assert result.texts[report.MODEL_CARD].startswith("# 模型卡：churnlab-churn 第3版")
    page = result.texts[report.MODEL_CARD.with_suffix(".html")]
    assert '<html lang="zh-CN">' in page and "<title>模型卡：churnlab-churn 第3版</title>" in page
    assert "<title>card</title>" in card_html("# x", title="card") and '<html lang="en">' in card_html("", title="")


@pytest.mark.parametrize(("key", "value", "sentence"), [
    ("language", "fr", 'report.language = "fr": must be en, zh or both'),
    ("currency", "USD", 'report.currency = "USD": must be CNY or EUR or null'),
])
def test_report_language_and_currency_are_checked_in_params(key, value, sentence):
    from conftest import ROOT
    from ruamel.yaml import YAML

    from churnlab.core.params import ParamsError, validate_params

    params = YAML(typ="safe", pure=True).load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert params["report"]["language"] == "en" and params["report"]["currency"] is None  # the defaults
    with pytest.raises(ParamsError, match=re.escape(sentence)):
        validate_params({**params, "report": {**params["report"], key: value}})


@pytest.mark.slow
def test_the_report_stage_on_a_chinese_setting_writes_a_chinese_card(snapshot_pipeline_dir, tmp_path):
    """`dvc exp run -S report.language=zh` in small: the report stage, run as DVC runs it, on params set to zh."""
    from ruamel.yaml import YAML

    project = tmp_path / "zh"
    shutil.copytree(snapshot_pipeline_dir, project, symlinks=True)  # the shared project stays English
    yaml = YAML(typ="rt")
    params = yaml.load(project / "params.yaml")
    params["report"].update(language="zh", notebooks=["no-such-*.ipynb"])  # the card only: notebooks take minutes
    yaml.dump(params, project / "params.yaml")
    run([sys.executable, "-m", "churnlab.report"], project)
    card = (project / "reports/model_card.md").read_text(encoding="utf-8")
    assert card.startswith("# 模型卡：") and "## 风险等级" in card and "金额单位：元。" in card
    assert '<html lang="zh-CN">' in (project / "reports/model_card.html").read_text(encoding="utf-8")
