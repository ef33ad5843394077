"""The `train` stage: baselines and an Optuna-tuned, calibrated XGBoost on the training part of the split.

Reads data/raw/source.json and data/processed/snapshots.parquet. With a time axis the split is out of time and
train reads only the training and validation cutoffs (the test cutoff is left for `evaluate`); without one (a
snapshot file, one date) the customers are split at random and the test customers dropped. Writes
models/split.json, models/candidates/<name>.pkl (the baselines and the uncalibrated tuned model),
models/churn_model.pkl (the tuned model, calibrated), models/optuna.db (the study, kept between runs so tuning
resumes), models/mlflow_run.json and reports/metrics/train.json.

`run` fits and scores; it reads no file and no params and talks to no MLflow, except through the Optuna study
storage and callbacks it is given. MLflow: train's run is a parent run, so it does not go through
`core.outputs.write_result` (which starts a run of its own): `main` opens the parent before `run` so that
`trial_logger` can add one nested run per Optuna trial while the study runs, then `log_train_run` fills the parent
(params, lineage tags, validation metrics, features, a nested run per baseline, the calibrated model as a pyfunc).
Run with `python -m churnlab.train`.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from churnlab.contract.source import read_source
from churnlab.core import paths, tracking
from churnlab.core.io import write_json
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, mlflow_params
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
from churnlab.model.serving import log_churn_model
from churnlab.model.split import (
    RandomSplit,
    TimeSplit,
    check_no_leakage,
    choose_split,
    random_split,
    read_snapshots,
    sample_rows,
    split_frames,
)
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


def study_summary(study: optuna.Study, raw: ChurnModel, *, objective: str, tuning_seconds: float) -> dict:
    """The study's name, best trial and value, trial states, and the rounds of the refitted booster."""
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    log.info("study %s: best %s = %.5f (trial %d); trials %s", study.study_name, objective, study.best_value,
             study.best_trial.number, states)
    return {"name": study.study_name, "best_value": study.best_value, "best_trial": study.best_trial.number,
            "best_params": study.best_params, "trials": states, "objective": objective,
            "rounds": int(raw.estimator.named_steps["model"].best_iteration) + 1, "tuning_seconds": tuning_seconds}


def run(rows: pd.DataFrame, split: TimeSplit | RandomSplit, *, seed: int, horizon_months: int, profit: dict,
        data_md5: str, storage: str, n_jobs: int, exclude: list[str], max_train_rows: int | None, calibration: str,
        baselines: dict, tune: dict, folds: int, callbacks=()) -> TrainResult:
    """Fit the baselines, tune, refit and calibrate XGBoost on the training part of `rows`; score all on validation.

    `rows` are the snapshots `split` was chosen on (without the test cutoff on a time split); the keyword settings
    are params `base` and `train` (`folds`: train.random_split.folds, used on a random split only), `profit` is
    params `evaluate.profit` (the profit objective) and `data_md5` the snapshots' md5, part of the study name.
    The study lives in `storage` (an Optuna storage URL): a study already complete under that name runs no new
    trial. Optuna calls each of `callbacks` after a trial.
    """
    started = time.perf_counter()
    parts = training_parts(rows, split, horizon_months=horizon_months)
    train, validation = sample_rows(parts["train"], max_train_rows, seed=seed), parts["validation"]
    kinds = feature_columns(rows, exclude=exclude)
    log.info("split %s: %d training rows (%d used), %d validation rows; %d features", split.as_dict(),
             len(parts["train"]), len(train), len(validation), sum(map(len, kinds.values())))
    models = fit_baselines(sample_rows(train, baselines["max_rows"], seed=seed), kinds, seed=seed, n_jobs=n_jobs,
                           options=baselines["models"])
    tune_started = time.perf_counter()
    raw, model, study = tune_model(
        train, validation, kinds, random=isinstance(split, RandomSplit), folds=folds, tune=tune,
        calibration=calibration, storage=storage, seed=seed, n_jobs=n_jobs, profit=profit, callbacks=callbacks,
        study_name=study_name(tune=tune, seed=seed, data_md5=data_md5, split=split.as_dict(), kinds=kinds))
    summary = study_summary(study, raw, objective=tune["objective"], tuning_seconds=time.perf_counter() - tune_started)
    models |= {f"{TUNED}_uncalibrated": raw, TUNED: model}
    y_val = validation["label"].astype(int)
    scores = {name: validation_scores(y_val, m.predict_proba(validation)) for name, m in models.items()}
    log.info("validation: %s", scores[TUNED])
    metrics = {"split": split.as_dict(), "study": summary, "validation": scores,
               "rows": {"train": len(parts["train"]), "train_used": len(train), "validation": len(validation),
                        "tuning": len(sample_rows(train, tune["max_rows"], seed=seed))},
               "seconds": time.perf_counter() - started}
    return TrainResult(metrics=metrics, models=models, features=kinds, validation=validation)


