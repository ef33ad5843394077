"""Tuning and training: `run` fits, tunes and scores every model on both kinds of split; a complete study
reruns nothing and gives the same models; the tuned, calibrated model beats a constant; an interrupted study
resumes; the MLflow parent run gets a nested run per baseline and per trial."""

import json

import numpy as np
import optuna
import pandas as pd
import pytest
from churn_frames import snapshots
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier
from sklearn.metrics import log_loss, roc_auc_score

from churnlab.core import paths, tracking
from churnlab.model.churn import feature_columns, prepare, tree_encoder
from churnlab.model.split import (
    RandomSplit,
    SplitError,
    TimeSplit,
    choose_split,
    random_split,
    sample_rows,
    split_frames,
)
from churnlab.model.tune import FINISHED, tune_xgboost
from churnlab.train.fit import TUNED, fit_baselines, fit_tuned, study_name, training_parts, validation_scores
from churnlab.train.runs import log_train_run, trial_logger
from churnlab.train.stage import read_training_rows, run

SPACE = {"learning_rate": {"low": 0.05, "high": 0.3, "log": True}, "max_depth": {"low": 2, "high": 4},
         "min_child_weight": {"low": 1.0, "high": 20.0, "log": True}}
PRUNER = {"startup_trials": 2, "warmup_rounds": 5}
PROFIT = {"clv": 600.0, "incentive_cost": 50.0, "contact_cost": 10.0, "acceptance_alpha": 6.0, "acceptance_beta": 14.0}


BASELINES = {"max_rows": None, "models": {"logistic": {"C": 1.0}, "tree": {"max_depth": 3, "min_samples_leaf": 20}}}
TUNE = {"objective": "log_loss", "n_trials": 3, "timeout_s": None, "max_rows": 600, "max_rounds": 100,
        "early_stopping_rounds": 10, "pruner": PRUNER, "space": SPACE}


def settings(storage: str, **changes) -> dict:
    """`run`'s keyword settings: a tiny version of params base + train (two baselines, three trials)."""
    return {"seed": 7, "horizon_months": 3, "profit": PROFIT, "data_md5": "md5-of-the-snapshots", "storage": storage,
            "n_jobs": 1, "exclude": [], "max_train_rows": None, "calibration": "platt", "baselines": BASELINES,
            "tune": TUNE, "folds": 3} | changes


@pytest.fixture(scope="module")
def time_rows():
    """Snapshots without the test cutoff (what `read_training_rows` reads on a time axis) and their split."""
    frame = snapshots(n_customers=300, n_cutoffs=12, horizon=3)
    split = choose_split(frame, horizon_months=3, validation_cutoffs=1)
    return frame[frame["cutoff"].isin([*split.train, *split.validation])], split


@pytest.fixture(scope="module")
def trained(time_rows, tmp_path_factory):
    rows, split = time_rows
    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'optuna.db'}"
    seen = []
    result = run(rows, split, callbacks=[lambda study, trial: seen.append(trial.number)], **settings(storage))
    return result, storage, seen


def test_run_on_a_time_split_fits_tunes_and_scores_every_model_on_validation(time_rows, trained):
    rows, split = time_rows
    result, _, seen = trained
    assert list(result.models) == ["logistic", "tree", f"{TUNED}_uncalibrated", TUNED]
    assert seen == [0, 1, 2]  # the callbacks ran once per trial
    assert isinstance(result.models[TUNED].estimator, CalibratedClassifierCV)
    validation = rows[rows["cutoff"].isin(split.validation)]
    assert len(result.validation) == len(validation) and set(result.validation["cutoff"]) == set(split.validation)
    metrics = result.metrics
    assert metrics["split"] == split.as_dict()
    assert metrics["rows"] == {"train": int(rows["cutoff"].isin(split.train).sum()),
                               "train_used": int(rows["cutoff"].isin(split.train).sum()),
                               "tuning": 600, "validation": len(validation)}
    assert sum(metrics["study"]["trials"].values()) == 3 and metrics["study"]["objective"] == "log_loss"
    assert metrics["study"]["name"] == study_name(tune=TUNE, seed=7, data_md5="md5-of-the-snapshots",
                                                  split=split.as_dict(), kinds=result.features)
    y_val = result.validation["label"].astype(int)
    for name, model in result.models.items():
        assert metrics["validation"][name] == validation_scores(y_val, model.predict_proba(result.validation))
    # log loss is the objective: the best trial's value is the tuning sample's best validation log loss
    assert metrics["study"]["best_value"] == pytest.approx(min(
        t.value for t in optuna.load_study(study_name=metrics["study"]["name"], storage=trained[1]).trials
        if t.state == optuna.trial.TrialState.COMPLETE))
    assert metrics["validation"][TUNED]["roc_auc"] > 0.6


