"""The `evaluate` stage: every model on the out-of-time test cutoff, which no earlier stage has read.

Reads models/split.json, models/churn_model.pkl, models/candidates/*.pkl, the test cutoff's snapshots and,
on simulated data, data/oracle/monthly_truth.parquet. Writes reports/metrics/evaluate.json,
reports/model_comparison.csv (one row per model) and reports/plots/evaluate/ (CSV curves of the chosen
model for `dvc plots`, PNGs of every model), and logs test metrics and figures to the train run in MLflow.

Oracle: the simulator's true probability of a churn event (any type) within (t, t+H] given its full state
at t, joined on (customer_id, cutoff). Its ROC-AUC on the same test rows is the ceiling no model can beat
in expectation; `ratio` = (AUC - 0.5) / (AUC_oracle - 0.5) is the share of the attainable ranking skill a
model reaches. The oracle is for closure churn: with another label definition it is not reported.
Run with `python -m churnlab.evaluate`.
"""

import json
import logging
import pickle
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnlab.core import paths, tracking
from churnlab.core.io import atomic_path, write_csv, write_json
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.evaluate import plots as ep
from churnlab.model.churn import ChurnModel
from churnlab.model.metrics import score_probabilities
from churnlab.model.split import load_split, read_snapshots

log = logging.getLogger(__name__)

CHOSEN = "xgboost_tuned"
PLOTS = paths.PLOTS / "evaluate"


def compare_models(test: pd.DataFrame, probabilities: dict[str, np.ndarray], *, top_share: float, ece: dict,
                   profit: dict, oracle_auc: float | None = None) -> pd.DataFrame:
    """One row of test metrics per model (and the oracle ratio when the oracle AUC is given)."""
    y = test["label"].astype(int).to_numpy()
    rows = []
    for name, p in probabilities.items():
        row = {"model": name, **score_probabilities(y, p, ece_bins=ece["bins"], ece_strategy=ece["strategy"],
                                                    top=top_share, profit=profit)}
        if oracle_auc is not None:
            row["oracle_ratio"] = (row["roc_auc"] - 0.5) / (oracle_auc - 0.5)
        rows.append(row)
    return pd.DataFrame(rows)


def oracle_auc(test: pd.DataFrame, truth: pd.DataFrame) -> float:
    """ROC-AUC of the simulator's true probability on the test rows (every test row must have one)."""
    joined = test[["customer_id", "cutoff", "label"]].merge(
        truth.rename(columns={"month": "cutoff"})[["customer_id", "cutoff", "p_churn_h"]],
        on=["customer_id", "cutoff"], how="left", validate="one_to_one")
    if joined["p_churn_h"].isna().any():
        raise ValueError(f"oracle: {int(joined['p_churn_h'].isna().sum())} test row(s) without a true probability")
    return float(roc_auc_score(joined["label"].astype(int), joined["p_churn_h"]))


def shap_importance(model: ChurnModel, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """TreeSHAP values (log-odds, XGBoost's exact `pred_contribs`) of the uncalibrated booster on `rows`:
    (values, encoded feature matrix, features by mean |SHAP| with XGBoost's gain importance)."""
    import xgboost as xgb

    booster, encoded = model.booster_and_matrix(rows)
    raw = booster.get_booster()
    rounds = (0, int(booster.best_iteration) + 1)
    matrix = xgb.DMatrix(encoded.to_numpy(float), missing=np.nan, feature_names=raw.feature_names)
    values = raw.predict(matrix, pred_contribs=True, iteration_range=rounds)[:, :-1]
    gain = raw.get_score(importance_type="gain")
    names = list(encoded.columns)
    gains = [gain.get(f, gain.get(f"f{i}", 0.0)) for i, f in enumerate(names)]
    importance = pd.DataFrame({"feature": names, "mean_abs_shap": np.abs(values).mean(axis=0), "gain": gains})
    importance = importance.sort_values("mean_abs_shap", ascending=False, ignore_index=True)
    return pd.DataFrame(values, columns=names, index=rows.index), encoded, importance


def load_models() -> dict[str, ChurnModel]:
    """The chosen model first, then the candidates in name order."""
    models = {}
    for name, path in [(CHOSEN, paths.CHURN_MODEL), *((p.stem, p) for p in sorted(paths.CANDIDATES.glob("*.pkl")))]:
        with open(path, "rb") as fh:
            models[name] = pickle.load(fh)
    return models


def save_figure(fig, target) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def write_plots(y, probabilities: dict[str, np.ndarray], shap: tuple, *, points: int, bins: int) -> list:
    """DVC plot CSVs of the chosen model and PNGs of every model; returns the PNG paths."""
    import shap as shap_lib

    curves = {
        "roc": {n: ep.roc_points(y, p, points=points) for n, p in probabilities.items()},
        "pr": {n: ep.pr_points(y, p, points=points) for n, p in probabilities.items()},
        "calibration": {n: ep.calibration_points(y, p, bins=bins) for n, p in probabilities.items()},
        "gains": {n: ep.gains_points(y, p) for n, p in probabilities.items()},
    }
    for kind, by_model in curves.items():
        write_csv(by_model[CHOSEN], PLOTS / f"{kind}.csv")
    values, encoded, importance = shap
    write_csv(importance, PLOTS / "importance.csv")
    figures = {"roc.png": ep.roc_figure(curves["roc"]), "pr.png": ep.pr_figure(curves["pr"], float(np.mean(y))),
               "calibration.png": ep.calibration_figure(curves["calibration"]),
               "gains_lift.png": ep.gains_figure(curves["gains"]), "importance.png": ep.importance_figure(importance)}
    import matplotlib.pyplot as plt

    shap_lib.summary_plot(values.to_numpy(), encoded, show=False, max_display=20)
    figures["shap_summary.png"] = plt.gcf()
    written = []
    for name, fig in figures.items():
        save_figure(fig, PLOTS / name)
        written.append(PLOTS / name)
    return written


def log_to_mlflow(comparison: pd.DataFrame, figures: list, summary: dict) -> None:
    """Test metrics and figures onto the train run (and each baseline's nested run) that made the models."""
    mlflow = tracking.start()
    record = json.loads(paths.TRAIN_RUN.read_text(encoding="utf-8")) if paths.TRAIN_RUN.exists() else {}
    client = mlflow.MlflowClient()
    run_id = record.get("run_id")
    try:
        client.get_run(run_id)
    except Exception:  # another store (a copied project, a test): start a run of our own
        log.warning("train run %s not in %s: logging to a new run", run_id, mlflow.get_tracking_uri())
        run_id = None
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else "evaluate"):
        metrics = comparison.set_index("model").drop(columns=["rows"])
        mlflow.log_metrics({f"test_{k}": float(v) for k, v in metrics.loc[CHOSEN].items() if pd.notna(v)})
        if "oracle" in summary:
            mlflow.log_metric("test_oracle_roc_auc", summary["oracle"]["roc_auc"])
        for path in figures:
            mlflow.log_artifact(str(path), artifact_path="evaluate")
        mlflow.log_artifact(str(paths.MODEL_COMPARISON), artifact_path="evaluate")
        mlflow.log_dict(summary, "evaluate/evaluate.json")
    for name, nested in record.get("nested", {}).items():
        if run_id and name in metrics.index:
            for key, value in metrics.loc[name].items():
                if pd.notna(value):
                    client.log_metric(nested, f"test_{key}", float(value))