def read_training_rows(*, time_axis: bool, horizon_months: int, seed: int, time_split: dict,
                       random: dict) -> tuple[pd.DataFrame, TimeSplit | RandomSplit]:
    """The snapshot rows train may read, and their split (params train.split and train.random_split).

    Time axis: the out-of-time split chosen on the cutoff index, and the rows of its training and validation
    cutoffs only. No time axis (one date): every row, split at random by customer, stratified by churn.
    """
    if not time_axis:
        rows = read_snapshots(paths.SNAPSHOTS)
        return rows, random_split(rows, seed=seed, test_share=random["test_share"],
                                  validation_share=random["validation_share"])
    index = pd.read_parquet(paths.SNAPSHOTS, columns=["cutoff", "labeled"])
    split = choose_split(index, horizon_months=horizon_months, **time_split)
    return read_snapshots(paths.SNAPSHOTS, cutoffs=[*split.train, *split.validation]), split


def trial_logger(mlflow, parent_id: str):
    """Optuna callback: one nested MLflow run per finished trial (params, value, state, best round).

    Logged as each trial ends, so an interrupted study leaves the runs of the trials it finished.
    """

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


def log_baseline(mlflow, parent_id: str, name: str, *, options: dict | None, scores: dict) -> str:
    """One nested MLflow run for a baseline: its constructor options and validation metrics; returns its run id."""
    with mlflow.start_run(run_name=name, nested=True, parent_run_id=parent_id) as child:
        mlflow.set_tags({"kind": "baseline", "model": name})
        mlflow.log_params(mlflow_params(options or {"defaults": True}))
        mlflow.log_metrics({f"val_{k}": v for k, v in scores.items()})
        return child.info.run_id


def log_train_run(mlflow, result: TrainResult, *, params: dict, baselines: dict, inputs: list[Path]) -> dict:
    """Fill the active parent run with `result`; returns models/mlflow_run.json's record (run ids, model URI).

    The parent gets the params sections read, lineage tags, the features, the tuned model's validation metrics
    (`val_*`), study figures and best params, the summary and the calibrated model as a pyfunc; each baseline
    (`baselines`: params train.baselines.models) a nested run, which `evaluate` adds its test metrics to.
    """
    parent_id, summary, study = mlflow.active_run().info.run_id, result.metrics, result.metrics["study"]
    mlflow.set_tags({**tracking.lineage_tags("train", inputs), "kind": "train"})
    mlflow.log_params(mlflow_params(params))
    mlflow.log_dict({**result.features, "split": summary["split"]}, "features.json")
    nested = {name: log_baseline(mlflow, parent_id, name, options=options, scores=summary["validation"][name])
              for name, options in baselines.items()}
    mlflow.log_metrics({f"val_{k}": v for k, v in summary["validation"][TUNED].items()})
    mlflow.log_metrics({"best_value": study["best_value"], "tuning_seconds": study["tuning_seconds"],
                        "trials_finished": sum(study["trials"].get(s, 0) for s in ("COMPLETE", "PRUNED"))})
    mlflow.log_params({f"best.{k}": v for k, v in study["best_params"].items()})
    info = log_churn_model(mlflow, result.models[TUNED], result.validation)
    mlflow.log_dict(summary, "train.json")
    return {"run_id": parent_id, "model_uri": info.model_uri, "nested": nested,
            "tracking_uri": mlflow.get_tracking_uri()}


def write_models(result: TrainResult) -> None:
    """models/split.json and one pickle per model: the calibrated tuned model is models/churn_model.pkl."""
    write_json(result.metrics["split"], paths.SPLIT)
    for name, model in result.models.items():
        save_model(model, paths.CHURN_MODEL if name == TUNED else paths.CANDIDATES / f"{name}.pkl")


def main() -> None:
    setup_logging()
    base, params, profit = load_params("base"), load_params("train"), load_params("evaluate")["profit"]
    seed, horizon = base["seed"], base["horizon_months"]
    rows, split = read_training_rows(time_axis=read_source().time_axis, horizon_months=horizon, seed=seed,
                                     time_split=params["split"], random=params["random_split"])
    settings = {k: v for k, v in params.items() if k not in ("split", "random_split")}
    paths.STUDY.parent.mkdir(parents=True, exist_ok=True)
    mlflow = tracking.start()
    with mlflow.start_run(run_name="train") as parent:
        result = run(rows, split, seed=seed, horizon_months=horizon, profit=profit,
                     data_md5=tracking.file_hash(paths.SNAPSHOTS), storage=f"sqlite:///{paths.STUDY}",
                     folds=params["random_split"]["folds"], callbacks=[trial_logger(mlflow, parent.info.run_id)],
                     **settings)
        write_models(result)
        record = log_train_run(mlflow, result, params={"base": base, "train": params, "evaluate": {"profit": profit}},
                               baselines=params["baselines"]["models"], inputs=[paths.SNAPSHOTS, paths.SOURCE])
    write_json(record, paths.TRAIN_RUN)
    write_json(result.metrics, paths.METRICS / "train.json")  # last: a failed run leaves the previous metrics
    log.info("train done in %.0f s; model %s", result.metrics["seconds"], record["model_uri"])
