"""Optuna tuning of XGBoost on the validation cutoff(s), resumable from a SQLite study.

Each trial draws hyperparameters from the search space in params (TPE, seeded), fits XGBoost on the
training rows with early stopping on the validation rows, and is pruned early by Optuna's median pruner
when its validation curve lags the earlier trials (XGBoostPruningCallback reports it every round). The
trial's value is the objective chosen in params, measured on the validation rows at the best round:

- log_loss: validation log loss (minimised; a proper scoring rule, so it rewards calibrated probabilities);
- pr_auc: validation average precision (maximised; ranking of the rare churners);
- profit: validation EMPC in EUR per customer (maximised; `churnlab.model.metrics.empc`). XGBoost has no EMPC
  metric, so pruning and early stopping watch the log loss.

The study lives in SQLite: a run that stops (crash, Ctrl-C, timeout) keeps its finished trials, and the
next run with the same study name only runs the trials still missing. The TPE seed is the base seed plus
the number of trials already in the study, so a resumed run does not redraw the same start-up points.
`run_study` holds that opening, resuming and running; `churnlab.model.crossval` uses it for k-fold tuning too.
"""

import logging

import numpy as np
import optuna
import xgboost as xgb
from optuna_integration import XGBoostPruningCallback
from sklearn.metrics import average_precision_score, log_loss
from xgboost import XGBClassifier

from churnlab.model.metrics import empc

log = logging.getLogger(__name__)

# objective: (direction, XGBoost eval metric watched by early stopping and the pruner)
OBJECTIVES = {"log_loss": ("minimize", "logloss"), "pr_auc": ("maximize", "aucpr"), "profit": ("maximize", "logloss")}
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def suggest(trial: optuna.Trial, space: dict[str, dict]) -> dict:
    """Draw one value per entry {low, high, log}: integers when both bounds are integers."""
    params = {}
    for name, spec in space.items():
        low, high, log_scale = spec["low"], spec["high"], bool(spec.get("log", False))
        if isinstance(low, int) and isinstance(high, int):
            params[name] = trial.suggest_int(name, low, high, log=log_scale)
        else:
            params[name] = trial.suggest_float(name, float(low), float(high), log=log_scale)
    return params


def objective_value(objective: str, y, p, *, profit: dict) -> float:
    """The tuning objective of probabilities `p` on labels `y`."""
    if objective == "log_loss":
        return float(log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1]))
    if objective == "pr_auc":
        return float(average_precision_score(y, p))
    check_objective(objective)
    return empc(y, p, **profit)[0]


def fit_xgboost(X_train, y_train, X_val, y_val, *, params: dict, seed: int, n_jobs: int, max_rounds: int,
                early_stopping_rounds: int, eval_metric: str, callbacks=None) -> XGBClassifier:
    """XGBoost with early stopping on the validation rows; predictions use the best round."""
    model = XGBClassifier(**params, n_estimators=max_rounds, early_stopping_rounds=early_stopping_rounds,
                          eval_metric=eval_metric, tree_method="hist", random_state=seed, n_jobs=n_jobs,
                          callbacks=callbacks)
    return model.fit(X_train, y_train, eval_set=[(X_val, y_val)], verbose=False)


def check_objective(objective: str) -> tuple[str, str]:
    """(direction, XGBoost eval metric) of a tuning objective; ValueError naming the choices otherwise."""
    if objective not in OBJECTIVES:
        raise ValueError(f"train.tune.objective must be one of {sorted(OBJECTIVES)}, not {objective!r}")
    return OBJECTIVES[objective]


def fail_stale_trials(study: optuna.Study) -> int:
    """Mark the trials still RUNNING in `study` as FAIL and return how many there were.

    A trial stays RUNNING for ever when its process was killed (kill -9, a lost machine). Only one run of a stage
    uses a study at a time (DVC locks the repository; `dvc exp run --temp` copies get their own models/optuna.db),
    so every RUNNING trial found when a run starts is stale. Optuna's own `fail_stale_trials` needs heartbeats,
    which would let a restarted run see the killed trial as alive until its grace period ends.
    """
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)  # as Optuna does
    if stale:
        log.warning("study %s: %d trial(s) left RUNNING by an interrupted run marked FAIL: %s", study.study_name,
                    len(stale), [t.number for t in stale])
    return len(stale)


