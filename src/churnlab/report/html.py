"""Notebooks executed with papermill and exported as single-file HTML reports that open offline.

A page is a report, not a notebook (`for_readers`): no code (the notebook files keep it), no stderr outputs
(warnings, progress bars, log lines: the kernel also runs with warnings ignored, `kernel_environment`), and a title
taken from the notebook's first Markdown heading in the report language. An error output is never hidden:
papermill fails on it, and a cell allowed to raise (tag `raises-exception`) still fails the page.

nbconvert's `lab` template already inlines its CSS and the figures (as base64), but its head loads
require.js and MathJax from a CDN and its mermaid loader imports modules from one. `offline_html` strips
every script that names an external URL and every external stylesheet link, and turns external hyperlinks
into plain text followed by the address, so no `src` or `href` points off the page and the file is the same
on a laptop without network as on the build machine. What is lost: TeX in Markdown is shown as typed
(MathJax is not shipped: it is ~60 MB unpacked) and mermaid diagrams as their source.

The narrative is written once per language in the same notebook: a Markdown cell tagged `lang-en` is followed by its
translation tagged `lang-zh`. A page keeps the cells of the report language (`both`: both, English first) and every
untagged cell; its `<html lang>` says which language it is, so a browser picks a Chinese font for a zh page.
"""

import copy
import logging
import os
import re
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

EXTERNAL = r"(?:https?:)?//"
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.IGNORECASE | re.DOTALL)
LINK = re.compile(rf"<link\b[^>]*\bhref\s*=\s*[\"']{EXTERNAL}[^>]*>", re.IGNORECASE)
ANCHOR = re.compile(rf"<a\b([^>]*?)\bhref\s*=\s*([\"'])({EXTERNAL}[^\"']*)\2([^>]*)>(.*?)</a>",
                    re.IGNORECASE | re.DOTALL)
EXTERNAL_ATTRIBUTE = re.compile(rf"\b(?:src|href)\s*=\s*[\"']?{EXTERNAL}", re.IGNORECASE)
REMOTE_IMPORT = re.compile(rf"\bimport\s*\(?\s*[\"']{EXTERNAL}", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
INLINE = [(re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url) and ![alt](src) -> the text
          (re.compile(r"<[^>]+>"), ""),  # HTML tags
          (re.compile(r"[*`]+|(?<!\w)_+|_+(?!\w)"), "")]  # emphasis and code marks, not the _ inside a_name


def offline_html(html: str) -> str:
    """`html` without external scripts, stylesheets or hyperlinks (see the module docstring)."""
    def keep_script(match: re.Match) -> str:
        return "" if re.search(rf"[\"']{EXTERNAL}", match.group(0)) else match.group(0)

    html = SCRIPT.sub(keep_script, html)
    html = LINK.sub("", html)
    return ANCHOR.sub(lambda m: f"<span class=\"external-link\">{m.group(5)} &lt;{m.group(3)}&gt;</span>", html)


def external_references(html: str) -> list[str]:
    """Every place `html` would fetch or point to another site (empty for an offline file)."""
    found = [m.group(0) for m in EXTERNAL_ATTRIBUTE.finditer(html)]
    return found + [m.group(0) for m in REMOTE_IMPORT.finditer(html)]


LANGUAGE_TAGS = {"en": "lang-en", "zh": "lang-zh"}  # cell metadata tags: the narrative in each language
HTML_LANG = {"en": "en", "zh": "zh-CN", "both": "zh-CN"}  # both: the Chinese needs a Chinese font; English reads too


def in_language(cell, language: str) -> bool:
    """Whether a page in `language` (en, zh or both) shows `cell`: untagged cells always, a `lang-*` cell when its
    language is the page's."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    if not tags & set(LANGUAGE_TAGS.values()):
        return True
    return language == "both" or LANGUAGE_TAGS[language] in tags


def title(notebook, language: str = "en") -> str | None:
    """The text of the notebook's first Markdown heading in `language`, without Markdown marks (None: no heading)."""
    for cell in notebook.cells:
        shown = cell.cell_type == "markdown" and in_language(cell, language)
        heading = HEADING.search(cell.source) if shown else None
        if heading:
            text = heading.group(1)
            for pattern, replacement in INLINE:
                text = pattern.sub(replacement, text)
            return " ".join(text.split()) or None
    return None


def coalesce_streams(outputs: list) -> list:
    """Consecutive printed outputs joined into one: the kernel splits printed text into chunks at random points, so
    without this the same notebook gives a different page (and a different dvc.lock) from run to run."""
    joined: list = []
    for output in outputs:
        previous = joined[-1] if joined else None
        if output.get("output_type") == "stream" and previous is not None \
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name"):
            previous["text"] = previous["text"] + output["text"]
        else:
            joined.append(copy.deepcopy(output))
    return joined


def for_readers(notebook, *, name: str, language: str = "en"):
    """A copy of the executed `notebook` as a report in `language`: the other language's cells and stderr outputs
    dropped, code cells left without output removed, the title (first heading, else `name`) in its metadata, where
    nbconvert's template reads it.

    Raises ValueError naming the notebook and the cell when a cell's output is an error: a report never ships one.
    """
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise ValueError(f"{name}: cell {index} raised {output.get('ename')}: {output.get('evalue')}")
    page = copy.deepcopy(notebook)
    dropped = 0
    for cell in page.cells:
        if cell.cell_type == "code":
            kept = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
            dropped += len(cell.outputs) - len(kept)
            cell.outputs = coalesce_streams(kept)
    if dropped:
        log.info("%s: %d stderr output(s) left out of the page", name, dropped)
    page.cells = [cell for cell in page.cells
                  if (cell.cell_type != "code" or cell.outputs) and in_language(cell, language)]
    page.metadata["title"] = title(notebook, language) or name
    return page


def to_html(notebook, *, name: str, language: str = "en") -> str:
    """An executed notebook as one self-contained report page in `language`: outputs and Markdown only
    (`for_readers`), lab template, figures embedded, offline. `name` titles a notebook without a heading and names it
    in errors."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True, exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, language_code=HTML_LANG[language][:2])  # ISO 639-1 only
    body, _ = exporter.from_notebook_node(for_readers(notebook, name=name, language=language))
    return offline_html(body)


def kernel_environment(scratch: Path) -> dict[str, str]:
    """Environment for a hermetic kernel: Jupyter and matplotlib state in `scratch`, no user start-up files, and
    warnings ignored (a reader gets no TqdmWarning or DtypeWarning; exceptions still fail the cell)."""
    env = {var: str(scratch / var.lower()) for var in
           ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "MPLCONFIGDIR")}
    env["PYTHONWARNINGS"] = "ignore"  # read at the kernel's start-up; the stage's own process keeps its filters
    return env  # MPLBACKEND stays unset: the kernel's inline backend embeds the figures


def execute(notebook: Path, output: Path, *, parameters: dict | None = None, timeout_s: int = 900):
    """Run `notebook` with papermill (cwd = its folder) into `output` (.ipynb); return the executed notebook."""
    import nbformat
    import papermill

    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="churnlab-kernel-") as scratch:
        os.environ.update(kernel_environment(Path(scratch)))  # the kernel inherits this process's environment
        os.environ.pop("MPLBACKEND", None)  # "Agg" (set for stages and tests) would stop figures reaching the page
        try:
            papermill.execute_notebook(str(notebook), str(output), parameters=parameters or {},
                                       cwd=str(notebook.parent), kernel_name="python3", language="python",
                                       progress_bar=False, execution_timeout=timeout_s, log_output=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return nbformat.read(output, as_version=4)
