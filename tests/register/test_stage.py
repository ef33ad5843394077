"""The registry: a worse challenger never replaces the champion; the champion predicts as the stage's model.

MLflow points at tmp_path; the stages run in tmp_path on tiny snapshots, so nothing touches the repository.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from churn_frames import snapshots
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from churnlab.core import paths, tracking
from churnlab.model.churn import ChurnModel, build_baseline, feature_columns, fit_model, prepare
from churnlab.model.serving import log_churn_model
from churnlab.register.stage import decide, register

ROOT = paths.find_root(Path(__file__).parent)


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tracking.start()


def logged(mlflow, model: ChurnModel, rows: pd.DataFrame) -> str:
    with mlflow.start_run():
        return log_churn_model(mlflow, model, rows).model_uri


def test_decision_rule():
    assert decide(0.70, None, metric="roc_auc", min_gain=0.01) == (True, "no champion yet")
    assert decide(0.72, 0.70, metric="roc_auc", min_gain=0.01)[0]
    assert not decide(0.705, 0.70, metric="roc_auc", min_gain=0.01)[0]
    assert decide(0.20, 0.25, metric="log_loss", min_gain=0.01)[0]  # lower is better
    assert not decide(0.26, 0.25, metric="log_loss", min_gain=0.0)[0]


def test_worse_challenger_does_not_replace_the_champion(mlflow):
    frame = snapshots(n_customers=300, n_cutoffs=4, horizon=1)
    train, test = frame[frame["cutoff"] < frame["cutoff"].max() - pd.offsets.MonthEnd(1)], \
        frame[frame["cutoff"] == frame["cutoff"].max() - pd.offsets.MonthEnd(1)]
    kinds = feature_columns(frame)
    good = fit_model(build_baseline("logistic", kinds, seed=0, n_jobs=1), train, train["label"].astype(int), kinds,
                     name="good")
    constant = ChurnModel(Pipeline([("model", DummyClassifier(strategy="prior"))]).fit(
        prepare(train, kinds), train["label"].astype(int)), kinds, name="constant")
    options = {"model_name": "churnlab-churn", "metric": "roc_auc", "min_gain": 0.002}

    first = register(mlflow, logged(mlflow, good, train), test, **options)
    assert (first["version"], first["decision"]) == (1, "promoted")
    second = register(mlflow, logged(mlflow, constant, train), test, **options)
    assert (second["version"], second["decision"], second["champion"]) == (2, "kept_champion", 1)
    assert second["challenger_score"] == pytest.approx(0.5) and second["champion_score"] > 0.6
    assert "below min_gain" in second["reason"]

    client = mlflow.MlflowClient()
    assert int(client.get_model_version_by_alias("churnlab-churn", "champion").version) == 1
    assert int(client.get_model_version_by_alias("churnlab-churn", "challenger").version) == 2
    assert client.get_model_version("churnlab-churn", "2").tags["decision"] == "kept_champion"
    assert len(client.search_model_versions("name='churnlab-churn'")) == 2  # nothing deleted

    champion = mlflow.pyfunc.load_model("models:/churnlab-churn@champion")
    np.testing.assert_allclose(champion.predict(test)["p_churn"], good.predict_proba(test), rtol=1e-12)


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
    train.main()
    evaluate.main()
    register_stage.main()

    split = json.loads(paths.SPLIT.read_text())
    test = frame[frame["cutoff"] == pd.Timestamp(split["test"])]
    stage_model = train.load_model(paths.CHURN_MODEL)
    champion = mlflow.pyfunc.load_model("models:/churnlab-churn@champion")
    np.testing.assert_allclose(champion.predict(test)["p_churn"], stage_model.predict_proba(test), rtol=1e-12)

    metrics = json.loads((paths.METRICS / "evaluate.json").read_text())
    assert set(metrics["test"]) >= {"roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile", "empc",
                                    "empc_share"}
    assert set(metrics["baselines"]) >= {"logistic", "tree", "forest", "xgboost_default"}
    assert "oracle" not in metrics  # no data/oracle: real data has no oracle
    comparison = pd.read_csv(paths.MODEL_COMPARISON)
    assert comparison["model"].iloc[0] == "xgboost_tuned" and len(comparison) == 6
    assert json.loads((paths.METRICS / "register.json").read_text())["decision"] == "promoted"
    for name in ("roc.csv", "pr.csv", "calibration.csv", "gains.csv", "importance.csv", "shap_summary.png"):
        assert (paths.PLOTS / "evaluate" / name).exists()

    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENT])
    assert len(runs) == 1 + 4 + 3  # the parent, one nested run per baseline and per trial
    parent = runs[runs["tags.kind"] == "train"].iloc[0]
    assert parent["metrics.test_roc_auc"] > 0.5 and parent["params.train.tune.objective"] == "log_loss"
    assert (runs["tags.mlflow.parentRunId"].dropna() == parent["run_id"]).all()
    example = mlflow.artifacts.load_dict(f"runs:/{parent['run_id']}/train.json")
    assert "customer_id" not in json.dumps(example)
    assert not runs.astype(str).apply(lambda c: c.str.contains(r"\bC\d{3}\b")).any().any()  # no raw ids
