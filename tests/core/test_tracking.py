"""The MLflow store resolves to the real repository, also from inside a `dvc exp run --temp` copy."""

import hashlib
import os
from pathlib import Path

import pytest

from churnlab.core import tracking


def test_tracking_uri_is_sqlite_under_mlruns_of_the_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    copy = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "run" / "x"
    copy.mkdir(parents=True)
    assert tracking.tracking_uri(copy) == f"sqlite:///{tmp_path / 'repo' / 'mlruns' / 'mlflow.db'}"


def test_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert tracking.tracking_uri(tmp_path) == "sqlite:///elsewhere.db"


def test_lineage_tags_hash_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a\n1\n")
    tags = tracking.lineage_tags("features", [Path("in.csv"), Path("absent.csv")])
    assert tags["stage"] == "features"
    assert tags["data_md5.in.csv"] == hashlib.md5(b"a\n1\n").hexdigest()
    assert tags["data_md5.absent.csv"] == "missing"
    assert {"git_commit", "git_dirty"} <= set(tags)


@pytest.mark.slow
def test_start_creates_the_experiment_in_the_given_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow = tracking.start("churnlab-test")
    with mlflow.start_run(run_name="probe") as run:
        mlflow.log_metric("x", 1.0)
    assert mlflow.get_run(run.info.run_id).data.metrics == {"x": 1.0}
    assert (tmp_path / "mlflow.db").exists()


def test_the_experiment_opens_on_model_training_not_genai(tmp_path, monkeypatch):
    """MLflow 3's UI opens an experiment without `mlflow.experimentKind` in its GenAI view (traces): start() sets
    the kind when it creates the experiment and on an existing one without it, and keeps a kind chosen in the UI."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)

    def kinds(mlflow) -> dict[str, str | None]:
        return {e.name: e.tags.get("mlflow.experimentKind") for e in mlflow.search_experiments()}

    mlflow = tracking.start()
    assert kinds(mlflow)[tracking.EXPERIMENT] == "custom_model_development"
    mlflow.create_experiment("created-before")  # as the experiment of a store made by an older start()
    mlflow.create_experiment("chosen-in-the-ui", tags={"mlflow.experimentKind": "genai_development"})
    assert kinds(mlflow)["created-before"] is None
    tracking.start("created-before")
    tracking.start("chosen-in-the-ui")
    assert kinds(mlflow) | {"Default": None} == {tracking.EXPERIMENT: "custom_model_development", "Default": None,
                                                 "created-before": "custom_model_development",
                                                 "chosen-in-the-ui": "genai_development"}


def test_lineage_tags_record_no_machine_path(tmp_path, monkeypatch):
    """The entry point and a local clone's origin would be absolute paths: they are replaced."""
    import subprocess

    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run(["git", "remote", "add", "origin", str(tmp_path / "upstream")], check=True)
    tags = tracking.lineage_tags("score", [])
    assert tags["mlflow.source.name"] == "python -m churnlab.score"
    assert tags["mlflow.source.git.repoURL"] == "local clone"
    assert not any(str(tmp_path) in value for value in tags.values())
    subprocess.run(["git", "remote", "set-url", "origin", "https://example.org/bank/churnlab.git"], check=True)
    assert tracking.lineage_tags("score", [])["mlflow.source.git.repoURL"] == "https://example.org/bank/churnlab.git"


def test_runs_left_running_by_a_killed_process_are_marked_failed(tmp_path, monkeypatch):
    """A stage killed with -9 leaves its run RUNNING for ever; the next start marks it FAILED, and only it."""
    import socket
    import subprocess
    import sys

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    mlflow = tracking.start()
    client = mlflow.MlflowClient()
    experiment = mlflow.get_experiment_by_name(tracking.EXPERIMENT).experiment_id
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    runs = {name: client.create_run(experiment, run_name=name, tags=tags).info.run_id for name, tags in {
        "killed": {"host": host, "pid": dead.stdout.strip()},
        "alive": {"host": host, "pid": str(os.getpid())},
        "elsewhere": {"host": host + "-other", "pid": dead.stdout.strip()},
        "untagged": {},
    }.items()}

    assert tracking.fail_stale_runs(mlflow) == [runs["killed"]]
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {"killed": "FAILED", "alive": "RUNNING", "elsewhere": "RUNNING", "untagged": "RUNNING"}
    assert tracking.fail_stale_runs(mlflow) == []


def test_the_train_run_record_must_belong_to_the_current_model(tmp_path):
    """models/mlflow_run.json is not a DVC output (it holds run ids); it names the md5 of its model instead."""
    import json

    import pytest

    model, record = tmp_path / "churn_model.pkl", tmp_path / "mlflow_run.json"
    model.write_bytes(b"model one")
    record.write_text(json.dumps({"run_id": "abc", "model_md5": hashlib.md5(b"model one").hexdigest()}))
    assert tracking.read_train_run(record, model)["run_id"] == "abc"
    model.write_bytes(b"model two")  # trained again outside DVC, or an interrupted train run
    with pytest.raises(RuntimeError, match="describes another model .* `dvc repro -f train`"):
        tracking.read_train_run(record, model)
    with pytest.raises(FileNotFoundError, match="the train stage writes it"):
        tracking.read_train_run(tmp_path / "absent.json", model)
