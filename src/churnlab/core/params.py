"""Read one section of params.yaml: the single hop from params.yaml to a stage's `main()`."""

from pathlib import Path
from typing import Any

import yaml

from churnlab.core import paths


def load_params(section: str, path: Path = paths.PARAMS) -> dict[str, Any]:
    """Return `section` of the params file as a dict; a missing file or section is a clear error."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: params file not found (run from the project root)")
    with path.open(encoding="utf-8") as fh:
        params = yaml.safe_load(fh) or {}
    if section not in params:
        raise KeyError(f"{path}: no section {section!r} (sections: {sorted(params)})")
    return params[section]
