"""reports/index.html: the page a reader opens first. It links every report page, the model card and the DVC plots.

Links are relative to reports/, so the folder can be copied or mailed as a whole and still works offline. The page
states the facts of the run that do not depend on when it ran: the data source, the champion's registry version
and the latest monitoring verdict. It has no build date, so rebuilding the same outputs writes the same file.
"""

import html

from churnlab.report.model_card import CardInputs, card_source, skipped_part

STYLE = ("body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5;color:#222}"
         "h1{margin-bottom:0.2em}ul.facts{list-style:none;padding:0;color:#444}li{margin:0.3em 0}"
         "code{background:#f4f4f4;padding:0 0.2em}a{color:#1a5fb4}")
HOW_TO_PLOT = ("No static plots page yet. <code>python -m churnlab.report.offline_plots -o reports/plots.html</code> "
               "writes one (every DVC plot as an SVG, opens offline); <code>dvc plots show --html-template "
               "reports/dvc_plots_template.html</code> writes the interactive one to dvc_plots/index.html.")
NO_VL_CONVERT = ("Offline plots need vl-convert-python (<code>pip install vl-convert-python==1.9.0.post1</code>, "
                 "then <code>dvc repro report</code>); then <code>python -m churnlab.report.offline_plots -o "
                 "reports/plots.html</code> writes a static plots page.")


def facts(card: CardInputs) -> list[str]:
    """The run's date-free facts, one sentence each: the data source, the champion, the monitoring verdict."""
    source = card_source(card)
    champion = card.champion
    lines = [f"{source.describe()}." if source else "Data source: not recorded (data/raw/source.json is missing).",
             f"Champion model: {champion.get('name')} version {champion.get('version')} "
             f"(models:/{champion.get('name')}@champion)."]
    monitor = card.metrics.get("monitor", {})
    latest = monitor.get("latest", {})
    if skipped_part(monitor, "monitor"):
        lines.append(f"Not monitored: {skipped_part(monitor, 'monitor').rstrip('.')}.")
    elif latest:
        verdict = "recommended" if latest.get("retrain") else "not recommended"
        lines.append(f"Monitoring, latest month {latest.get('month')}: retraining {verdict}.")
    return lines


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def index_html(pages: dict[str, str], card: CardInputs, *, card_page: str, card_title: str, plots_page: str | None,
               offline_template: bool) -> str:
    """The index page: `pages` maps each report page's path (relative to reports/) to its title, in reading order;
    `plots_page` is the static plots page's path, or None to say how to make it (which needs vl-convert-python
    when `offline_template` is False)."""
    reports = "\n".join(f"<li>{_link(href, text)}</li>" for href, text in pages.items()) or \
        "<li>No notebook was rendered (see report.notebooks in params.yaml).</li>"
    plots = _link(plots_page, "DVC plots (static)") if plots_page else (HOW_TO_PLOT if offline_template
                                                                          else NO_VL_CONVERT)
    facts_list = "\n".join(f"<li>{html.escape(line)}</li>" for line in facts(card))
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Churn reports</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>Churn reports</h1>\n<ul class=\"facts\">\n{facts_list}\n</ul>\n"
            f"<h2>Reports</h2>\n<ul>\n{reports}\n</ul>\n"
            f"<h2>Model</h2>\n<ul>\n<li>{_link(card_page, card_title)}</li>\n</ul>\n"
            f"<h2>Plots</h2>\n<p>{plots}</p>\n</body></html>\n")
