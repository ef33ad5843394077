"""DVC plots that render without internet, with vl-convert-python (Vega, Vega-Lite and Vega-Embed ship inside it).

`dvc plots show` writes an HTML page that loads vega, vega-lite and vega-embed from a CDN, so it is blank
offline (STACK-NOTES). Two ways out, both from the vl-convert-python wheel (PyPI), nothing fetched at run time:

- `dvc_template()`: a DVC HTML template with the three libraries inlined (~0.9 MB, not committed: written
  to reports/ by the `report` stage). Use it with `dvc plots show --html-template reports/dvc_plots_template.html`
  (or `dvc plots diff ... --html-template ...`): the interactive page then works offline.
- `plots_page()`: `dvc plots show --json` (or `dvc plots diff REV... --json`) rendered to SVG, one static page:
  `python -m churnlab.report.offline_plots [REV ...] -o reports/plots.html`.

Without vl-convert-python both raise `MissingVlConvert` (the `report` stage then logs and skips them).
"""

import argparse
import html
import json
import subprocess
import sys
from pathlib import Path


class MissingVlConvert(ImportError):
    """vl-convert-python is not installed (pin vl-convert-python==1.9.0.post1)."""


def _vl_convert():
    try:
        import vl_convert
    except ImportError as error:
        raise MissingVlConvert("offline DVC plots need vl-convert-python (pip install "
                               "vl-convert-python==1.9.0.post1)") from error
    return vl_convert


def dvc_template() -> str:
    """A DVC plots HTML template with vega-embed, vega and vega-lite inlined (no `{scripts}`: no CDN tags)."""
    bundle = _vl_convert().javascript_bundle()  # a classic script ending in window.vegaEmbed = ...
    if "</script" in bundle:
        raise ValueError("the vl-convert bundle contains '</script': it cannot be inlined safely")
    return ("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n{refresh_tag}\n<title>DVC plots</title>\n"
            f"<script type=\"text/javascript\">\n{bundle}\n</script>\n"
            "<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")


def plots_json(revisions: list[str] | None = None, *, cwd: Path | None = None) -> dict:
    """`dvc plots show --json`, or `dvc plots diff REV... --json` when `revisions` are given."""
    command = ["diff", *revisions] if revisions else ["show"]
    done = subprocess.run([sys.executable, "-m", "dvc", "plots", *command, "--json"], cwd=cwd, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def vega_specs(payload: dict) -> dict[str, dict]:
    """The Vega-Lite spec of every vega plot in a `dvc plots ... --json` payload, by plot name."""
    specs = {}
    for name, items in payload.get("data", {}).items():
        for k, item in enumerate(i for i in items if i.get("type") == "vega"):
            specs[name if k == 0 else f"{name} ({k + 1})"] = item["content"]
    return specs


def plots_page(specs: dict[str, dict], *, title: str = "DVC plots") -> str:
    """One static HTML page with each plot as inline SVG (opens offline; nothing to load)."""
    vl_convert = _vl_convert()
    figures = [f"<figure><figcaption>{html.escape(name)}</figcaption>{vl_convert.vegalite_to_svg(spec)}</figure>"
               for name, spec in specs.items()]
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif} figure{display:inline-block;margin:1em}"
            "figcaption{font-weight:bold}</style></head><body>\n" + "\n".join(figures) + "\n</body></html>\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="Render DVC plots (show, or diff between revisions) to one "
                                                 "offline HTML page of SVGs.")
    parser.add_argument("revisions", nargs="*", help="revisions or experiment names for `dvc plots diff`")
    parser.add_argument("-o", "--output", type=Path, default=Path("reports/plots.html"))
    args = parser.parse_args()
    from churnlab.core.io import write_text

    write_text(plots_page(vega_specs(plots_json(args.revisions or None)), title="DVC plots "
                          + (" vs ".join(args.revisions) if args.revisions else "(workspace)")), args.output)
    sys.stderr.write(f"wrote {args.output}\n")


if __name__ == "__main__":
    main()
