"""reports/index.html: the page a reader opens first. It links every report page, the model card and the DVC plots.

Links are relative to reports/, so the folder can be copied or mailed as a whole and still works offline. The page
states the facts of the run that do not depend on when it ran: the data source, the champion's registry version
and the latest monitoring verdict. It has no build date, so rebuilding the same outputs writes the same file.
Its title, headings and sentences are in the report language (words.yaml `pages`; both: English with the Chinese in
brackets); the data source's description, the commands and the reasons a stage recorded are quoted as written.
"""

import html

from churnlab.core.words import glossary, say
from churnlab.report.html import HTML_LANG
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


def _say(key: str, language: str, **fields) -> str:
    return say(glossary()["pages"][key], language, **fields)


def facts(card: CardInputs, language: str = "en") -> list[str]:
    """The run's date-free facts, one sentence each: the data source, the champion, the monitoring verdict."""
    source = card_source(card)
    champion = card.champion
    lines = [f"{source.describe()}." if source else "Data source: not recorded (data/raw/source.json is missing).",
             _say("champion", language, name=champion.get("name"), version=champion.get("version"))]
    monitor = card.metrics.get("monitor", {})
    latest = monitor.get("latest", {})
    if skipped_part(monitor, "monitor"):
        lines.append(_say("not_monitored", language, why=skipped_part(monitor, "monitor").rstrip(".")))
    elif latest:
        verdict = "retrain_yes" if latest.get("retrain") else "retrain_no"
        lines.append(_say(verdict, language, month=latest.get("month")))
    return lines


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def index_html(pages: dict[str, str], card: CardInputs, *, card_page: str, card_title: str, plots_page: str | None,
               offline_template: bool, language: str = "en") -> str:
    """The index page in `language`: `pages` maps each report page's path (relative to reports/) to its title, in
    reading order; `plots_page` is the static plots page's path, or None to say how to make it (which needs
    vl-convert-python when `offline_template` is False)."""
    words = {name: html.escape(_say(name, language)) for name in ("index_title", "reports", "model", "plots")}
    reports = "\n".join(f"<li>{_link(href, text)}</li>" for href, text in pages.items()) or \
        f"<li>{html.escape(_say('no_notebook', language))}</li>"
    plots = _link(plots_page, "DVC plots (static)") if plots_page else (HOW_TO_PLOT if offline_template
                                                                          else NO_VL_CONVERT)
    facts_list = "\n".join(f"<li>{html.escape(line)}</li>" for line in facts(card, language))
    return (f"<!DOCTYPE html>\n<html lang=\"{HTML_LANG[language]}\"><head><meta charset=\"utf-8\">"
            f"<title>{words['index_title']}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{words['index_title']}</h1>\n<ul class=\"facts\">\n{facts_list}\n</ul>\n"
            f"<h2>{words['reports']}</h2>\n<ul>\n{reports}\n</ul>\n"
            f"<h2>{words['model']}</h2>\n<ul>\n<li>{_link(card_page, card_title)}</li>\n</ul>\n"
            f"<h2>{words['plots']}</h2>\n<p>{plots}</p>\n</body></html>\n")
