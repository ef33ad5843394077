"""A failing stage tells the user one clear message and keeps the traceback in .churnlab/logs/<stage>.log."""

import pytest

from churnlab.core.checks import ColumnError, DataError
from churnlab.core.cli import log_file, run_stage


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHURNLAB_TRACEBACK", raising=False)
    return tmp_path


def fail_with(error: Exception):
    def main() -> None:
        raise error

    return main


def test_a_data_error_is_one_message_and_the_traceback_goes_to_the_log(root, capsys):
    with pytest.raises(SystemExit) as done:
        run_stage(fail_with(DataError("data/raw/x.csv: column 'age' has 3 negative values")), "data")
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["churnlab data: error: data/raw/x.csv: column 'age' has 3 negative values",
                                "(traceback: .churnlab/logs/data.log)"]
    assert "Traceback (most recent call last)" not in err
    logged = log_file("data").read_text()
    assert "Traceback (most recent call last)" in logged and "DataError" in logged


def test_a_column_error_prints_without_key_error_quotes(root, capsys):
    with pytest.raises(SystemExit):
        run_stage(fail_with(ColumnError("snapshots: missing 1 column(s): 'cutoff'")), "score")
    assert capsys.readouterr().err.startswith("churnlab score: error: snapshots: missing 1 column(s): 'cutoff'\n")


def test_an_unexpected_error_names_its_type(root, capsys):
    with pytest.raises(SystemExit):
        run_stage(fail_with(ZeroDivisionError("division by zero")), "train")
    assert capsys.readouterr().err.startswith("churnlab train: error: ZeroDivisionError: division by zero\n")


def test_the_traceback_is_printed_on_request(root, capsys, monkeypatch):
    monkeypatch.setenv("CHURNLAB_TRACEBACK", "1")
    with pytest.raises(SystemExit):
        run_stage(fail_with(ValueError("bad")), "features")
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_success_exits_normally(root):
    calls = []
    run_stage(lambda: calls.append(1), "report")
    assert calls == [1] and not log_file("report").exists()
