"""The registry: a worse challenger never replaces the champion; the champion predicts as the stage's model.

`run` (the decision) is tested on stand-in models; `main` on models logged to an MLflow store in tmp_path, and the
train -> evaluate -> register chain in tmp_path on tiny snapshots, so nothing touches the repository.
"""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from churn_frames import snapshots
from sklearn.dummy import DummyClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnlab.core import paths, tracking
from churnlab.core.io import write_json
from churnlab.model.churn import (
    ChurnModel,
    build_baseline,
    feature_columns,
    fit_model,
    load_model,
    prepare,
    save_model,
)
from churnlab.model.serving import log_churn_model
from churnlab.model.split import TimeSplit
from churnlab.register import stage as register_stage
from churnlab.register.stage import decide, model_description, run, version_description

ROOT = paths.find_root(Path(__file__).parent)
OPTIONS = {"model_name": "churnlab-churn", "metric": "roc_auc", "min_gain": 0.002}


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tracking.start()


def logged(mlflow, model: ChurnModel, rows: pd.DataFrame) -> str:
    with mlflow.start_run():
        return log_churn_model(mlflow, model, rows).model_uri


def stand_in(p, columns=("x",)):
    """What `run` uses of an MLflow pyfunc: its signature's input names, and `p_churn` for the rows."""
    def predict(rows):
        missing = [c for c in columns if c not in rows.columns]
        if missing:
            raise ValueError(f"Model is missing inputs {missing}")
        return pd.DataFrame({"p_churn": p}, index=rows.index)

    schema = SimpleNamespace(input_names=lambda: list(columns))
    return SimpleNamespace(metadata=SimpleNamespace(get_input_schema=lambda: schema), predict=predict)


TEST_ROWS = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "label": [0, 0, 1, 1], "cutoff": pd.Timestamp("2024-06-30")})
PERFECT, HALF = [0.1, 0.2, 0.8, 0.9], [0.1, 0.6, 0.4, 0.9]  # ROC-AUC 1.0 and 0.75 on TEST_ROWS


def test_decision_rule():
    assert decide(0.70, None, metric="roc_auc", min_gain=0.01) == (True, "no champion yet")
    assert decide(0.72, 0.70, metric="roc_auc", min_gain=0.01)[0]
    assert not decide(0.705, 0.70, metric="roc_auc", min_gain=0.01)[0]
    assert decide(0.20, 0.25, metric="log_loss", min_gain=0.01)[0]  # lower is better
    assert not decide(0.26, 0.25, metric="log_loss", min_gain=0.0)[0]


def test_run_keeps_the_champion_against_a_worse_challenger():
    result = run(TEST_ROWS, stand_in(HALF), stand_in(PERFECT), version=3, champion_version=2, **OPTIONS)
    assert result.metrics == {
        "model_name": "churnlab-churn", "version": 3, "decision": "kept_champion",
        "reason": "challenger gains -0.25000 on roc_auc over champion, below min_gain 0.002: champion kept",
        "metric": "roc_auc", "min_gain": 0.002, "challenger_score": 0.75, "champion_score": 1.0,
        "previous_champion": 2, "champion": 2, "test_cutoff": "2024-06-30"}


def test_run_promotes_a_better_challenger_or_the_first_version():
    better = run(TEST_ROWS, stand_in(PERFECT), stand_in(HALF), version=3, champion_version=2, **OPTIONS).metrics
    assert (better["decision"], better["champion"], better["previous_champion"]) == ("promoted", 3, 2)
    assert better["reason"] == "challenger beats champion on roc_auc by 0.25000 >= min_gain 0.002"
    first = run(TEST_ROWS, stand_in(HALF), None, version=1, champion_version=None, **OPTIONS).metrics
    assert (first["decision"], first["champion"], first["champion_score"], first["reason"]) == \
        ("promoted", 1, None, "no champion yet")


