"""The `report` stage: the notebooks as offline HTML, the champion's model card, and an offline DVC plots template.

- Each notebook matching a glob pattern of `report.notebooks` is executed with papermill (from notebooks/, so it reads
  the pipeline outputs of this run) and exported to reports/notebooks/<name>.html: one self-contained file,
  figures embedded, no CDN (`churnlab.report.html`), that a data scientist can mail to a colleague.
  A pattern without a match is skipped with a log line; a notebook that fails fails the stage.
- reports/model_card.md and .html (`churnlab.report.model_card`) for the champion of the MLflow registry, describing the
  data source that ran (data/raw/source.json) and, for each part a stage skipped there, why.
- reports/dvc_plots_template.html for `dvc plots show --html-template ...` offline (`churnlab.report.offline_plots`;
  without vl-convert-python the template says how to get it instead of plotting).

Writes reports/metrics/report.json (what was rendered, external references found: must be 0).
Run with `python -m churnlab.report`.
"""

import logging
import tempfile
import time
from pathlib import Path

from churnlab.core import paths
from churnlab.core.io import write_json, write_text
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.report.html import execute, external_references, to_html
from churnlab.report.model_card import card_html, gather_inputs, render_card
from churnlab.report.offline_plots import MissingVlConvert, dvc_template

log = logging.getLogger(__name__)

NOTEBOOKS = Path("notebooks")
HTML_DIR = paths.REPORTS / "notebooks"
MODEL_CARD = paths.REPORTS / "model_card.md"
PLOTS_TEMPLATE = paths.REPORTS / "dvc_plots_template.html"
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


def render_notebooks(patterns: list[str], *, folder: Path, target: Path, timeout_s: int) -> dict[str, dict]:
    """Execute the notebooks matching `patterns` in `folder`; write `target/<stem>.html`; a summary per notebook."""
    done = {}
    with tempfile.TemporaryDirectory(prefix="churnlab-report-") as scratch:
        for source in find_notebooks(patterns, folder=folder):
            name = source.name
            started = time.perf_counter()
            executed = execute(source, Path(scratch) / name, timeout_s=timeout_s)
            page = to_html(executed)
            external = external_references(page)
            if external:  # offline_html should have removed them all: never ship a page that phones out
                raise ValueError(f"{name}: external references left in the HTML: {external[:3]}")
            out = target / f"{source.stem}.html"
            write_text(page, out)
            done[name] = {"html": out.as_posix(), "seconds": round(time.perf_counter() - started, 1),
                          "bytes": len(page.encode())}
            log.info("%s -> %s (%.0f s, %.1f MB)", name, out, done[name]["seconds"], done[name]["bytes"] / 1e6)
    return done


def main() -> None:
    setup_logging()
    params = load_params("report")
    sections = {s: load_params(s) for s in ("base", "features", "train", "data")}  # data: a snapshot's churn flag
    model_name = load_params("register")["model_name"]

    rendered = render_notebooks(params["notebooks"], folder=NOTEBOOKS, target=HTML_DIR,
                                timeout_s=params["timeout_s"])

    inputs = gather_inputs(sections, model_name=model_name)
    card = render_card(inputs)
    write_text(card, MODEL_CARD)
    write_text(card_html(card, title=f"Model card: {model_name} v{inputs.champion['version']}"),
               MODEL_CARD.with_suffix(".html"))
    log.info("model card for %s version %s -> %s", model_name, inputs.champion["version"], MODEL_CARD)

    try:
        template, offline = dvc_template(), True
    except MissingVlConvert as error:
        template, offline = NO_VL_CONVERT, False
        log.warning("%s: %s is a placeholder", error, PLOTS_TEMPLATE)
    write_text(template, PLOTS_TEMPLATE)
    write_json({"notebooks": rendered, "model_card_version": inputs.champion["version"],
                "offline_plots_template": offline}, paths.METRICS / "report.json")
