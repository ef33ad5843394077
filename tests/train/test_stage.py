"""Tuning and training: the tuned, calibrated model beats a constant; an interrupted study resumes."""

import numpy as np
import optuna
import pytest
from churn_frames import snapshots
from sklearn.dummy import DummyClassifier
from sklearn.metrics import log_loss, roc_auc_score

from churnlab.model.churn import feature_columns, prepare, tree_encoder
from churnlab.model.split import choose_split, split_frames
from churnlab.model.tune import FINISHED, tune_xgboost
from churnlab.train.stage import fit_tuned, sample_rows, study_name

SPACE = {"learning_rate": {"low": 0.05, "high": 0.3, "log": True}, "max_depth": {"low": 2, "high": 4},
         "min_child_weight": {"low": 1.0, "high": 20.0, "log": True}}
PRUNER = {"startup_trials": 2, "warmup_rounds": 5}
PROFIT = {"clv": 600.0, "incentive_cost": 50.0, "contact_cost": 10.0, "acceptance_alpha": 6.0, "acceptance_beta": 14.0}


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
