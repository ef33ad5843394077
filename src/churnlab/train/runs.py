"""The train stage's MLflow runs: a parent run `train`, a nested run per baseline and per Optuna trial.

Train cannot hand its result to `core.outputs.write_result` (which opens a run of its own): the parent must be
open while the study runs, so that each trial is logged as it ends and an interrupted study leaves the runs of the
trials it finished.
"""

from pathlib import Path

import optuna

from churnlab.core import tracking
from churnlab.core.outputs import mlflow_params
from churnlab.model.serving import log_churn_model
from churnlab.train.fit import TUNED, TrainResult

STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}  # MLflow's run statuses


def trial_logger(mlflow, parent_id: str, *, objective: str):
    """Optuna callback: one nested MLflow run per finished trial, named `trial-NNN`.

    The run holds the trial's params, its objective as `val_<objective>` (a pruned trial: the value at the round it
    was stopped, as `val_<objective>_at_prune`), the rounds, the trial's state as a tag and as the run status (a
    pruned trial is KILLED, a failed one FAILED), and the trial's own start and end times, so the MLflow UI shows
    how long each trial took. Logged as each trial ends, so an interrupted study leaves the runs it finished.
    """
    client = mlflow.MlflowClient()

    def millis(moment) -> int | None:
        return int(moment.timestamp() * 1000) if moment else None

    def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        experiment = client.get_run(parent_id).info.experiment_id
        tags = {"mlflow.parentRunId": parent_id, "mlflow.runName": f"trial-{trial.number:03d}",
                "kind": "optuna_trial", "state": trial.state.name, "study": study.study_name}
        run_id = client.create_run(experiment, start_time=millis(trial.datetime_start), tags=tags).info.run_id
        for name, value in trial.params.items():
            client.log_param(run_id, name, value)
        metrics = {k: v for k, v in trial.user_attrs.items() if isinstance(v, int | float)}
        if trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
            metrics[f"val_{objective}_at_prune"] = trial.intermediate_values[max(trial.intermediate_values)]
        elif trial.value is not None:
            metrics[f"val_{objective}"] = trial.value
        if trial.last_step is not None:
            metrics["rounds"] = trial.last_step + 1
        for name, value in metrics.items():
            client.log_metric(run_id, name, float(value))
        client.set_terminated(run_id, status=STATUS.get(trial.state.name, "FAILED"),
                              end_time=millis(trial.datetime_complete))

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
    mlflow.log_metrics({"best_value": study["best_value"], "tuning_seconds": result.tuning_seconds,
                        "trials_finished": sum(study["trials"].get(s, 0) for s in ("COMPLETE", "PRUNED"))})
    mlflow.log_params({f"best.{k}": v for k, v in study["best_params"].items()})
    info = log_churn_model(mlflow, result.models[TUNED], result.validation)
    mlflow.log_dict(summary, "train.json")
    return {"run_id": parent_id, "model_uri": info.model_uri, "nested": nested,
            "tracking_uri": mlflow.get_tracking_uri()}
