"""The `register` stage: the tuned model becomes a new version of the registered churn model.

The new version always gets the alias `challenger`. The alias `champion` moves to it only when it beats
the current champion on the current test cutoff by at least `register.min_gain` on `register.metric`
(both models score the same rows through MLflow, as any consumer of the registry would). Otherwise the
old champion stays and the reason is recorded, on the new version's tags and description and in
reports/metrics/register.json. Versions are never deleted. The registered model's description says what it
predicts (over the horizon its training run logged) and this promotion rule; the version tags name the metric
(`metric`, `challenger_<metric>`, `champion_<metric>`).

The registry is both input and output: `main` adds the version (`add_version`) and loads both models, the pure
`run` scores them and decides, `record_decision` moves the alias, and `core.outputs.write_result` writes
register.json and logs a `register` run. Run with `python -m churnlab.register`.
"""

import logging

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnlab.core import paths, tracking
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.model.metrics import empc
from churnlab.model.split import load_split, read_snapshots

log = logging.getLogger(__name__)
# metrics/register.json: what `dvc exp show` compares (the detail is in reports/metrics/register.json)
HEADLINE = {"champion": "champion", "challenger_score": "challenger_score"}

HIGHER_IS_BETTER = {"roc_auc": True, "pr_auc": True, "empc": True, "log_loss": False, "brier": False}


def metric_value(metric: str, y, p, *, profit: dict | None = None) -> float:
    """The registry's comparison metric of probabilities `p` on labels `y`."""
    y, p = np.asarray(y, int), np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    if metric == "roc_auc":
        return float(roc_auc_score(y, p))
    if metric == "pr_auc":
        return float(average_precision_score(y, p))
    if metric == "log_loss":
        return float(log_loss(y, p, labels=[0, 1]))
    if metric == "brier":
        return float(brier_score_loss(y, p))
    if metric == "empc":
        return empc(y, p, **profit)[0]
    raise ValueError(f"register.metric must be one of {sorted(HIGHER_IS_BETTER)}, not {metric!r}")


def decide(challenger: float, champion: float | None, *, metric: str, min_gain: float) -> tuple[bool, str]:
    """(promote?, why): promote when there is no champion or the challenger wins by at least `min_gain`."""
    if champion is None:
        return True, "no champion yet"
    gain = challenger - champion if HIGHER_IS_BETTER[metric] else champion - challenger
    if gain >= min_gain:
        return True, f"challenger beats champion on {metric} by {gain:.5f} >= min_gain {min_gain}"
    return False, f"challenger gains {gain:.5f} on {metric} over champion, below min_gain {min_gain}: champion kept"


def predict(model, rows: pd.DataFrame) -> np.ndarray:
    """p_churn of a pyfunc on the columns its signature names (no customer id is passed to MLflow code)."""
    columns = model.metadata.get_input_schema().input_names()
    return model.predict(rows[[c for c in columns if c in rows.columns]])["p_churn"].to_numpy(float)


def add_version(mlflow, model_uri: str, *, model_name: str, run_id: str) -> tuple[int, int | None]:
    """Register `model_uri` as a new version of `model_name` with the alias `challenger`.

    Returns (the new version, the version the `champion` alias pointed to before, None when there was none).
    """
    client = mlflow.MlflowClient()
    try:
        champion = int(client.get_model_version_by_alias(model_name, "champion").version)
    except Exception:  # no registered model or no champion alias yet
        champion = None
    version = int(mlflow.register_model(model_uri, model_name, tags={"train_run": run_id}).version)
    client.set_registered_model_alias(model_name, "challenger", str(version))
    return version, champion


def load_old_champion(mlflow, model_name: str, version: int | None):
    """The pyfunc of the champion before this run (`version`), or None: no champion, or one that no longer loads."""
    if version is None:
        return None
    try:
        return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    except Exception as err:  # e.g. a model whose code or requirements changed since it was logged
        log.warning("champion %s v%d cannot be loaded: %s", model_name, version, err)
        return None


def champion_score(champion, rows: pd.DataFrame, *, metric: str, profit: dict | None) -> float | None:
    """The champion's `metric` on `rows`, or None when it cannot score them (e.g. a changed feature set)."""
    if champion is None:
        return None
    try:
        return metric_value(metric, rows["label"].astype(int), predict(champion, rows), profit=profit)
    except Exception as err:  # MLflow rejects rows without a column the old model's signature requires
        log.warning("the champion cannot score the current test rows: %s", err)
        return None


def run(rows: pd.DataFrame, challenger, champion, *, version: int, champion_version: int | None, model_name: str,
        metric: str, min_gain: float, profit: dict | None = None) -> StageResult:
    """Score the new version (`challenger`, a pyfunc) and the current `champion` (None: none or unloadable) on the
    test `rows` and decide whether the champion alias moves to `version`; the decision is register.json.

    Keyword settings: params `register` and `evaluate.profit` (the empc metric), and the registry's versions.
    """
    challenger_score = metric_value(metric, rows["label"].astype(int), predict(challenger, rows), profit=profit)
    score = champion_score(champion, rows, metric=metric, profit=profit)
    promote, reason = decide(challenger_score, score, metric=metric, min_gain=min_gain)
    if champion_version is not None and score is None:
        promote, reason = True, f"champion v{champion_version} cannot score the current snapshots"
    decision = "promoted" if promote else "kept_champion"
    log.info("%s v%d: %s (%s)", model_name, version, decision, reason)
    return StageResult(metrics={
        "model_name": model_name, "version": version, "decision": decision,
        "reason": reason, "metric": metric, "min_gain": min_gain, "challenger_score": challenger_score,
        "champion_score": score, "previous_champion": champion_version,
        "champion": version if promote else champion_version,
        "test_cutoff": str(pd.Timestamp(rows["cutoff"].max()).date()),
    })