@pytest.mark.parametrize("champion", [None, stand_in(PERFECT, columns=("x", "dropped_column"))],
                         ids=["does not load", "lacks a column"])
def test_a_champion_that_cannot_score_the_test_rows_is_replaced(champion):
    result = run(TEST_ROWS, stand_in(HALF), champion, version=3, champion_version=2, **OPTIONS).metrics
    assert (result["decision"], result["champion"], result["champion_score"]) == ("promoted", 3, None)
    assert result["reason"] == "champion v2 cannot score the current snapshots"


def test_descriptions_say_what_is_predicted_how_versions_are_promoted_and_why():
    text = model_description(model_name="churnlab-churn", metric="roc_auc", min_gain=0.002, horizon_months=6)
    assert "calibrated probability that a customer churns" in text and "within the 6 months after" in text
    assert "on roc_auc (higher is better) on the current test cutoff by at least 0.002" in text
    assert "models:/churnlab-churn@champion" in text
    assert "within the label horizon (params base.horizon_months)" in model_description(
        model_name="m", metric="log_loss", min_gain=0.0, horizon_months=None)
    assert "log_loss (lower is better)" in model_description(model_name="m", metric="log_loss", min_gain=0.0,
                                                             horizon_months=1)

    kept = run(TEST_ROWS, stand_in(HALF), stand_in(PERFECT), version=3, champion_version=2, **OPTIONS).metrics
    assert version_description(kept, run_id="r1") == (
        "Trained in MLflow run r1. Test cutoff 2024-06-30: roc_auc 0.75000 (champion v2: 1.00000). Decision: "
        "kept_champion: challenger gains -0.25000 on roc_auc over champion, below min_gain 0.002: champion kept. "
        "Champion after this run: v2.")
    first = run(TEST_ROWS, stand_in(HALF), None, version=1, champion_version=None, **OPTIONS).metrics
    assert "roc_auc 0.75000 (no champion before). Decision: promoted: no champion yet." in \
        version_description(first, run_id="r1")
    broken = run(TEST_ROWS, stand_in(HALF), None, version=3, champion_version=2, **OPTIONS).metrics
    assert "(champion v2 could not score these rows)" in version_description(broken, run_id="r1")


@pytest.fixture
def project(mlflow, tmp_path):
    """tmp_path as the project register reads: params.yaml, the test cutoff's snapshots and split.json."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    frame = snapshots(n_customers=300, n_cutoffs=4, horizon=1)
    cutoffs = sorted(frame["cutoff"].unique())
    paths.SNAPSHOTS.parent.mkdir(parents=True)
    frame.to_parquet(paths.SNAPSHOTS, index=False)
    write_json(TimeSplit((pd.Timestamp(cutoffs[0]),), (pd.Timestamp(cutoffs[1]),), pd.Timestamp(cutoffs[2])).as_dict(),
               paths.SPLIT)
    return frame[frame["cutoff"] < cutoffs[2]], frame[frame["cutoff"] == cutoffs[2]]


def register_main(mlflow, model: ChurnModel, rows: pd.DataFrame) -> dict:
    """What train leaves for register (the model logged in a run, models/mlflow_run.json), then register's main."""
    with mlflow.start_run(run_name="train") as train_run:
        mlflow.log_param("base.horizon_months", 1)  # as train logs its params (the project's snapshots: H = 1)
        uri = log_churn_model(mlflow, model, rows).model_uri
    save_model(model, paths.CHURN_MODEL)
    write_json({"run_id": train_run.info.run_id, "model_uri": uri,
                "model_md5": tracking.file_hash(paths.CHURN_MODEL)}, paths.TRAIN_RUN)
    register_stage.main()
    return json.loads((paths.METRICS / "register.json").read_text())


