"""churnlab.core.outputs: the shared stage ending writes every file, the metrics last, and one MLflow run."""

import json
import math

import matplotlib
import pandas as pd
import pytest

from churnlab.core import paths
from churnlab.core.outputs import StageResult, flatten, headline, mlflow_metrics, mlflow_params, write_result

matplotlib.use("Agg")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory, with MLflow tracking to SQLite inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def test_flatten_joins_nested_keys_with_dots_and_keeps_lists_whole():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def test_mlflow_metrics_keep_finite_numbers_under_safe_names():
    metrics = {"auc": 0.8, "ok": True, "n": 3, "median": math.inf, "missing": None, "name": "x",
               "by_group": {"4+": 0.5}}
    assert mlflow_metrics(metrics) == {"auc": 0.8, "ok": 1.0, "n": 3.0, "by_group.4_": 0.5}


def test_mlflow_params_are_strings_cut_to_a_readable_length():
    params = mlflow_params({"train": {"tune": {"n_trials": 40}}, "long": "x" * 900})
    assert params["train.tune.n_trials"] == "40" and len(params["long"]) == 500


def test_write_result_writes_files_metrics_and_one_run(project):
    import matplotlib.pyplot as plt
    import mlflow

    figure, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    result = StageResult(
        metrics={"customers": 2, "auc": 0.75},
        tables={paths.REPORTS / "t.csv": pd.DataFrame({"a": [1, 2]}),
                paths.PROCESSED / "t.parquet": pd.DataFrame({"b": [0.5]})},
        figures={paths.PLOTS / "f.png": figure},
        texts={paths.REPORTS / "note.md": "# note\n"},
        skipped={"campaigns": "no campaigns in the data"},
    )
    target = write_result("demo", result, params={"demo": {"k": 1}}, inputs=[], tags={"champion": "m/1"})

    assert target == paths.METRICS / "demo.json"
    assert json.loads(target.read_text()) == {"customers": 2, "auc": 0.75,
                                              "skipped": {"campaigns": "no campaigns in the data"}}
    assert pd.read_csv(paths.REPORTS / "t.csv")["a"].tolist() == [1, 2]
    assert pd.read_parquet(paths.PROCESSED / "t.parquet")["b"].tolist() == [0.5]
    assert (paths.PLOTS / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (paths.REPORTS / "note.md").read_text() == "# note\n"
    assert not list(project.rglob("*.tmp"))

    runs = mlflow.search_runs(experiment_names=["churnlab"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name == "demo" and run.info.status == "FINISHED"
    assert run.data.metrics == {"customers": 2.0, "auc": 0.75}
    assert run.data.params == {"demo.k": "1"}
    assert run.data.tags["kind"] == "demo" and run.data.tags["champion"] == "m/1"
    assert run.data.tags["skipped.campaigns"] == "no campaigns in the data"
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "demo")}
    assert logged == {"demo/t.csv", "demo/f.png", "demo/note.md", "demo/demo.json"}  # no Parquet: customer rows


def test_a_failing_writer_leaves_the_previous_metrics(project, monkeypatch):
    """Files first, metrics last: when a table cannot be written, the old metrics JSON is still the last good one."""
    old = paths.METRICS / "demo.json"
    old.parent.mkdir(parents=True)
    old.write_text('{"auc": 0.7}\n')
    bad = StageResult(metrics={"auc": 0.9}, tables={paths.REPORTS / "t.csv": "not a frame"})
    with pytest.raises(AttributeError):
        write_result("demo", bad, params={}, inputs=[])
    assert json.loads(old.read_text()) == {"auc": 0.7}


def test_mlflow_params_record_repository_paths_relative(project):
    (project / "dvc.yaml").write_text("stages: {}\n")
    params = mlflow_params({"data": {"path": str(project / "data" / "bank.csv"), "source": "snapshot"}})
    assert params == {"data.path": "data/bank.csv", "data.source": "snapshot"}


def test_headline_picks_named_numbers_and_fills_the_best_models_name():
    metrics = {"best_model": "cox", "models": {"cox": {"c": 0.63, "ibs": float("inf")}}, "ok": True, "n": "x",
               "skipped": {"oracle": "no oracle"}}
    spec = {"best_c": "models.{best_model}.c", "best_ibs": "models.{best_model}.ibs", "ok": "ok", "n": "n",
            "absent": "models.{nothing}.c", "oracle": "oracle.ratio"}
    assert headline(metrics, spec) == {"best_c": 0.63, "ok": True}  # inf, text, unknown names and gaps left out


def test_write_result_writes_the_headline_last_under_metrics(project):
    write_result("demo", StageResult(metrics={"test": {"roc_auc": 0.8}, "rows": 10}), params={}, inputs=[],
                 headline={"roc_auc": "test.roc_auc"})
    assert json.loads((paths.HEADLINE / "demo.json").read_text()) == {"roc_auc": 0.8}
    assert json.loads((paths.METRICS / "demo.json").read_text()) == {"test": {"roc_auc": 0.8}, "rows": 10}
