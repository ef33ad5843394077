"""evaluate: every model scored on the test rows, the oracle ratio, the chosen model's curves and SHAP importance,
and the test metrics copied onto the train run that made the models."""

import logging

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from churn_frames import snapshots
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline

from churnlab.contract.source import Source
from churnlab.core import paths, tracking
from churnlab.core.outputs import StageResult
from churnlab.evaluate import plots as ep
from churnlab.evaluate.stage import (
    CHOSEN,
    PLOTS,
    compare_models,
    explained_rows,
    log_to_train_run,
    oracle_auc,
    oracle_skip,
    run,
)
from churnlab.model.churn import ChurnModel, build_baseline, feature_columns, fit_model, prepare, tree_encoder
from churnlab.model.tune import fit_xgboost

SIMULATOR = Source("simulator", time_axis=True, campaigns=True, oracle=True, closures=True)
CONTRACT = Source("contract", time_axis=True, campaigns=False, oracle=False, closures=True)
PROFIT = {"clv": 600.0, "incentive_cost": 50.0, "contact_cost": 10.0, "acceptance_alpha": 6.0, "acceptance_beta": 14.0}
SETTINGS = {"seed": 1, "definition": "closure", "top_share": 0.1, "ece": {"bins": 5, "strategy": "quantile"},
            "profit": PROFIT, "shap_rows": 100, "curve_points": 50}


@pytest.fixture(scope="module")
def fitted():
    """The test cutoff's rows, and the models evaluate reads: an early-stopped XGBoost (the chosen model, as train
    fits it) and a logistic baseline, both fitted on earlier cutoffs."""
    frame = snapshots(n_customers=300, n_cutoffs=8, horizon=2)
    cutoffs = sorted(frame["cutoff"].unique())
    train, validation = frame[frame["cutoff"].isin(cutoffs[:3])], frame[frame["cutoff"] == cutoffs[4]]
    test = frame[frame["cutoff"] == cutoffs[5]].reset_index(drop=True)
    kinds = feature_columns(frame)
    encoder = tree_encoder(kinds).fit(prepare(train, kinds))
    booster = fit_xgboost(encoder.transform(prepare(train, kinds)), train["label"].astype(int),
                          encoder.transform(prepare(validation, kinds)), validation["label"].astype(int),
                          params={"max_depth": 3, "learning_rate": 0.1}, seed=0, n_jobs=1, max_rounds=200,
                          early_stopping_rounds=10, eval_metric="logloss")
    chosen = ChurnModel(Pipeline([("encode", encoder), ("model", booster)]), kinds, name=CHOSEN)
    logistic = fit_model(build_baseline("logistic", kinds, seed=0, n_jobs=1), train, train["label"].astype(int),
                         kinds, name="logistic")
    return test, {CHOSEN: chosen, "logistic": logistic}


def perfect_truth(test: pd.DataFrame) -> pd.DataFrame:
    """An oracle that knows every label: its ROC-AUC is 1, so a model's ratio is (AUC - 0.5) / 0.5."""
    return pd.DataFrame({"customer_id": test["customer_id"], "month": test["cutoff"],
                         "p_churn_h": test["label"].astype(float)})


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def test_compare_models_known_answers():
    """Labels 0 0 1 1: p = (.1 .6 .4 .9) ranks 3 of the 4 churner-stayer pairs right, AUC 0.75; against an oracle
    AUC of 1 the ratio is (0.75 - 0.5) / (1 - 0.5) = 0.5."""
    test = pd.DataFrame({"label": [0, 0, 1, 1]})
    probabilities = {"perfect": np.array([0.1, 0.2, 0.8, 0.9]), "partial": np.array([0.1, 0.6, 0.4, 0.9])}
    options = {"top_share": 0.5, "ece": {"bins": 2, "strategy": "quantile"}, "profit": PROFIT}
    comparison = compare_models(test, probabilities, oracle_auc=1.0, **options)
    assert comparison["model"].tolist() == ["perfect", "partial"]
    assert comparison["roc_auc"].tolist() == pytest.approx([1.0, 0.75])
    assert comparison["oracle_ratio"].tolist() == pytest.approx([1.0, 0.5])
    assert comparison["rows"].tolist() == [4.0, 4.0] and comparison["churn_rate"].tolist() == [0.5, 0.5]
    assert "oracle_ratio" not in compare_models(test, probabilities, **options).columns


def test_oracle_auc_joins_on_customer_and_cutoff_and_refuses_a_missing_truth():
    cutoff = pd.Timestamp("2024-06-30")
    test = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "cutoff": cutoff, "label": [0, 1, 0, 1]})
    truth = pd.DataFrame({"customer_id": ["d", "c", "b", "a"], "month": cutoff, "p_churn_h": [0.9, 0.1, 0.8, 0.2]})
    assert oracle_auc(test, truth) == 1.0  # joined by id, not by row order (the truth is listed backwards)
    with pytest.raises(ValueError, match="1 test row"):
        oracle_auc(test, truth[truth["customer_id"] != "a"])