def run_study(run_trial, *, storage: str, study_name: str, direction: str, seed: int, n_trials: int,
              timeout_s: float | None, startup_trials: int, warmup_steps: int, callbacks=(),
              show_progress_bar: bool = True) -> optuna.Study:
    """Open (or resume) the SQLite study and run `run_trial` until it holds `n_trials` finished trials or
    `timeout_s` passes. Seeded TPE (seed + trials already started, so a resumed run draws new points) and a
    median pruner that compares a trial's reported step values once `startup_trials` trials finished and
    from step `warmup_steps` on (a step is a boosting round for `tune_xgboost`, a fold for cross-validation).
    RuntimeError when no trial completed."""
    existing = optuna.load_study(study_name=study_name, storage=storage) \
        if study_name in optuna.get_all_study_names(storage) else None
    done = len(existing.get_trials(states=FINISHED)) if existing else 0
    started = len(existing.trials) if existing else 0
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction=direction, load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed + started, n_startup_trials=startup_trials),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps))
    fail_stale_trials(study)
    remaining = n_trials - done
    if remaining > 0:
        log.info("study %s: %d finished trial(s) stored, running up to %d more (timeout %s s)", study_name, done,
                 remaining, timeout_s)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress bar replaces the per-trial lines
        study.optimize(run_trial, n_trials=remaining, timeout=timeout_s, callbacks=list(callbacks),
                       show_progress_bar=show_progress_bar)
    else:
        log.info("study %s already holds %d finished trials: nothing to run", study_name, done)
    if not study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        raise RuntimeError(f"study {study_name}: no trial completed (all pruned or failed)")
    return study


def tune_xgboost(X_train, y_train, X_val, y_val, *, storage: str, study_name: str, seed: int, n_trials: int,
                 timeout_s: float | None, objective: str, space: dict, pruner: dict, max_rounds: int,
                 early_stopping_rounds: int, n_jobs: int, profit: dict, callbacks=(),
                 show_progress_bar: bool = True) -> optuna.Study:
    """Run (or resume) the study until it holds `n_trials` finished trials or `timeout_s` passes."""
    direction, metric = check_objective(objective)
    y_train, y_val = np.asarray(y_train, int), np.asarray(y_val, int)
    # built once: the native API lets every trial reuse the binned matrices (the sklearn API rebuilds them)
    train_matrix = xgb.QuantileDMatrix(X_train, y_train, nthread=n_jobs)
    val_matrix = xgb.QuantileDMatrix(X_val, y_val, ref=train_matrix, nthread=n_jobs)

    def run_trial(trial: optuna.Trial) -> float:
        params = suggest(trial, space) | {"objective": "binary:logistic", "eval_metric": metric,
                                          "tree_method": "hist", "seed": seed, "nthread": n_jobs}
        booster = xgb.train(params, train_matrix, num_boost_round=max_rounds, evals=[(val_matrix, "validation")],
                            early_stopping_rounds=early_stopping_rounds, verbose_eval=False,
                            callbacks=[XGBoostPruningCallback(trial, f"validation-{metric}")])
        trial.set_user_attr("best_iteration", int(booster.best_iteration))
        p = booster.predict(val_matrix, iteration_range=(0, booster.best_iteration + 1))
        return objective_value(objective, y_val, p, profit=profit)

    return run_study(run_trial, storage=storage, study_name=study_name, direction=direction, seed=seed,
                     n_trials=n_trials, timeout_s=timeout_s, startup_trials=pruner["startup_trials"],
                     warmup_steps=pruner["warmup_rounds"], callbacks=callbacks, show_progress_bar=show_progress_bar)
