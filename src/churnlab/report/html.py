"""Notebooks executed with papermill and exported as single-file HTML that opens offline.

nbconvert's `lab` template already inlines its CSS and the figures (as base64), but its head loads
require.js and MathJax from a CDN and its mermaid loader imports modules from one. `offline_html` strips
every script that names an external URL and every external stylesheet link, and turns external hyperlinks
into plain text followed by the address, so no `src` or `href` points off the page and the file is the same
on a laptop without network as on the build machine. What is lost: TeX in Markdown is shown as typed
(MathJax is not shipped: it is ~60 MB unpacked) and mermaid diagrams as their source.
"""

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


def to_html(notebook) -> str:
    """An executed notebook as one self-contained HTML page (lab template, figures embedded, offline)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(notebook)
    return offline_html(body)


def kernel_environment(scratch: Path) -> dict[str, str]:
    """Environment for a hermetic kernel: Jupyter and matplotlib state in `scratch`, no user start-up files."""
    env = {var: str(scratch / var.lower()) for var in
           ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "MPLCONFIGDIR")}
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
                                       cwd=str(notebook.parent), kernel_name="python3", progress_bar=False,
                                       execution_timeout=timeout_s, log_output=False)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return nbformat.read(output, as_version=4)
