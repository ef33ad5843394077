"""The report stage end to end on the small pipeline profile: offline HTML and the champion's model card (slow)."""

import json
import re

import pytest

from churnlab.report import find_notebooks

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
