"""k-fold tuning for the snapshot source: stratified splits, CV studies, and the tuned, calibrated model."""

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import roc_auc_score

from churnlab.model.churn import ChurnModel, feature_columns, prepare, tree_encoder
from churnlab.model.crossval import CVFit, fit_cv_model, stratified_holdout, tune_xgboost_cv
from churnlab.model.reasons import contributions
from churnlab.model.tune import FINISHED

SPACE = {"learning_rate": {"low": 0.1, "high": 0.3, "log": True}, "max_depth": {"low": 2, "high": 3},
         "min_child_weight": {"low": 1.0, "high": 5.0, "log": True}}
PRUNER = {"startup_trials": 2, "warmup_rounds": 5}
PROFIT = {"clv": 600.0, "incentive_cost": 50.0, "contact_cost": 10.0, "acceptance_alpha": 6.0, "acceptance_beta": 14.0}
TUNE = {"n_trials": 3, "timeout_s": None, "objective": "log_loss", "space": SPACE, "pruner": PRUNER,
        "max_rounds": 60, "early_stopping_rounds": 10, "max_rows": None}


def customers(n: int = 240, *, churners: int = 60, separable: bool = False, seed: int = 0) -> pd.DataFrame:
    """Snapshot-source rows: `churners` customers with label 1 and a higher `complaints` signal.

    Separable: every churner has complaints in 5..9 and every stayer 0..4, so a single split ranks them all.
    Otherwise the signal overlaps (churners ~ N(1, 1), stayers ~ N(0, 1)): a true AUC of Phi(1/sqrt 2) = 0.76.
    """
    rng = np.random.default_rng(seed)
    label = np.r_[np.ones(churners, int), np.zeros(n - churners, int)]
    complaints = np.where(label == 1, rng.integers(5, 10, n), rng.integers(0, 5, n)).astype(float) if separable \
        else rng.normal(label.astype(float), 1.0)
    return pd.DataFrame({
        "customer_id": [f"p_{i:04d}" for i in range(n)],
        "label": pd.array(label, dtype="Int8"),
        "complaints": complaints,
        "balance": rng.lognormal(8.0, 1.0, n),
        "country": pd.Categorical(rng.choice(["FR", "DE", "ES"], n)),
        "active": rng.random(n) < 0.5,
    }).sample(frac=1.0, random_state=seed).reset_index(drop=True)  # classes interleaved, as in a real file


def encoded(rows: pd.DataFrame):
    kinds = feature_columns(rows)
    return tree_encoder(kinds).fit(prepare(rows, kinds)).transform(prepare(rows, kinds)), rows["label"].astype(int)


def tune(X, y, storage, name, *, n_trials=3, objective="log_loss", folds=3, callbacks=()):
    return tune_xgboost_cv(X, y, folds=folds, storage=storage, study_name=name, seed=3, n_trials=n_trials,
                           timeout_s=None, objective=objective, space=SPACE, pruner=PRUNER, max_rounds=60,
                           early_stopping_rounds=10, n_jobs=1, profit=PROFIT, callbacks=callbacks,
                           show_progress_bar=False)


def fit(rows, tmp_path, name="fit", *, share=0.0, calibration="platt") -> CVFit:
    return fit_cv_model(rows, feature_columns(rows), seed=3, folds=3, validation_share=share, tune=TUNE, n_jobs=1,
                        calibration=calibration, storage=f"sqlite:///{tmp_path / 'optuna.db'}", study_name=name,
                        profit=PROFIT, show_progress_bar=False)


def test_stratified_holdout_keeps_the_churn_rate_exactly():
    rows = customers(200, churners=50)  # share 0.2 of 50 churners and 150 stayers: 10 and 30 held out
    rest, held = stratified_holdout(rows, share=0.2, seed=1)
    assert (held["label"].sum(), len(held)) == (10, 40)
    assert (rest["label"].sum(), len(rest)) == (40, 160)
    assert not set(rest.index) & set(held.index) and len(rest) + len(held) == len(rows)
    assert rest.index.is_monotonic_increasing and held.index.is_monotonic_increasing  # original order kept
    again, _ = stratified_holdout(rows, share=0.2, seed=1)
    other, _ = stratified_holdout(rows, share=0.2, seed=2)
    assert rest.index.equals(again.index) and not rest.index.equals(other.index)


@pytest.mark.parametrize(("label", "share", "message"), [
    ([0] * 20, 0.2, "0 churners"),                      # one class only
    ([1] * 2 + [0] * 18, 0.2, "2 churners"),            # 20 % of 2 churners rounds to none held out
    ([1] * 10 + [0] * 10, 1.0, "strictly between 0 and 1"),
    ([1] * 10 + [None] * 10, 0.2, "have no label"),
    ([1] * 10 + [2] * 10, 0.2, "0 .stayer. or 1"),
])
def test_stratified_holdout_failures_are_clear(label, share, message):
    rows = pd.DataFrame({"label": pd.array(label, dtype="Int8"), "x": range(len(label))})
    with pytest.raises(ValueError, match=message):
        stratified_holdout(rows, share=share, seed=0)


def test_separable_signal_ranks_perfectly_out_of_fold(tmp_path):
    X, y = encoded(customers(separable=True))
    study = tune(X, y, f"sqlite:///{tmp_path / 'optuna.db'}", "separable", objective="pr_auc")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        # average precision 1 on every held-out fold: each churner ranked above every stayer out of fold
        assert trial.user_attrs["fold_values"] == pytest.approx([1.0] * 3)


