"""Where things are: the project root, the repository root seen from a DVC temp copy, paths made relative."""

from churnlab.core import paths


def test_repository_root_of_a_dvc_temp_copy(tmp_path):
    copy = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "run" / "abc123"
    assert paths.repository_root(copy) == tmp_path / "repo"
    assert paths.repository_root(tmp_path / "repo") == tmp_path / "repo"


def test_find_root_walks_up_to_dvc_yaml(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "notebooks").mkdir()
    assert paths.find_root(tmp_path / "notebooks") == tmp_path


def test_paths_inside_the_repository_become_relative_and_others_stay(tmp_path):
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    copy = root / ".dvc" / "tmp" / "exps" / "run" / "x"
    assert paths.relative_to_root(str(root / "data" / "bank.csv"), copy) == "data/bank.csv"
    assert paths.relative_to_root(str(tmp_path / "elsewhere.csv"), root) == str(tmp_path / "elsewhere.csv")
    assert paths.relative_to_root("data/bank.csv", root) == "data/bank.csv"
    assert paths.relative_to_root(42, root) == 42
