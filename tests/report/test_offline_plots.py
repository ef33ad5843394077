"""Offline DVC plots: specs from `dvc plots --json`, SVG pages and the inlined template (need vl-convert)."""

import pytest

from churnlab.report.html import external_references
from churnlab.report.offline_plots import vega_specs

PAYLOAD = {"data": {"psi": [{"type": "vega", "revisions": ["workspace"], "content": {
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "data": {"values": [{"month": "1", "psi": 0.01}, {"month": "2", "psi": 0.2}]},
    "mark": "line", "encoding": {"x": {"field": "month", "type": "ordinal"},
                                 "y": {"field": "psi", "type": "quantitative"}}}}],
    "img": [{"type": "image", "revisions": ["workspace"], "url": "x.png"}]}}


def test_vega_specs_keeps_vega_plots_only():
    assert list(vega_specs(PAYLOAD)) == ["psi"]


def test_svg_page_and_template_are_offline():
    pytest.importorskip("vl_convert", reason="vl-convert-python not installed (pin vl-convert-python==1.9.0.post1)")
    from churnlab.report.offline_plots import dvc_template, plots_page

    page = plots_page(vega_specs(PAYLOAD))
    assert "<svg" in page and external_references(page) == []
    template = dvc_template()
    assert "{plot_divs}" in template and "{scripts}" not in template and "window.vegaEmbed" in template
    assert external_references(template) == []