def main() -> None:
    setup_logging()
    base, params = load_params("base"), load_params("evaluate")
    definition = load_params("features")["churn"]["definition"]
    started = time.perf_counter()
    split = load_split(paths.SPLIT)
    test = split.parts(read_snapshots(paths.SNAPSHOTS, cutoffs=[split.test]))["test"]
    if not test["labeled"].all():
        raise ValueError(f"test cutoff {split.test.date()} is not fully labelled: rerun train (split.json is stale)")
    y = test["label"].astype(int).to_numpy()
    models = load_models()
    probabilities = {name: model.predict_proba(test) for name, model in models.items()}
    log.info("test cutoff %s: %d rows, churn rate %.3f, %d models", split.test.date(), len(test), y.mean(), len(models))

    oracle = None
    if paths.ORACLE_MONTHLY.exists() and definition == "closure":
        truth = pd.read_parquet(paths.ORACLE_MONTHLY, columns=["customer_id", "month", "p_churn_h"],
                                filters=[("month", "==", split.test)])
        oracle = oracle_auc(test, truth)
    elif paths.ORACLE_MONTHLY.exists():
        log.warning("label definition %r: the oracle is the probability of closure churn, so no oracle AUC",
                    definition)
    comparison = compare_models(test, probabilities, top_share=params["top_share"], ece=params["ece"],
                                profit=params["profit"], oracle_auc=oracle)
    write_csv(comparison, paths.MODEL_COMPARISON)

    rng = np.random.default_rng(base["seed"])
    explained = test.iloc[np.sort(rng.choice(len(test), min(params["shap_rows"], len(test)), replace=False))]
    shap = shap_importance(models[CHOSEN], explained)
    figures = write_plots(y, probabilities, shap, points=params["curve_points"], bins=params["ece"]["bins"])

    chosen = comparison.set_index("model").loc[CHOSEN]
    summary = {
        "cutoff": str(split.test.date()), "rows": len(test), "churn_rate": float(y.mean()),
        "test": {k: float(chosen[k]) for k in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile",
                                               "recall_top_decile", "empc", "empc_share")},
        "baselines": {r.model: {"roc_auc": r.roc_auc, "pr_auc": r.pr_auc, "brier": r.brier}
                      for r in comparison.itertuples() if r.model != CHOSEN},
    }
    if oracle is not None:
        summary["oracle"] = {"roc_auc": oracle, "ratio": float(chosen["oracle_ratio"]), "definition": definition}
    summary["seconds"] = time.perf_counter() - started
    write_json(summary, paths.METRICS / "evaluate.json")
    log_to_mlflow(comparison, figures, summary)
    log.info("test %s: %s", CHOSEN, {k: round(v, 4) for k, v in summary["test"].items()})
    if oracle is not None:
        log.info("oracle ROC-AUC %.4f; ratio (AUC - 0.5) / (oracle - 0.5) = %.3f", oracle, summary["oracle"]["ratio"])
