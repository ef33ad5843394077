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

import logging
import time

import pandas as pd

from churnlab.contract.source import read_source
from churnlab.core import paths, tracking
from churnlab.core.io import write_json
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import write_headline
from churnlab.core.params import load_params
from churnlab.model.churn import feature_columns, save_model
from churnlab.model.split import (
    RandomSplit,
    TimeSplit,
    choose_split,
    random_split,
    read_snapshots,
    sample_rows,
)
from churnlab.train.fit import (
    TUNED,
    TrainResult,
    fit_baselines,
    study_name,
    study_summary,
    training_parts,
    tune_model,
    validation_scores,
)
from churnlab.train.runs import log_train_run, trial_logger

log = logging.getLogger(__name__)
# metrics/train.json: what `dvc exp show` compares (the detail is in reports/metrics/train.json)
HEADLINE = {"best_value": "study.best_value", "val_roc_auc": f"validation.{TUNED}.roc_auc",
            "val_pr_auc": f"validation.{TUNED}.pr_auc"}


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
    tuning_seconds = time.perf_counter() - tune_started
    summary = study_summary(study, raw, objective=tune["objective"])
    models |= {f"{TUNED}_uncalibrated": raw, TUNED: model}
    y_val = validation["label"].astype(int)
    scores = {name: validation_scores(y_val, m.predict_proba(validation)) for name, m in models.items()}
    log.info("validation: %s", scores[TUNED])
    metrics = {"split": split.as_dict(), "study": summary, "validation": scores,
               "rows": {"train": len(parts["train"]), "train_used": len(train), "validation": len(validation),
                        "tuning": len(sample_rows(train, tune["max_rows"], seed=seed))}}
    # timings go to the log and MLflow, not to train.json: the same params must give the same DVC-tracked files
    log.info("train fitted in %.0f s (tuning %.0f s)", time.perf_counter() - started, tuning_seconds)
    return TrainResult(metrics=metrics, models=models, features=kinds, validation=validation,
                       tuning_seconds=tuning_seconds)


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
    index = read_snapshots(paths.SNAPSHOTS, columns=["cutoff", "labeled"])
    split = choose_split(index, horizon_months=horizon_months, **time_split)
    return read_snapshots(paths.SNAPSHOTS, cutoffs=[*split.train, *split.validation]), split


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
    with mlflow.start_run(run_name="train", tags=tracking.process_tags()) as parent:
        logger = trial_logger(mlflow, parent.info.run_id, objective=params["tune"]["objective"])
        result = run(rows, split, seed=seed, horizon_months=horizon, profit=profit,
                     data_md5=tracking.file_hash(paths.SNAPSHOTS), storage=f"sqlite:///{paths.STUDY}",
                     folds=params["random_split"]["folds"], callbacks=[logger], **settings)
        write_models(result)
        record = log_train_run(mlflow, result, params={"base": base, "train": params, "evaluate": {"profit": profit}},
                               baselines=params["baselines"]["models"], inputs=[paths.SNAPSHOTS, paths.SOURCE])
    write_json({**record, "model_md5": tracking.file_hash(paths.CHURN_MODEL)}, paths.TRAIN_RUN)
    write_json(result.metrics, paths.METRICS / "train.json")  # last: a failed run leaves the previous metrics
    write_headline("train", result.metrics, HEADLINE)
    log.info("train done; model %s", record["model_uri"])
