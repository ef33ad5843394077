"""The `register` stage: the tuned model becomes a new version of the registered churn model.

The new version always gets the alias `challenger`. The alias `champion` moves to it only when it beats
the current champion on the current test cutoff by at least `register.min_gain` on `register.metric`
(both models score the same rows through MLflow, as any consumer of the registry would). Otherwise the
old champion stays and the reason is recorded, on the new version's tags and in
reports/metrics/register.json. Versions are never deleted. Run with `python -m churnlab.register`.
"""

import json
import logging

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnlab.core import paths, tracking
from churnlab.core.io import write_json
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.model.metrics import empc
from churnlab.model.split import load_split, read_snapshots

log = logging.getLogger(__name__)

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


def register(mlflow, model_uri: str, rows: pd.DataFrame, *, model_name: str, metric: str, min_gain: float,
             profit: dict | None = None, run_id: str | None = None) -> dict:
    """Register `model_uri` as a new version, set `challenger`, and move `champion` if it wins. Returns the record."""
    client = mlflow.MlflowClient()
    y = rows["label"].astype(int).to_numpy()
    try:
        current = client.get_model_version_by_alias(model_name, "champion")
    except Exception:  # no registered model or no champion alias yet
        current = None
    version = mlflow.register_model(model_uri, model_name, tags={"train_run": run_id or ""})
    number = int(version.version)
    client.set_registered_model_alias(model_name, "challenger", str(number))
    challenger = metric_value(metric, y, predict(mlflow.pyfunc.load_model(f"models:/{model_name}/{number}"), rows),
                              profit=profit)
    champion_score, champion_version = None, None
    if current is not None:
        champion_version = int(current.version)
        try:
            champion_model = mlflow.pyfunc.load_model(f"models:/{model_name}/{champion_version}")
            champion_score = metric_value(metric, y, predict(champion_model, rows), profit=profit)
        except Exception as err:  # the old champion cannot score today's snapshots (e.g. a changed feature set)
            log.warning("champion v%d cannot score the current test cutoff: %s", champion_version, err)
    promote, reason = decide(challenger, champion_score, metric=metric, min_gain=min_gain)
    if current is not None and champion_score is None:
        promote, reason = True, f"champion v{champion_version} cannot score the current snapshots"
    if promote:
        client.set_registered_model_alias(model_name, "champion", str(number))
    record = {
        "model_name": model_name, "version": number, "decision": "promoted" if promote else "kept_champion",
        "reason": reason, "metric": metric, "min_gain": min_gain, "challenger_score": challenger,
        "champion_score": champion_score, "previous_champion": champion_version,
        "champion": number if promote else champion_version,
    }
    for key in ("decision", "reason", "challenger_score", "champion_score", "previous_champion"):
        client.set_model_version_tag(model_name, str(number), key, str(record[key]))
    return record


def main() -> None:
    setup_logging()
    params, profit = load_params("register"), load_params("evaluate")["profit"]
    run = json.loads(paths.TRAIN_RUN.read_text(encoding="utf-8"))
    split = load_split(paths.SPLIT)
    rows = split.parts(read_snapshots(paths.SNAPSHOTS, cutoffs=[split.test]))["test"]
    mlflow = tracking.start()
    record = register(mlflow, run["model_uri"], rows, model_name=params["model_name"], metric=params["metric"],
                      min_gain=params["min_gain"], profit=profit, run_id=run["run_id"])
    record["test_cutoff"] = str(split.test.date())
    write_json(record, paths.METRICS / "register.json")
    log.info("%s v%d: %s (%s)", record["model_name"], record["version"], record["decision"], record["reason"])