def model_description(*, model_name: str, metric: str, min_gain: float, horizon_months: int | None) -> str:
    """The registered model's description: what it predicts, over which horizon, and how a version is promoted."""
    horizon = f"the {horizon_months} month{'s' * (horizon_months != 1)}" if horizon_months \
        else "the label horizon (params base.horizon_months)"
    better = "higher" if HIGHER_IS_BETTER[metric] else "lower"
    return (f"churnlab's churn early-warning model. It predicts `p_churn`: the calibrated probability that a "
            f"customer churns (the snapshots' label, as params features.churn defines churn) within {horizon} "
            f"after a month-end cutoff, from one row of raw snapshot columns per customer (extra columns such as "
            f"customer_id are ignored).\n\n"
            f"Promotion: every run of the register stage (`python -m churnlab.register`, after train and evaluate) "
            f"adds a version with the alias `challenger`. The alias `champion` moves to it only when there is no "
            f"champion, when the champion cannot score the current snapshots, or when the new version beats the "
            f"champion on {metric} ({better} is better) on the current test cutoff by at least {min_gain}. Versions "
            f"are never deleted; each version's description and tags record the decision and why.\n\n"
            f"Use `models:/{model_name}@champion` (score, retention and monitor read it; `make serve` serves it).")


def version_description(decision: dict, *, run_id: str) -> str:
    """A version's description: its training run, its test metric and value, the champion's, and the decision."""
    metric, previous = decision["metric"], decision["previous_champion"]
    if previous is None:
        against = "no champion before"
    elif decision["champion_score"] is None:
        against = f"champion v{previous} could not score these rows"
    else:
        against = f"champion v{previous}: {decision['champion_score']:.5f}"
    return (f"Trained in MLflow run {run_id}. Test cutoff {decision['test_cutoff']}: {metric} "
            f"{decision['challenger_score']:.5f} ({against}). Decision: {decision['decision']}: {decision['reason']}. "
            f"Champion after this run: v{decision['champion']}.")


def train_horizon(mlflow, run_id: str) -> int | None:
    """The label horizon (months) the training run logged as its `base.horizon_months` param; None if absent."""
    try:
        value = mlflow.MlflowClient().get_run(run_id).data.params.get("base.horizon_months")
    except Exception as err:  # a run deleted from the store: the description says "the label horizon"
        log.warning("train run %s cannot be read: %s", run_id, err)
        return None
    return int(value) if value is not None else None


def record_decision(mlflow, decision: dict, *, run_id: str, horizon_months: int | None = None) -> None:
    """Move the `champion` alias when `decision` (register.json) promotes; tag and describe the new version with
    the training `run_id`, the metric and why; describe the registered model (`model_description`)."""
    client = mlflow.MlflowClient()
    name, version, metric = decision["model_name"], str(decision["version"]), decision["metric"]
    if decision["decision"] == "promoted":
        client.set_registered_model_alias(name, "champion", version)
    tags = {"decision": decision["decision"], "reason": decision["reason"], "metric": metric,
            f"challenger_{metric}": decision["challenger_score"], f"champion_{metric}": decision["champion_score"],
            "previous_champion": decision["previous_champion"], "test_cutoff": decision["test_cutoff"]}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    client.update_model_version(name, version, description=version_description(decision, run_id=run_id))
    client.update_registered_model(name, description=model_description(
        model_name=name, metric=metric, min_gain=decision["min_gain"], horizon_months=horizon_months))


def main() -> None:
    setup_logging()
    params, profit = load_params("register"), load_params("evaluate")["profit"]
    train_run = tracking.read_train_run()
    split = load_split(paths.SPLIT)
    rows = split.parts(read_snapshots(paths.SNAPSHOTS, cutoffs=[split.test]))["test"]
    mlflow, name = tracking.start(), params["model_name"]
    version, champion = add_version(mlflow, train_run["model_uri"], model_name=name, run_id=train_run["run_id"])
    challenger = mlflow.pyfunc.load_model(f"models:/{name}/{version}")  # as any consumer of the registry loads it
    result = run(rows, challenger, load_old_champion(mlflow, name, champion), version=version,
                 champion_version=champion, profit=profit, **params)
    record_decision(mlflow, result.metrics, run_id=train_run["run_id"],
                    horizon_months=train_horizon(mlflow, train_run["run_id"]))
    write_result("register", result, headline=HEADLINE, params={"register": params, "evaluate": {"profit": profit}},
                 inputs=[paths.SPLIT, paths.SNAPSHOTS, paths.CHURN_MODEL],
                 tags={"train_run": train_run["run_id"], "model_version": f"{name}/{version}"})