def test_trial_value_is_the_mean_over_folds_reported_fold_by_fold(tmp_path):
    X, y = encoded(customers())
    study = tune(X, y, f"sqlite:///{tmp_path / 'optuna.db'}", "mean")
    for trial in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        values = trial.user_attrs["fold_values"]
        assert trial.value == pytest.approx(np.mean(values))
        assert list(trial.intermediate_values) == [0, 1, 2]  # one report per fold: the running mean
        assert [trial.intermediate_values[k] for k in range(3)] == pytest.approx(
            [np.mean(values[:k + 1]) for k in range(3)])
        assert 0 <= trial.user_attrs["best_iteration"] < 60


def test_interrupted_cv_study_runs_only_the_missing_trials(tmp_path):
    X, y = encoded(customers())
    storage, seen = f"sqlite:///{tmp_path / 'optuna.db'}", []

    def interrupt_after_two(study, trial):
        seen.append(trial.number)
        if len(seen) == 2:
            raise KeyboardInterrupt  # what Ctrl-C (or a killed job) does mid-study

    with pytest.raises(KeyboardInterrupt):
        tune(X, y, storage, "resume", n_trials=4, callbacks=[interrupt_after_two])
    before = optuna.load_study(study_name="resume", storage=storage).get_trials(states=FINISHED)
    resumed = []
    study = tune(X, y, storage, "resume", n_trials=4, callbacks=[lambda s, t: resumed.append(t.number)])
    assert len(before) == 2 and resumed == [2, 3]
    assert [(t.params, t.value) for t in study.get_trials(states=FINISHED)[:2]] == \
        [(t.params, t.value) for t in before]


@pytest.mark.parametrize(("label", "message"), [
    ([0] * 30, "found 0 churner"),           # one class
    ([1] * 2 + [0] * 28, "at least 3 rows of each class"),  # 2 churners cannot fill 3 folds
])
def test_cv_tuning_needs_both_classes_in_every_fold(tmp_path, label, message):
    X = np.arange(len(label), dtype=float).reshape(-1, 1)
    with pytest.raises(ValueError, match=message):
        tune(X, label, f"sqlite:///{tmp_path / 'optuna.db'}", "bad")


def test_unknown_objective_fails_before_any_trial(tmp_path):
    X, y = encoded(customers())
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(ValueError, match="objective must be one of"):
        tune(X, y, storage, "typo", objective="auc")
    assert optuna.get_all_study_names(storage) == []


def test_same_seed_gives_the_same_study_and_predictions(tmp_path):
    rows = customers()
    a, b = fit(rows, tmp_path, "a"), fit(rows, tmp_path, "b")
    assert a.study.best_value == b.study.best_value and a.study.best_params == b.study.best_params
    np.testing.assert_array_equal(a.model.predict_proba(rows), b.model.predict_proba(rows))
    np.testing.assert_array_equal(a.validation_p, b.validation_p)


def test_tuned_model_is_a_calibrated_churn_model_the_stages_can_use(tmp_path):
    train, test = customers(seed=0), customers(seed=1)
    fitted = fit(train, tmp_path)
    assert isinstance(fitted.model, ChurnModel) and isinstance(fitted.raw, ChurnModel)
    assert isinstance(fitted.model.estimator, CalibratedClassifierCV)
    booster, matrix = fitted.model.booster_and_matrix(test)  # what evaluate and score use for TreeSHAP
    refit = fitted.summary["refit"]  # a quarter of the tuned learning rate for four times the rounds
    assert refit["rounds"] == 4 * fitted.summary["study"]["tuned_rounds"]
    assert refit["learning_rate"] == pytest.approx(fitted.study.best_params["learning_rate"] / 4)
    assert booster.best_iteration + 1 == refit["rounds"] == booster.get_booster().num_boosted_rounds()
    assert contributions(fitted.model, test.head(5)).shape == (5, matrix.shape[1] + 1)
    p, p_raw = fitted.model.predict_proba(test), fitted.raw.predict_proba(test)
    # the signal overlaps (true AUC 0.76); Platt scaling is monotone, so calibration keeps the ranking
    assert roc_auc_score(test["label"].astype(int), p) > 0.65
    assert roc_auc_score(test["label"].astype(int), p) == pytest.approx(roc_auc_score(test["label"].astype(int), p_raw))
    # share 0: calibrated on out-of-fold probabilities of every row; their mean matches the churn rate
    assert len(fitted.validation) == len(train) and fitted.validation_p.shape == (len(train),)
    assert fitted.validation_p.mean() == pytest.approx(0.25, abs=0.03)
    oof_auc = roc_auc_score(train["label"].astype(int), fitted.validation_p)
    assert fitted.summary["validation"]["roc_auc"] == pytest.approx(oof_auc) and oof_auc > 0.65
    study = fitted.summary["study"]  # the study as train.json reports it
    assert (study["name"], study["folds"], sum(study["trials"].values())) == ("fit", 3, 3)
    assert study["best_value"] == fitted.study.best_value and study["best_params"] == fitted.study.best_params


def test_holdout_share_calibrates_on_rows_the_booster_never_saw(tmp_path):
    rows = customers()
    fitted = fit(rows, tmp_path, share=0.25, calibration="isotonic")
    assert len(fitted.validation) == 60 and fitted.validation["label"].sum() == 15  # 25 % of each class
    assert fitted.summary["rows"]["fit"] == 180
    np.testing.assert_allclose(fitted.validation_p, fitted.model.predict_proba(fitted.validation))


@pytest.mark.parametrize(("share", "calibration", "message"), [
    (0.0, "beta", "calibration must be one of"), (0.25, "beta", "calibration must be one of"),
    (-0.1, "platt", "validation_share must be in"), (1.0, "platt", "validation_share must be in"),
])
def test_bad_settings_fail_before_tuning(tmp_path, share, calibration, message):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    with pytest.raises(ValueError, match=message):
        fit(customers(), tmp_path, "bad", share=share, calibration=calibration)
    assert optuna.get_all_study_names(storage) == []