def test_main_never_replaces_the_champion_with_a_worse_challenger(mlflow, project):
    train, test = project
    kinds = feature_columns(train)
    good = fit_model(build_baseline("logistic", kinds, seed=0, n_jobs=1), train, train["label"].astype(int), kinds,
                     name="good")
    constant = ChurnModel(Pipeline([("model", DummyClassifier(strategy="prior"))]).fit(
        prepare(train, kinds), train["label"].astype(int)), kinds, name="constant")

    y = test["label"].astype(int)
    first = register_main(mlflow, good, train)
    assert (first["version"], first["decision"]) == (1, "promoted")
    assert first["test_cutoff"] == str(test["cutoff"].max().date())
    assert first["challenger_score"] == pytest.approx(roc_auc_score(y, good.predict_proba(test)))
    second = register_main(mlflow, constant, train)
    assert (second["version"], second["decision"], second["champion"]) == (2, "kept_champion", 1)
    assert second["challenger_score"] == pytest.approx(0.5) and second["champion_score"] > 0.6
    assert "below min_gain" in second["reason"]

    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias("churnlab-churn", "champion").version) == 1
    assert int(client.get_model_version_by_alias("churnlab-churn", "challenger").version) == 2
    assert client.get_model_version("churnlab-churn", "2").tags["decision"] == "kept_champion"
    kept = client.get_model_version("churnlab-churn", "2")
    assert {k: v for k, v in kept.tags.items() if k != "train_run"} == {
        "decision": "kept_champion", "reason": second["reason"], "metric": "roc_auc",
        "challenger_roc_auc": str(second["challenger_score"]), "champion_roc_auc": str(second["champion_score"]),
        "previous_champion": "1", "test_cutoff": second["test_cutoff"]}  # the score's tag names its metric
    assert kept.description.startswith(f"Trained in MLflow run {kept.tags['train_run']}. Test cutoff "
                                       f"{second['test_cutoff']}: roc_auc 0.50000 (champion v1: ")
    assert "Decision: kept_champion: challenger gains" in kept.description
    assert "(no champion before). Decision: promoted" in client.get_model_version("churnlab-churn", "1").description
    registered = client.get_registered_model("churnlab-churn").description
    assert "churns" in registered and "within the 1 month after" in registered and "roc_auc" in registered
    assert len(client.search_model_versions("name='churnlab-churn'")) == 2  # nothing deleted

    champion = mlflow.pyfunc.load_model("models:/churnlab-churn@champion")
    np.testing.assert_allclose(champion.predict(test)["p_churn"], good.predict_proba(test), rtol=1e-12)
    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENT], filter_string="tags.kind = 'register'")
    assert len(runs) == 2 and sorted(runs["metrics.version"]) == [1.0, 2.0]  # one register run per execution
    assert set(runs["params.register.metric"]) == {"roc_auc"}


def test_pyfunc_takes_raw_snapshot_columns_and_rejects_a_missing_one(mlflow):
    frame = snapshots(n_customers=100, n_cutoffs=2, horizon=1)
    kinds = feature_columns(frame)
    labeled = frame[frame["labeled"]]
    model = fit_model(build_baseline("tree", kinds, seed=0, n_jobs=1), labeled, labeled["label"].astype(int), kinds,
                      name="tree")
    pyfunc = mlflow.pyfunc.load_model(logged(mlflow, model, labeled))
    assert isinstance(frame["segment"].dtype, pd.CategoricalDtype)  # the snapshots' category dtype is accepted
    np.testing.assert_allclose(pyfunc.predict(frame)["p_churn"], model.predict_proba(frame))
    with pytest.raises(Exception, match="missing inputs.*complaints_3m"):
        pyfunc.predict(frame.drop(columns="complaints_3m"))
    with pytest.raises(Exception, match="missing inputs.*income"):
        pyfunc.predict(frame.rename(columns={"income": "incme"}))


