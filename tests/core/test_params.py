"""params.yaml: one section per stage, and clear errors when a file or section is missing."""

import pytest
import yaml

from churnlab.core.params import load_params


def test_load_a_section(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"base": {"seed": 1}}))
    assert load_params("base", tmp_path / "params.yaml") == {"seed": 1}


def test_missing_section_names_the_file_and_the_sections(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"base": {"seed": 1}}))
    with pytest.raises(KeyError, match=r"params.yaml: no section 'train' \(sections: \['base'\]\)"):
        load_params("train", tmp_path / "params.yaml")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="params file not found"):
        load_params("base", tmp_path / "params.yaml")


def test_repository_params_have_a_seed_and_horizon():
    from conftest import ROOT

    base = load_params("base", ROOT / "params.yaml")
    assert isinstance(base["seed"], int) and 1 <= base["horizon_months"] <= 24
