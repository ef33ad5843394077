"""The commands the README and docs show work as typed: every `dvc exp run -S` override in them applies to
params.yaml with DVC's own override parser (Hydra's grammar) and leaves params that fit the schema."""

import re
import shutil

import pytest
import yaml
from conftest import ROOT
from dvc.utils.hydra import apply_overrides

from churnlab.core.params import validate_params

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OVERRIDE = re.compile(r"""-S\s+('[^']*'|"[^"]*"|[^\s`'"]+)""")


def overrides() -> list[tuple[str, list[str]]]:
    """(file name, the overrides of one command as the shell hands them to DVC) for every line that runs
    `dvc exp run -S ...`: one command's overrides are applied together (`engine.spark.remote` is valid only
    with `engine.spark.master=null` on the same line)."""
    found = []
    for doc in DOCS:
        for line in doc.read_text(encoding="utf-8").splitlines():
            values = OVERRIDE.findall(line) if "dvc exp run" in line else []
            if values:
                found.append((doc.name, [value[1:-1] if value[0] in "'\"" else value for value in values]))
    return found


def test_the_docs_show_overrides():
    assert len(overrides()) >= 10, "the pattern finds the -S examples of README.md"


@pytest.mark.parametrize(("doc", "command"), overrides(), ids=str)
def test_every_documented_override_applies_to_params(doc, command, tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    apply_overrides(str(params), command)  # raises InvalidArgumentError on what `dvc exp run -S` refuses
    validate_params(yaml.safe_load(params.read_text(encoding="utf-8")), complete=True)
