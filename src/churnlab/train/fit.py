"""Fitting the churn models of the train stage: the baselines, the Optuna-tuned XGBoost and its calibration.

Pure functions: frames and settings in, fitted `ChurnModel`s and scores out. The Optuna study persists in the
storage URL it is given (models/optuna.db in the stage), so an interrupted tuning run resumes.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from churnlab.core.outputs import StageResult
from churnlab.model.churn import ChurnModel, build_baseline, fit_model, prepare, tree_encoder
from churnlab.model.crossval import fit_cv_model
from churnlab.model.split import RandomSplit, TimeSplit, check_no_leakage, sample_rows, split_frames
from churnlab.model.tune import OBJECTIVES, fit_xgboost, tune_xgboost

log = logging.getLogger(__name__)
TUNED = "xgboost_tuned"


@dataclass
class TrainResult(StageResult):
    """`run`'s result: the summary of reports/metrics/train.json as `metrics`, and what train writes besides.

    `models` are by name, the baselines first; `TUNED` is the calibrated model (models/churn_model.pkl), the
    others go to models/candidates/<name>.pkl. `features` are the model's input columns by kind; `validation`
    the validation rows (the pyfunc's input example is taken from them).
    """

    models: dict[str, ChurnModel] = field(default_factory=dict)
    features: dict[str, list[str]] = field(default_factory=dict)
    validation: pd.DataFrame | None = None
    tuning_seconds: float = 0.0  # logged to MLflow only: a timing would make train.json differ run to run


def validation_scores(y, p) -> dict[str, float]:
    """Validation metrics logged for every model (the test metrics come from `evaluate`)."""
    y, p = np.asarray(y, int), np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def training_parts(rows: pd.DataFrame, split: TimeSplit | RandomSplit, *, horizon_months: int) -> dict:
    """The `train` and `validation` rows of `split`; SplitError when a time split's labels overlap the next part."""
    if isinstance(split, RandomSplit):
        return {name: part for name, part in split.parts(rows).items() if name != "test"}  # test: evaluate's
    parts = split_frames(rows, split)  # the test part is empty: train never reads the test cutoff
    check_no_leakage(parts, horizon_months=horizon_months)
    return parts


def fit_baselines(train: pd.DataFrame, kinds: dict, *, seed: int, n_jobs: int, options: dict) -> dict[str, ChurnModel]:
    """Fit each baseline named in `options` ({name: constructor options}) on `train`."""
    y = train["label"].astype(int)
    models = {}
    for name, opts in options.items():
        started = time.perf_counter()
        pipeline = build_baseline(name, kinds, seed=seed, n_jobs=n_jobs, **(opts or {}))
        models[name] = fit_model(pipeline, train, y, kinds, name=name)
        if isinstance(pipeline[-1], RandomForestClassifier):
            # a forest's threads add the trees' probabilities in whatever order they finish, so the last bits of
            # a prediction (and of model_comparison.csv, in dvc.lock) varied between runs; one thread adds in order
            pipeline.set_params(model__n_jobs=1)
        log.info("baseline %s fitted on %d rows in %.1f s", name, len(train), time.perf_counter() - started)
    return models


def fit_tuned(train: pd.DataFrame, validation: pd.DataFrame, kinds: dict, *, best_params: dict, seed: int,
              n_jobs: int, max_rounds: int, early_stopping_rounds: int, eval_metric: str) -> ChurnModel:
    """The tuned XGBoost refitted on all `train` rows, early-stopped on `validation` (uncalibrated)."""
    encoder = tree_encoder(kinds).fit(prepare(train, kinds))
    X_train, X_val = encoder.transform(prepare(train, kinds)), encoder.transform(prepare(validation, kinds))
    booster = fit_xgboost(X_train, train["label"].astype(int), X_val, validation["label"].astype(int),
                          params=best_params, seed=seed, n_jobs=n_jobs, max_rounds=max_rounds,
                          early_stopping_rounds=early_stopping_rounds, eval_metric=eval_metric)
    booster.set_params(early_stopping_rounds=None, callbacks=None)  # fitted: scoring needs neither
    return ChurnModel(Pipeline([("encode", encoder), ("model", booster)]), kinds, name=TUNED)


def tune_on_validation(train: pd.DataFrame, validation: pd.DataFrame, kinds: dict, *, tune: dict, calibration: str,
                       seed: int, n_jobs: int, **study_options) -> tuple[ChurnModel, ChurnModel, optuna.Study]:
    """The time split's tuned model: Optuna on a sample of `train` scored on `validation` (`tune.tune_xgboost`),
    the best trial refitted on all of `train` early-stopped on `validation`, then calibrated there.
    Returns (uncalibrated, calibrated, study)."""
    tuning_rows = sample_rows(train, tune["max_rows"], seed=seed)
    encoder = tree_encoder(kinds).fit(prepare(tuning_rows, kinds))
    y_val = validation["label"].astype(int)
    study = tune_xgboost(encoder.transform(prepare(tuning_rows, kinds)), tuning_rows["label"].astype(int),
                         encoder.transform(prepare(validation, kinds)), y_val, seed=seed, n_jobs=n_jobs,
                         n_trials=tune["n_trials"], timeout_s=tune["timeout_s"], objective=tune["objective"],
                         space=tune["space"], pruner=tune["pruner"], max_rounds=tune["max_rounds"],
                         early_stopping_rounds=tune["early_stopping_rounds"], **study_options)
    raw = fit_tuned(train, validation, kinds, best_params=study.best_params, seed=seed, n_jobs=n_jobs,
                    max_rounds=tune["max_rounds"], early_stopping_rounds=tune["early_stopping_rounds"],
                    eval_metric=OBJECTIVES[tune["objective"]][1])
    return raw, raw.calibrated(validation, y_val, method=calibration), study


def tune_model(train: pd.DataFrame, validation: pd.DataFrame, kinds: dict, *, random: bool, folds: int, tune: dict,
               calibration: str, **study_options) -> tuple[ChurnModel, ChurnModel, optuna.Study]:
    """(uncalibrated, calibrated, study) of the tuned XGBoost.

    Time split: tuned, early-stopped and calibrated on the validation cutoff (`tune_on_validation`), so the
    validation scores of the calibrated model flatter it. Random split: tuned by `folds`-fold CV on the training
    customers and calibrated out of fold (`model.crossval.fit_cv_model`); the validation customers stay a clean
    holdout."""
    if not random:
        return tune_on_validation(train, validation, kinds, tune=tune, calibration=calibration, **study_options)
    fit = fit_cv_model(train, kinds, folds=folds, validation_share=0.0, tune=tune, calibration=calibration,
                       **study_options)
    return fit.raw, fit.model, fit.study


def study_name(*, tune: dict, seed: int, data_md5: str, split: dict, kinds: dict) -> str:
    """A name that changes whenever the trials of an old study would no longer be comparable."""
    keep = {k: v for k, v in tune.items() if k not in ("n_trials", "timeout_s")}
    payload = json.dumps({"tune": keep, "seed": seed, "data": data_md5, "split": split, "kinds": kinds},
                         sort_keys=True, default=str)
    return "xgb-" + hashlib.md5(payload.encode()).hexdigest()[:12]


def study_summary(study: optuna.Study, raw: ChurnModel, *, objective: str) -> dict:
    """The study's name, best trial and value, trial states, and the rounds of the refitted booster."""
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    log.info("study %s: best %s = %.5f (trial %d); trials %s", study.study_name, objective, study.best_value,
             study.best_trial.number, states)
    return {"name": study.study_name, "best_value": study.best_value, "best_trial": study.best_trial.number,
            "best_params": study.best_params, "trials": states, "objective": objective,
            "rounds": int(raw.estimator.named_steps["model"].best_iteration) + 1}