def stage_params() -> dict:
    """The repository's params with a tiny profile: H = 3 months, three short trials."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["base"]["horizon_months"] = 3
    params["train"]["baselines"]["max_rows"] = 2000
    params["train"]["baselines"]["models"]["forest"]["n_estimators"] = 20
    params["train"]["n_jobs"] = 1
    params["train"]["tune"].update(n_trials=3, timeout_s=120, max_rounds=200, max_rows=3000,
                                   pruner={"startup_trials": 2, "warmup_rounds": 5})
    params["evaluate"]["shap_rows"] = 200
    return params


@pytest.mark.slow
def test_stages_end_to_end_champion_matches_the_stage_model(mlflow, tmp_path):
    """train -> evaluate -> register in tmp_path: models:/churnlab-churn@champion gives the stage's own
    probabilities, the outputs hold the documented keys, and no customer id reaches MLflow."""
    from churnlab.evaluate import stage as evaluate
    from churnlab.register import stage as register_stage
    from churnlab.train import stage as train

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(stage_params()), encoding="utf-8")
    frame = snapshots(n_customers=400, n_cutoffs=12, horizon=3)
    paths.SNAPSHOTS.parent.mkdir(parents=True)
    frame.to_parquet(paths.SNAPSHOTS, index=False)
    write_json({"source": "contract", "time_axis": True, "campaigns": False, "oracle": False, "inputs": {}},
               paths.SOURCE)  # what the data stage writes for real monthly tables
    train.main()
    evaluate.main()
    register_stage.main()

    split = json.loads(paths.SPLIT.read_text())
    test = frame[frame["cutoff"] == pd.Timestamp(split["test"])]
    stage_model = load_model(paths.CHURN_MODEL)
    champion = mlflow.pyfunc.load_model("models:/churnlab-churn@champion")
    np.testing.assert_allclose(champion.predict(test)["p_churn"], stage_model.predict_proba(test), rtol=1e-12)

    metrics = json.loads((paths.METRICS / "evaluate.json").read_text())
    assert set(metrics["test"]) >= {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile", "empc",
                                    "empc_share"}
    assert set(metrics["baselines"]) >= {"logistic", "tree", "forest", "xgboost_default"}
    assert "oracle" not in metrics and "not simulated" in metrics["skipped"]["oracle"]  # real data: no oracle
    comparison = pd.read_csv(paths.MODEL_COMPARISON)
    assert comparison["model"].iloc[0] == "xgboost_tuned" and len(comparison) == 6
    assert json.loads((paths.METRICS / "register.json").read_text())["decision"] == "promoted"
    # the horizon in the registered model's description is the one the train run logged (H = 3 here)
    assert "within the 3 months after" in mlflow.MlflowClient().get_registered_model("churnlab-churn").description
    for name in ("roc.csv", "pr.csv", "calibration.csv", "gains.csv", "importance.csv", "shap_summary.png"):
        assert (paths.PLOTS / "evaluate" / name).exists()

    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENT])
    # train's parent with a nested run per baseline and per trial, then one run each for evaluate and register
    assert runs["tags.kind"].value_counts().to_dict() == {"train": 1, "baseline": 4, "optuna_trial": 3, "evaluate": 1,
                                                          "register": 1}
    parent = runs[runs["tags.kind"] == "train"].iloc[0]
    assert parent["metrics.test_roc_auc"] == pytest.approx(metrics["test"]["roc_auc"])  # evaluate's copy
    assert parent["params.train.tune.objective"] == "log_loss"
    nested = runs[runs["tags.kind"].isin(["baseline", "optuna_trial"])]
    assert (nested["tags.mlflow.parentRunId"] == parent["run_id"]).all()
    assert runs["tags.mlflow.parentRunId"].notna().sum() == len(nested)
    example = mlflow.artifacts.load_dict(f"runs:/{parent['run_id']}/train.json")
    assert "customer_id" not in json.dumps(example)
    assert not runs.astype(str).apply(lambda c: c.str.contains(r"\bC\d{3}\b")).any().any()  # no raw ids
