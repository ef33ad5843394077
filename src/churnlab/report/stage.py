"""The `report` stage: the notebooks as offline HTML, the champion's model card, and an offline DVC plots template.

- Each notebook matching a glob pattern of `report.notebooks` is executed with papermill (from notebooks/, so it reads
  the pipeline outputs of this run) and exported to reports/notebooks/<name>.html: one self-contained report,
  figures embedded, no CDN, no code, no warnings or stderr, titled by the notebook's first heading
  (`churnlab.report.html`), that anyone can open offline. A pattern without a match is skipped with a log line; a
  notebook that fails (an error output) fails the stage.
- reports/index.html (`churnlab.report.index`): the page to open first, linking every report page, the model card and
  the static DVC plots page (or saying how to make it), with the run's data source and champion version.
- reports/model_card.md and .html (`churnlab.report.model_card`) for the champion of the MLflow registry, describing the
  data source that ran (data/raw/source.json) and, for each part a stage skipped there, why.
- reports/dvc_plots_template.html for `dvc plots show --html-template ...` offline (`churnlab.report.offline_plots`;
  without vl-convert-python the template says how to get it instead of plotting).

`main` executes the notebooks and gathers the card's inputs (the reading); `run` turns them into the files (pure), and
`churnlab.core.outputs.write_result` writes them, then reports/metrics/report.json (what was rendered, the card's
version, whether the plots template is offline), and logs an MLflow run named `report` with the model card.
Run with `python -m churnlab.report`.
"""

import logging
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

from churnlab.core import paths
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.core.words import catalogue_words
from churnlab.report.html import execute, external_references, title, to_html
from churnlab.report.index import index_html
from churnlab.report.model_card import CardInputs, card_html, card_text, gather_inputs, render_card
from churnlab.report.offline_plots import MissingVlConvert, dvc_template

log = logging.getLogger(__name__)

NOTEBOOKS = Path("notebooks")
HTML_DIR = paths.REPORTS / "notebooks"
MODEL_CARD = paths.REPORTS / "model_card.md"
PLOTS_TEMPLATE = paths.REPORTS / "dvc_plots_template.html"
INDEX = paths.REPORTS / "index.html"
CATALOGUE = paths.REPORTS / "indicator_catalogue.csv"  # the early-warning indicators in the report language
STATIC_PLOTS = paths.REPORTS / "plots.html"  # `python -m churnlab.report.offline_plots -o reports/plots.html`
NO_VL_CONVERT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>DVC plots</title>{refresh_tag}</head><body>
<p><b>Offline plots need vl-convert-python</b> (pip install vl-convert-python==1.9.0.post1, then
<code>dvc repro report</code>): this template has no Vega libraries, so the plots below stay blank.</p>
{plot_divs}
</body></html>
"""


def find_notebooks(patterns: list[str], *, folder: Path) -> list[Path]:
    """The notebooks matching each glob pattern in `folder`, in the order of the patterns (no duplicates)."""
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if not matches:
            log.info("skip %s: no notebook in %s matches", pattern, folder)
        found += [m for m in matches if m not in found]
    return found


class Page(NamedTuple):
    """A notebook executed and exported as an offline HTML report, the seconds that took, and the page's title."""

    html: str
    seconds: float
    title: str


def render_page(source: Path, scratch: Path, *, timeout_s: int, language: str, currency: str | None) -> Page:
    """Execute one notebook into `scratch` and export it as an offline HTML page in `language`."""
    started = time.perf_counter()
    executed = execute(source, scratch / source.name, timeout_s=timeout_s,
                       parameters={"language": language, "currency": currency})
    return Page(to_html(executed, name=source.name, language=language), round(time.perf_counter() - started, 1),
                title(executed, language) or source.name)


def render_notebooks(patterns: list[str], *, folder: Path, timeout_s: int, language: str = "en",
                     currency: str | None = None, workers: int = 1) -> dict[str, Page]:
    """Execute the notebooks matching `patterns` in `folder` with papermill (they read the pipeline's outputs, so
    this is the stage's reading of its inputs), `language` and `currency` (report.language, report.currency) passed
    as parameters, and export each as one offline HTML page in that language, by notebook file name (in pattern
    order). `workers` processes render pages side by side (each notebook runs in its own kernel, so the pages do
    not depend on it); the first notebook that fails raises its error."""
    sources = find_notebooks(patterns, folder=folder)
    pages = {}
    with (tempfile.TemporaryDirectory(prefix="churnlab-report-") as scratch,
          ProcessPoolExecutor(max_workers=max(1, min(workers, len(sources))),
                              mp_context=multiprocessing.get_context("spawn")) as pool):
        futures = {source.name: pool.submit(render_page, source, Path(scratch), timeout_s=timeout_s,
                                            language=language, currency=currency) for source in sources}
        for name, future in futures.items():
            pages[name] = future.result()
            log.info("%s rendered (%.0f s, %.1f MB)", name, pages[name].seconds, len(pages[name].html.encode()) / 1e6)
    return pages