def test_a_complete_study_runs_no_trial_and_reproduces_the_models(time_rows, trained):
    """What `dvc repro` relies on after an unchanged rerun: the stored study resumes with 0 new trials."""
    rows, split = time_rows
    first, storage, _ = trained
    again = []
    second = run(rows, split, callbacks=[lambda study, trial: again.append(trial.number)], **settings(storage))
    assert again == []
    assert second.metrics == first.metrics  # train.json holds no timing: the same params give the same file
    for name, model in first.models.items():
        np.testing.assert_array_equal(second.models[name].predict_proba(rows), model.predict_proba(rows))


def test_run_on_a_random_split_tunes_by_cv_and_never_sees_a_test_customer(tmp_path):
    """One date (no time axis): the test customers are dropped, the tuned model is calibrated out of fold."""
    rows = snapshots(n_customers=600, n_cutoffs=1, horizon=0, seed=3)
    split = random_split(rows, seed=7, test_share=0.2, validation_share=0.15)
    result = run(rows, split, **settings(f"sqlite:///{tmp_path / 'optuna.db'}"))
    part = split.assign(rows)
    test_ids = set(rows.loc[(part == "test").fillna(False).to_numpy(), "customer_id"])
    assert set(result.validation["customer_id"]) == set(rows.loc[(part == "validation").fillna(False).to_numpy(),
                                                                 "customer_id"])
    assert not test_ids & set(result.validation["customer_id"])
    assert result.metrics["rows"]["train"] + result.metrics["rows"]["validation"] + len(test_ids) == len(rows)
    assert result.metrics["split"]["kind"] == "random"
    assert isinstance(result.models[TUNED].estimator, CalibratedClassifierCV)
    assert sum(result.metrics["study"]["trials"].values()) == 3


def test_training_parts_refuse_a_split_whose_labels_reach_the_validation_cutoff():
    frame = snapshots(n_customers=20, n_cutoffs=8, horizon=3)
    cutoffs = sorted(frame["cutoff"].unique())
    leaky = TimeSplit(train=tuple(pd.Timestamp(c) for c in cutoffs[:3]), validation=(pd.Timestamp(cutoffs[3]),),
                      test=pd.Timestamp(cutoffs[6]))  # the third training cutoff's labels end after cutoff 4
    with pytest.raises(SplitError, match="labels end after"):
        training_parts(frame, leaky, horizon_months=3)