def test_oracle_skip_says_why():
    assert oracle_skip(SIMULATOR, "closure") is None
    assert "'dormancy'" in oracle_skip(SIMULATOR, "dormancy") and "closure churn" in oracle_skip(SIMULATOR, "dormancy")
    assert oracle_skip(CONTRACT, "closure") == CONTRACT.lacks("oracle")
    assert "contract source is not simulated" in oracle_skip(CONTRACT, "dormancy")


def test_run_scores_every_model_and_the_oracle_ratio(fitted, close_figures):
    test, models = fitted
    result = run(test, models, source=SIMULATOR, truth=perfect_truth(test), **SETTINGS)
    y, p = test["label"].astype(int), models[CHOSEN].predict_proba(test)
    auc = roc_auc_score(y, p)
    assert result.metrics["test"]["roc_auc"] == pytest.approx(auc) and auc > 0.6
    assert result.metrics["oracle"] == {"roc_auc": 1.0, "ratio": pytest.approx(2 * auc - 1), "definition": "closure"}
    assert result.metrics["baselines"]["logistic"]["roc_auc"] == pytest.approx(
        roc_auc_score(y, models["logistic"].predict_proba(test)))
    assert (result.metrics["cutoff"], result.metrics["rows"]) == (str(test["cutoff"].iloc[0].date()), len(test))
    assert result.metrics["churn_rate"] == pytest.approx(y.mean()) and result.skipped == {}

    comparison = result.tables[paths.MODEL_COMPARISON]
    assert comparison["model"].tolist() == [CHOSEN, "logistic"]
    assert set(result.tables) == {paths.MODEL_COMPARISON, *(PLOTS / f"{name}.csv" for name in
                                                            ("roc", "pr", "calibration", "gains", "importance"))}
    pd.testing.assert_frame_equal(result.tables[PLOTS / "roc.csv"], ep.roc_points(y, p, points=50))  # the chosen
    importance = result.tables[PLOTS / "importance.csv"]
    assert importance["mean_abs_shap"].is_monotonic_decreasing and set(importance["feature"]) >= {"complaints_3m"}
    assert {path.name for path in result.figures} == {"roc.png", "pr.png", "calibration.png", "gains_lift.png",
                                                      "importance.png", "shap_summary.png"}
    assert len({id(figure) for figure in result.figures.values()}) == 6  # SHAP did not draw over another figure


@pytest.mark.parametrize(("source", "definition", "reason"), [
    (CONTRACT, "closure", "contract source is not simulated"),
    (SIMULATOR, "dormancy", "label definition 'dormancy'"),
])
def test_run_skips_the_oracle_with_the_reason(fitted, close_figures, source, definition, reason):
    test, models = fitted
    truth = perfect_truth(test) if source.oracle else None
    result = run(test, models, source=source, truth=truth, **SETTINGS | {"definition": definition})
    assert "oracle" not in result.metrics and reason in result.skipped["oracle"]
    assert "oracle_ratio" not in result.tables[paths.MODEL_COMPARISON].columns


def test_run_refuses_an_unlabelled_test_row_or_a_missing_truth(fitted):
    test, models = fitted
    stale = test.assign(labeled=np.r_[False, np.ones(len(test) - 1, bool)])
    with pytest.raises(ValueError, match="not fully labelled: rerun train"):
        run(stale, models, source=SIMULATOR, truth=perfect_truth(test), **SETTINGS)
    with pytest.raises(ValueError, match="has an oracle: pass its truth"):
        run(test, models, source=SIMULATOR, truth=None, **SETTINGS)


def test_explained_rows_are_seeded_capped_and_in_order():
    test = pd.DataFrame({"x": range(50)}, index=range(100, 150))
    rows = explained_rows(test, n=10, seed=3)
    assert len(rows) == 10 and rows.index.is_monotonic_increasing and rows.index.is_unique
    assert rows.equals(explained_rows(test, n=10, seed=3)) and not rows.equals(explained_rows(test, n=10, seed=4))
    assert explained_rows(test, n=500, seed=3).equals(test)


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tracking.start()


def test_test_metrics_are_copied_onto_the_train_run_and_each_baseline_run(mlflow, caplog):
    with mlflow.start_run(run_name="train") as parent, mlflow.start_run(run_name="logistic", nested=True) as child:
        pass
    comparison = pd.DataFrame({"model": [CHOSEN, "logistic", f"{CHOSEN}_uncalibrated"], "roc_auc": [0.8, 0.7, 0.8],
                               "ece": [0.01, np.nan, 0.02], "rows": [100.0, 100.0, 100.0]})
    result = StageResult(metrics={"oracle": {"roc_auc": 0.9}}, tables={paths.MODEL_COMPARISON: comparison})
    record = {"run_id": parent.info.run_id, "nested": {"logistic": child.info.run_id}}
    log_to_train_run(result, record)
    client = mlflow.MlflowClient()
    assert client.get_run(parent.info.run_id).data.metrics == {"test_roc_auc": 0.8, "test_ece": 0.01,
                                                               "test_oracle_roc_auc": 0.9}
    assert client.get_run(child.info.run_id).data.metrics == {"test_roc_auc": 0.7}  # NaN left out
    with caplog.at_level(logging.WARNING):
        log_to_train_run(result, {"run_id": "0" * 32})  # a run of another store: warn, do not fail
    assert "not in" in caplog.text
