"""The `train` stage: baselines and an Optuna-tuned, calibrated XGBoost on the out-of-time split.

Reads data/processed/snapshots.parquet (the training and validation cutoffs only: the test cutoff is left
for `evaluate`). Writes models/split.json, models/candidates/<name>.pkl (the baselines and the uncalibrated
tuned model), models/churn_model.pkl (the tuned model calibrated on validation), models/optuna.db (the
study, kept between runs so tuning resumes), models/mlflow_run.json and reports/metrics/train.json.

MLflow: one parent run per execution with a nested run per baseline and per Optuna trial; the parent logs
params (base, train, evaluate.profit), lineage tags, validation metrics, the feature list and the
calibrated model as a pyfunc. Run with `python -m churnlab.train`.
"""

import hashlib
import json
import logging
import time

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from churnlab.core import paths, tracking
from churnlab.core.io import write_json
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.model.churn import (
    ChurnModel,
    build_baseline,
    feature_columns,
    fit_model,
    prepare,
    save_model,
    tree_encoder,
)
from churnlab.model.crossval import fit_cv_model
from churnlab.model.serving import flatten, log_churn_model
from churnlab.model.split import check_no_leakage, choose_split, random_split, read_snapshots, sample_rows, split_frames
from churnlab.model.tune import OBJECTIVES, fit_xgboost, tune_xgboost

log = logging.getLogger(__name__)
TUNED = "xgboost_tuned"


def validation_scores(y, p) -> dict[str, float]:
    """Validation metrics logged for every model (the test metrics come from `evaluate`)."""
    y, p = np.asarray(y, int), np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def fit_baselines(train: pd.DataFrame, kinds: dict, *, seed: int, n_jobs: int, options: dict) -> dict[str, ChurnModel]:
    """Fit each baseline named in `options` ({name: constructor options}) on `train`."""
    y = train["label"].astype(int)
    models = {}
    for name, opts in options.items():
        started = time.perf_counter()
        pipeline = build_baseline(name, kinds, seed=seed, n_jobs=n_jobs, **(opts or {}))
        models[name] = fit_model(pipeline, train, y, kinds, name=name)
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


def study_name(*, tune: dict, seed: int, data_md5: str, split: dict, kinds: dict) -> str:
    """A name that changes whenever the trials of an old study would no longer be comparable."""
    keep = {k: v for k, v in tune.items() if k not in ("n_trials", "timeout_s")}
    payload = json.dumps({"tune": keep, "seed": seed, "data": data_md5, "split": split, "kinds": kinds},
                         sort_keys=True, default=str)
    return "xgb-" + hashlib.md5(payload.encode()).hexdigest()[:12]


def trial_logger(mlflow, parent_id: str):
    """Optuna callback: one nested MLflow run per finished trial (params, value, state, best round)."""

    def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        with mlflow.start_run(run_name=f"trial-{trial.number:03d}", nested=True, parent_run_id=parent_id):
            mlflow.set_tags({"kind": "optuna_trial", "state": trial.state.name, "study": study.study_name})
            mlflow.log_params(trial.params)
            metrics = {"duration_s": trial.duration.total_seconds() if trial.duration else 0.0}
            if trial.value is not None:
                metrics["value"] = trial.value
            if trial.last_step is not None:
                metrics["rounds"] = trial.last_step + 1
            metrics.update({k: v for k, v in trial.user_attrs.items() if isinstance(v, int | float)})
            mlflow.log_metrics(metrics)

    return log_trial