def test_read_training_rows_never_reads_the_test_cutoff(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = snapshots(n_customers=30, n_cutoffs=12, horizon=3)
    paths.SNAPSHOTS.parent.mkdir(parents=True)
    frame.to_parquet(paths.SNAPSHOTS, index=False)
    rows, split = read_training_rows(time_axis=True, horizon_months=3, seed=1,
                                     time_split={"validation_cutoffs": 1, "max_train_cutoffs": None},
                                     random={"test_share": 0.2, "validation_share": 0.2})
    assert isinstance(split, TimeSplit) and split.test not in set(rows["cutoff"])
    assert set(rows["cutoff"]) == {*split.train, *split.validation}

    one_date = snapshots(n_customers=200, n_cutoffs=1, horizon=0)
    one_date.to_parquet(paths.SNAPSHOTS, index=False)
    rows, split = read_training_rows(time_axis=False, horizon_months=3, seed=1, time_split={},
                                     random={"test_share": 0.2, "validation_share": 0.2})
    assert isinstance(split, RandomSplit) and len(rows) == 200  # every row: `run` drops the test customers


@pytest.fixture
def mlflow(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tracking.start()


def test_trial_logger_adds_one_nested_run_per_trial(mlflow):
    """Each trial's run names its objective, carries the trial's state as its status, and lasts as long as it."""
    import time

    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.set_user_attr("best_iteration", 4)
        time.sleep(0.2)
        if trial.number == 2:
            trial.report(0.5, step=3)
            raise optuna.TrialPruned()
        return x * x

    with mlflow.start_run(run_name="train") as parent:
        study = optuna.create_study(study_name="logged", sampler=optuna.samplers.TPESampler(seed=0))
        study.optimize(objective, n_trials=3,
                       callbacks=[trial_logger(mlflow, parent.info.run_id, objective="log_loss")])
    runs = mlflow.search_runs(experiment_names=[tracking.EXPERIMENT], filter_string="tags.kind = 'optuna_trial'")
    assert sorted(runs["tags.mlflow.runName"]) == ["trial-000", "trial-001", "trial-002"]
    assert (runs["tags.mlflow.parentRunId"] == parent.info.run_id).all() and (runs["tags.study"] == "logged").all()
    by_name = runs.set_index("tags.mlflow.runName")
    for trial in study.trials:
        logged = by_name.loc[f"trial-{trial.number:03d}"]
        assert float(logged["params.x"]) == pytest.approx(trial.params["x"])
        assert logged["metrics.best_iteration"] == 4 and logged["tags.state"] == trial.state.name
        took = (logged["end_time"] - logged["start_time"]).total_seconds()
        assert took == pytest.approx(trial.duration.total_seconds(), abs=0.01) and took >= 0.2
    complete, pruned = by_name.loc["trial-000"], by_name.loc["trial-002"]
    assert complete["metrics.val_log_loss"] == pytest.approx(study.trials[0].value)
    assert complete["status"] == "FINISHED" and pruned["status"] == "KILLED"
    assert pruned["metrics.val_log_loss_at_prune"] == 0.5 and pruned["metrics.rounds"] == 4
    assert "metrics.value" not in runs


def test_log_train_run_fills_the_parent_with_a_nested_run_per_baseline(mlflow, trained):
    result = trained[0]
    with mlflow.start_run(run_name="train") as parent:
        record = log_train_run(mlflow, result, params={"train": {"tune": {"objective": "log_loss"}}},
                               baselines=BASELINES["models"], inputs=[])
    assert record["run_id"] == parent.info.run_id and set(record["nested"]) == {"logistic", "tree"}
    client = mlflow.MlflowClient()
    logged = client.get_run(parent.info.run_id).data
    assert logged.tags["kind"] == "train" and logged.params["train.tune.objective"] == "log_loss"
    assert logged.metrics["val_roc_auc"] == result.metrics["validation"][TUNED]["roc_auc"]
    assert logged.metrics["trials_finished"] == 3
    for name, run_id in record["nested"].items():
        child = client.get_run(run_id).data
        assert child.tags["mlflow.parentRunId"] == parent.info.run_id and child.tags["model"] == name
        assert child.metrics["val_log_loss"] == result.metrics["validation"][name]["log_loss"]
    pyfunc = mlflow.pyfunc.load_model(record["model_uri"])
    rows = result.validation.head(50)
    np.testing.assert_allclose(pyfunc.predict(rows)["p_churn"], result.models[TUNED].predict_proba(rows))
    summary = mlflow.artifacts.load_dict(f"runs:/{parent.info.run_id}/train.json")
    assert summary["study"]["name"] == result.metrics["study"]["name"]
    assert "customer_id" not in json.dumps(summary)


@pytest.fixture(scope="module")
def parts():
    frame = snapshots(n_customers=400, n_cutoffs=12, horizon=3)
    split = choose_split(frame, horizon_months=3, validation_cutoffs=1)
    return split_frames(frame, split), feature_columns(frame)


def tune(parts, storage, name, *, n_trials, objective="log_loss", callbacks=()):
    (frames, kinds) = parts
    train, validation = frames["train"], frames["validation"]
    encoder = tree_encoder(kinds).fit(prepare(train, kinds))
    return tune_xgboost(encoder.transform(prepare(train, kinds)), train["label"].astype(int),
                        encoder.transform(prepare(validation, kinds)), validation["label"].astype(int),
                        storage=storage, study_name=name, seed=7, n_trials=n_trials, timeout_s=None,
                        objective=objective, space=SPACE, pruner=PRUNER, max_rounds=200, early_stopping_rounds=20,
                        n_jobs=1, profit=PROFIT, callbacks=callbacks, show_progress_bar=False)


def test_tuned_calibrated_model_beats_a_constant_predictor(parts, tmp_path):
    frames, kinds = parts
    study = tune(parts, f"sqlite:///{tmp_path / 'optuna.db'}", "beats-constant", n_trials=3)
    train, validation, test = frames["train"], frames["validation"], frames["test"]
    raw = fit_tuned(train, validation, kinds, best_params=study.best_params, seed=7, n_jobs=1, max_rounds=200,
                    early_stopping_rounds=20, eval_metric="logloss")
    model = raw.calibrated(validation, validation["label"].astype(int), method="platt")
    y = test["label"].astype(int)
    constant = DummyClassifier(strategy="prior").fit(train[["age"]], train["label"].astype(int))
    p_constant = constant.predict_proba(test[["age"]])[:, 1]
    p = model.predict_proba(test)
    assert log_loss(y, p) < log_loss(y, p_constant)
    assert roc_auc_score(y, p) > 0.6  # a constant ranks at 0.5
    # Platt scaling is strictly monotone: the ranking of the uncalibrated model is kept
    assert roc_auc_score(y, p) == pytest.approx(roc_auc_score(y, raw.predict_proba(test)))


@pytest.mark.parametrize("objective", ["pr_auc", "profit"])
def test_other_objectives_are_maximised(parts, tmp_path, objective):
    study = tune(parts, f"sqlite:///{tmp_path / 'optuna.db'}", objective, n_trials=2, objective=objective)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.best_value > 0


def test_interrupted_study_resumes_where_it_stopped(parts, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    seen = []

    def interrupt_after_two(study, trial):
        seen.append(trial.number)
        if len(seen) == 2:
            raise KeyboardInterrupt  # what Ctrl-C (or a killed job) does mid-study

    with pytest.raises(KeyboardInterrupt):
        tune(parts, storage, "resume", n_trials=5, callbacks=[interrupt_after_two])
    before = optuna.load_study(study_name="resume", storage=storage).get_trials(states=FINISHED)
    assert len(before) == 2

    resumed = []
    study = tune(parts, storage, "resume", n_trials=5, callbacks=[lambda s, t: resumed.append(t.number)])
    assert resumed == [2, 3, 4]  # only the three missing trials ran
    finished = study.get_trials(states=FINISHED)
    assert len(finished) == 5
    assert [(t.params, t.value) for t in finished[:2]] == [(t.params, t.value) for t in before]
    assert len({tuple(sorted(t.params.items())) for t in finished}) == 5  # resuming did not redraw old points

    again = []
    tune(parts, storage, "resume", n_trials=5, callbacks=[lambda s, t: again.append(t.number)])
    assert again == []  # a complete study runs nothing


def test_study_name_changes_with_data_and_space_but_not_with_budget():
    base = {"tune": {"space": SPACE, "n_trials": 40, "timeout_s": 60}, "seed": 1, "data_md5": "a", "split": {},
            "kinds": {}}
    name = study_name(**base)
    assert study_name(**base | {"tune": base["tune"] | {"n_trials": 80, "timeout_s": 600}}) == name
    assert study_name(**base | {"data_md5": "b"}) != name
    assert study_name(**base | {"tune": base["tune"] | {"space": {}}}) != name


def test_sample_rows_is_seeded_and_capped():
    frame = snapshots(n_customers=50, n_cutoffs=2, horizon=1)
    assert sample_rows(frame, None, seed=1) is frame
    a, b = sample_rows(frame, 30, seed=1), sample_rows(frame, 30, seed=1)
    assert len(a) == 30 and a.index.equals(b.index)
    np.testing.assert_array_equal(a.index, np.sort(a.index))


def test_a_forest_fitted_on_two_threads_predicts_on_one_in_a_fixed_order(time_rows):
    """Two threads add a forest's tree probabilities in the order they finish (the last bits of model_comparison.csv
    varied between clean `dvc repro` runs); the fitted forest predicts on one, the same bits on every call."""
    rows, _ = time_rows
    kinds = feature_columns(rows)
    models = fit_baselines(rows, kinds, seed=7, n_jobs=2, options={"forest": {"n_estimators": 40}, "tree": {}})
    forest = models["forest"]
    assert forest.estimator.named_steps["model"].n_jobs == 1
    first = forest.predict_proba(rows)
    assert all(np.array_equal(first, forest.predict_proba(rows)) for _ in range(5))
    refit = fit_baselines(rows, kinds, seed=7, n_jobs=2, options={"forest": {"n_estimators": 40}})["forest"]
    assert np.array_equal(first, refit.predict_proba(rows))  # the fit itself is seeded