def plots_template() -> str | None:
    """The offline DVC plots template, or None without vl-convert-python (logged)."""
    try:
        return dvc_template()
    except MissingVlConvert as error:
        log.warning("%s: %s is a placeholder", error, PLOTS_TEMPLATE)
        return None


def notebook_pages(pages: dict[str, Page]) -> tuple[dict[Path, str], dict[str, dict]]:
    """reports/notebooks/<stem>.html for each page, and report.json's summary per notebook.

    Raises ValueError naming the notebook when a page still references another site: `offline_html` should have
    removed them all, and a page that phones out must never ship.
    """
    texts, summary = {}, {}
    for name, page in pages.items():
        external = external_references(page.html)
        if external:
            raise ValueError(f"{name}: external references left in the HTML: {external[:3]}")
        target = HTML_DIR / f"{Path(name).stem}.html"
        texts[target] = page.html
        summary[name] = {"html": target.as_posix(), "title": page.title}  # no timing: report.json is a DVC output
    return texts, summary


def run(pages: dict[str, Page], card: CardInputs, *, template: str | None, static_plots: bool = False,
        language: str = "en", currency: str | None = None) -> StageResult:
    """The report's files: the notebook pages, the champion's model card (Markdown and HTML, in `language` with money
    labelled in `currency`: params.yaml `report`), the DVC plots template (a placeholder saying how to get
    vl-convert-python when `template` is None), the index linking them all (and reports/plots.html when
    `static_plots`: it exists) and, with the card's indicator catalogue (reports/indicators.csv), that catalogue for
    readers: each indicator's group, name, meaning and unit in `language` (`catalogue_words`; `feature` keeps the
    machine name)."""
    texts, summary = notebook_pages(pages)
    markdown = render_card(card, language=language, currency=currency)
    version = card.champion["version"]
    card_title = card_text("page_title", "en" if language == "both" else language, name=card.champion["name"],
                           version=version)
    index = index_html({Path(s["html"]).relative_to(paths.REPORTS).as_posix(): s["title"] for s in summary.values()},
                       card, card_page=MODEL_CARD.with_suffix(".html").name, card_title=card_title,
                       plots_page=STATIC_PLOTS.name if static_plots else None, offline_template=template is not None,
                       language=language)
    if external_references(index):
        raise ValueError(f"{INDEX}: external references left in the HTML: {external_references(index)[:3]}")
    page = card_html(markdown, title=card_title, language=language)
    texts |= {MODEL_CARD: markdown, MODEL_CARD.with_suffix(".html"): page,
              PLOTS_TEMPLATE: NO_VL_CONVERT if template is None else template, INDEX: index}
    if card.indicators is not None:
        catalogue = catalogue_words(card.indicators, language, currency=currency)
        texts[CATALOGUE] = catalogue.assign(feature=card.indicators["feature"].to_numpy()).to_csv(index=False)
    metrics = {"notebooks": summary, "model_card_version": version, "offline_plots_template": template is not None}
    return StageResult(metrics, texts=texts)


def main() -> None:
    setup_logging()
    params, base, data = load_params("report"), load_params("base"), load_params("data")
    model_name = load_params("register")["model_name"]
    quoted = {"base": {"horizon_months": base["horizon_months"]}, "features": load_params("features"),  # by the card
              "train": {"calibration": load_params("train")["calibration"]},
              "data": {k: data[k] for k in ("target", "positive") if k in data}}  # a snapshot's churn flag
    language, currency = params.get("language", "en"), params.get("currency")  # absent: English, EUR
    pages = render_notebooks(params["notebooks"], folder=NOTEBOOKS, timeout_s=params["timeout_s"], language=language,
                             currency=currency, workers=params.get("workers", 1))
    card = gather_inputs(quoted, model_name=model_name)
    result = run(pages, card, template=plots_template(), static_plots=STATIC_PLOTS.exists(), language=language,
                 currency=currency)
    # MLflow gets the model card only: the notebook pages are megabytes each and the template ~1 MB.
    write_result("report", result, params={**quoted, "register": {"model_name": model_name}, "report": params},
                 inputs=[p for p in (paths.SOURCE, paths.SPLIT, paths.INDICATORS, paths.GRADE_TABLE) if p.exists()],
                 tags={"champion_version": str(card.champion["version"])},
                 artifacts=[MODEL_CARD, MODEL_CARD.with_suffix(".html")])
    log.info("%d notebook(s) -> %s; model card for %s version %s -> %s; start page %s", len(pages), HTML_DIR,
             model_name, card.champion["version"], MODEL_CARD, INDEX)