def main() -> None:
    setup_logging()
    base, params, profit = load_params("base"), load_params("train"), load_params("evaluate")["profit"]
    seed, horizon, n_jobs, tune = base["seed"], base["horizon_months"], params["n_jobs"], params["tune"]
    started = time.perf_counter()

    random_params = params["random_split"] if load_params("data")["source"] == "snapshot" else None
    if random_params:  # no time axis: a stratified random split by customer, tuned by k-fold CV (model.crossval)
        rows = read_snapshots(paths.SNAPSHOTS)
        split = random_split(rows, seed=seed, test_share=random_params["test_share"],
                             validation_share=random_params["validation_share"])
        parts = {name: part for name, part in split.parts(rows).items() if name != "test"}  # test: evaluate's
    else:
        index = pd.read_parquet(paths.SNAPSHOTS, columns=["cutoff", "labeled"])
        split = choose_split(index, horizon_months=horizon, **params["split"])
        rows = read_snapshots(paths.SNAPSHOTS, cutoffs=[*split.train, *split.validation])
        parts = split_frames(rows, split)  # the test part is empty: train never reads the test cutoff
        check_no_leakage(parts, horizon_months=horizon)
    train, validation = sample_rows(parts["train"], params["max_train_rows"], seed=seed), parts["validation"]
    kinds = feature_columns(rows, exclude=params["exclude"])
    log.info("split %s: %d training rows (%d used), %d validation rows; %d features", split.as_dict(),
             len(parts["train"]), len(train), len(validation), sum(map(len, kinds.values())))
    write_json(split.as_dict(), paths.SPLIT)
    y_val = validation["label"].astype(int)

    mlflow = tracking.start()
    with mlflow.start_run(run_name="train") as parent:
        parent_id = parent.info.run_id
        mlflow.set_tags({**tracking.lineage_tags("train", [paths.SNAPSHOTS]), "kind": "train"})
        mlflow.log_params(flatten({"base": base, "train": params, "evaluate.profit": profit}))
        mlflow.log_dict({**kinds, "split": split.as_dict()}, "features.json")
        runs, scores = {}, {}

        baselines = fit_baselines(sample_rows(train, params["baselines"]["max_rows"], seed=seed), kinds, seed=seed,
                                  n_jobs=n_jobs, options=params["baselines"]["models"])
        for name, model in baselines.items():
            scores[name] = validation_scores(y_val, model.predict_proba(validation))
            with mlflow.start_run(run_name=name, nested=True, parent_run_id=parent_id) as child:
                mlflow.set_tags({"kind": "baseline", "model": name})
                mlflow.log_params(flatten(params["baselines"]["models"][name] or {"defaults": True}))
                mlflow.log_metrics({f"val_{k}": v for k, v in scores[name].items()})
                runs[name] = child.info.run_id
            save_model(model, paths.CANDIDATES / f"{name}.pkl")

        name = study_name(tune=tune, seed=seed, data_md5=tracking.file_hash(paths.SNAPSHOTS),
                          split=split.as_dict(), kinds=kinds)
        paths.STUDY.parent.mkdir(parents=True, exist_ok=True)
        tune_started = time.perf_counter()
        study_options = {"storage": f"sqlite:///{paths.STUDY}", "study_name": name, "seed": seed, "n_jobs": n_jobs,
                         "profit": profit, "callbacks": [trial_logger(mlflow, parent_id)]}
        if random_params:  # k-fold CV on the training customers; the validation part stays a clean holdout
            fit = fit_cv_model(train, kinds, folds=random_params["folds"], validation_share=0.0, tune=tune,
                               calibration=params["calibration"], **study_options)
            raw, model, study = fit.raw, fit.model, fit.study
        else:
            raw, model, study = tune_on_validation(train, validation, kinds, tune=tune,
                                                   calibration=params["calibration"], **study_options)
        tune_seconds = time.perf_counter() - tune_started
        states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
        log.info("study %s: best %s = %.5f (trial %d); trials %s", name, tune["objective"], study.best_value,
                 study.best_trial.number, states)
        save_model(raw, paths.CANDIDATES / f"{TUNED}_uncalibrated.pkl")
        save_model(model, paths.CHURN_MODEL)
        scores[f"{TUNED}_uncalibrated"] = validation_scores(y_val, raw.predict_proba(validation))
        scores[TUNED] = validation_scores(y_val, model.predict_proba(validation))
        # on a time split calibration was fitted on validation, so these flatter the tuned model; on a random
        # split the validation part is a clean holdout (calibrated out of fold on the training customers)
        log.info("validation: %s", scores[TUNED])

        summary = {
            "split": split.as_dict(), "rows": {"train": len(parts["train"]), "train_used": len(train),
                                               "tuning": len(sample_rows(train, tune["max_rows"], seed=seed)),
                                               "validation": len(validation)},
            "study": {"name": name, "best_value": study.best_value, "best_trial": study.best_trial.number,
                      "best_params": study.best_params, "trials": states, "objective": tune["objective"],
                      "rounds": int(raw.estimator.named_steps["model"].best_iteration) + 1,
                      "tuning_seconds": tune_seconds},
            "validation": scores, "seconds": time.perf_counter() - started,
        }
        mlflow.log_metrics({f"val_{k}": v for k, v in scores[TUNED].items()})
        mlflow.log_metrics({"best_value": study.best_value, "tuning_seconds": tune_seconds,
                            "trials_finished": sum(states.get(s, 0) for s in ("COMPLETE", "PRUNED"))})
        mlflow.log_params({f"best.{k}": v for k, v in study.best_params.items()})
        info = log_churn_model(mlflow, model, validation)
        summary["seconds"] = time.perf_counter() - started
        mlflow.log_dict(summary, "train.json")
        write_json({"run_id": parent_id, "model_uri": info.model_uri, "nested": runs,
                    "tracking_uri": mlflow.get_tracking_uri()}, paths.TRAIN_RUN)
    write_json(summary, paths.METRICS / "train.json")
    log.info("train done in %.0f s; model %s", summary["seconds"], info.model_uri)
