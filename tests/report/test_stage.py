"""The report stage end to end on the small pipeline profile and on a snapshot file: offline HTML and the champion's
model card (slow)."""

import html
import json
import re

import pytest
from conftest import SNAPSHOT_STAGES, snapshot_project

from churnlab.report.stage import find_notebooks

EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


def test_find_notebooks_expands_patterns_in_order_and_skips_missing(tmp_path):
    for name in ("2.0-b.ipynb", "1.0-a.ipynb", "1.1-c.ipynb"):
        (tmp_path / name).write_text("{}")
    found = find_notebooks(["2.0-*.ipynb", "1.*.ipynb", "9.0-*.ipynb", "2.0-b.ipynb"], folder=tmp_path)
    assert [p.name for p in found] == ["2.0-b.ipynb", "1.0-a.ipynb", "1.1-c.ipynb"]


@pytest.mark.slow
def test_report_html_is_offline_and_the_card_names_the_champion(pipeline_dir):
    pages = sorted((pipeline_dir / "reports/notebooks").glob("*.html"))
    assert any(p.name.startswith("5.0-") for p in pages)
    for page in [*pages, pipeline_dir / "reports/model_card.html"]:
        text = page.read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), f"{page.name}: {EXTERNAL.findall(text)[:3]}"
        assert "import(\"http" not in text
    register = json.loads((pipeline_dir / "reports/metrics/register.json").read_text())
    card = (pipeline_dir / "reports/model_card.md").read_text()
    assert f"version **{register['champion']}**" in card


@pytest.mark.slow
def test_monitoring_notebook_runs(pipeline_dir, run_notebook):
    notebook = run_notebook(pipeline_dir, "5.0-monitoring.ipynb")
    assert not [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if o.get("output_type") == "error"]


@pytest.mark.slow
def test_report_on_a_snapshot_renders_every_notebook_and_says_what_was_skipped(tmp_path):
    project = snapshot_project(tmp_path / "snapshot", stages=(*SNAPSHOT_STAGES, "segment", "score", "retention",
                                                              "monitor", "report"))
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
