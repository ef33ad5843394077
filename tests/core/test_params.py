"""params.yaml: one section per stage, read as DVC reads it (YAML 1.2), checked whole, with clear errors."""

import pytest
import yaml

from churnlab.core.params import ParamsError, load_params


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


@pytest.mark.parametrize(("positive", "negative", "expected"), [
    ("Yes", "No", ("Yes", "No")),  # YAML 1.1 (PyYAML) would read True and False
    ("Y", "N", ("Y", "N")),
    ("true", "false", (True, False)),
    ("1", "0", (1, 0)),
    ('"1"', '"0"', ("1", "0")),
])
def test_the_churn_flag_loads_as_dvc_writes_it(tmp_path, positive, negative, expected):
    """DVC reads and writes params.yaml as YAML 1.2: only true/false are booleans."""
    (tmp_path / "params.yaml").write_text(f"data:\n  source: simulator\n  positive: {positive}\n"
                                          f"  negative: {negative}\n")
    data = load_params("data", tmp_path / "params.yaml")
    assert (data["positive"], data["negative"]) == expected
    assert [type(v) for v in (data["positive"], data["negative"])] == [type(v) for v in expected]


def test_exponents_and_infinity_are_numbers(tmp_path):
    (tmp_path / "params.yaml").write_text("simulate:\n  base_monthly_hazard: 1e-3\n"
                                          "segment:\n  income_bands: {edges: [0, 1.5e3, .inf], labels: [low, high]}\n")
    assert load_params("simulate", tmp_path / "params.yaml") == {"base_monthly_hazard": 0.001}
    assert load_params("segment", tmp_path / "params.yaml")["income_bands"]["edges"] == [0, 1500.0, float("inf")]


def test_a_bad_value_anywhere_in_the_file_stops_every_section(tmp_path):
    (tmp_path / "params.yaml").write_text("base: {seed: 1, horizon_months: -1}\n"
                                          "train: {tune: {n_trails: 40}}\n")
    with pytest.raises(ParamsError) as raised:
        load_params("train", tmp_path / "params.yaml")
    assert str(raised.value).splitlines() == [
        f"{tmp_path / 'params.yaml'}: base.horizon_months = -1: must be >= 1",
        f"{tmp_path / 'params.yaml'}: train.tune.n_trails: unknown parameter (did you mean n_trials?)"]
    assert isinstance(raised.value, ValueError)


def test_an_edited_file_is_read_again(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base: {seed: 1, horizon_months: 6}\n")
    assert load_params("base", path)["horizon_months"] == 6
    path.write_text("base: {seed: 1, horizon_months: 12}\n")
    assert load_params("base", path)["horizon_months"] == 12
    path.write_text("base: {seed: 1, horizon_months: 0}\n")
    with pytest.raises(ParamsError, match="base.horizon_months = 0: must be >= 1"):
        load_params("base", path)


def test_a_section_is_a_copy(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base: {seed: 1, horizon_months: 6}\n")
    load_params("base", path)["seed"] = 99
    assert load_params("base", path)["seed"] == 1


@pytest.mark.parametrize(("text", "problem"), [
    ("base: {seed: 1\n", "not valid YAML: expected ',' or '}', but got '<stream end>' (line 2)"),
    ("base:\n  seed: 1\n  seed: 2\n", 'not valid YAML: found duplicate key "seed" with value "2" (original value: '
                                      '"1") (line 3)'),
])
def test_a_file_that_is_not_yaml_names_the_problem_and_the_line(tmp_path, text, problem):
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError) as raised:
        load_params("base", tmp_path / "params.yaml")
    assert str(raised.value) == f"{tmp_path / 'params.yaml'}: {problem}"
