"""The `evaluate` stage: every model on the test part of the split, which no earlier stage has read.

Reads data/raw/source.json, models/split.json, models/churn_model.pkl, models/candidates/*.pkl,
models/mlflow_run.json, the test rows of data/processed/snapshots.parquet and, when the source has an oracle,
data/oracle/monthly_truth.parquet. Writes reports/metrics/evaluate.json, reports/model_comparison.csv (one row per
model) and reports/plots/evaluate/ (CSV curves of the chosen model for `dvc plots`, PNGs of every model). MLflow:
its own `evaluate` run (`core.outputs.write_result`), and the test metrics copied onto the train run that made the
models (`log_to_train_run`), so the registered model's run holds them.

Oracle: the simulator's true probability of a churn event (any type) within (t, t+H] given its full state
at t, joined on (customer_id, cutoff). Its ROC-AUC on the same test rows is the ceiling no model can beat
in expectation; `ratio` = (AUC - 0.5) / (AUC_oracle - 0.5) is the share of the attainable ranking skill a
model reaches. The oracle is for closure churn: with another label definition it is skipped.
Run with `python -m churnlab.evaluate`.
"""

import logging
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churnlab.contract.source import Source, read_source
from churnlab.core import paths, tracking
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.evaluate import plots as ep
from churnlab.model.churn import ChurnModel, load_model
from churnlab.model.metrics import score_probabilities
from churnlab.model.split import load_split, read_snapshots

log = logging.getLogger(__name__)
# metrics/evaluate.json: what `dvc exp show` compares (the detail is in reports/metrics/evaluate.json)
HEADLINE = {
    "roc_auc": "test.roc_auc",
    "pr_auc": "test.pr_auc",
    "ece": "test.ece",
    "empc": "test.empc",
    "oracle_ratio": "oracle.ratio",
}

CHOSEN = "xgboost_tuned"
PLOTS = paths.PLOTS / "evaluate"
SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile", "recall_top_decile", "empc",
                   "empc_share")


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


def oracle_skip(source: Source, definition: str) -> str | None:
    """Why the oracle AUC cannot be measured (no oracle, or a label other than closure churn), or None."""
    if definition != "closure" and not source.lacks("oracle"):
        return f"label definition {definition!r}: the oracle is the probability of closure churn, not of this label"
    return source.lacks("oracle")


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


def explained_rows(test: pd.DataFrame, *, n: int, seed: int) -> pd.DataFrame:
    """At most `n` test rows drawn without replacement (seeded), in their original order: the rows SHAP explains."""
    rng = np.random.default_rng(seed)
    return test.iloc[np.sort(rng.choice(len(test), min(n, len(test)), replace=False))]


def plot_outputs(y, probabilities: dict[str, np.ndarray], shap: tuple, *, points: int, bins: int,
                 seed: int) -> tuple[dict, dict]:
    """(tables, figures) by path: DVC plot CSVs of the chosen model and SHAP importance; PNGs of every model."""
    curves = ep.curves(y, probabilities, points=points, bins=bins)
    values, encoded, importance = shap
    tables = {PLOTS / f"{kind}.csv": by_model[CHOSEN] for kind, by_model in curves.items()}
    figures = {PLOTS / "roc.png": ep.roc_figure(curves["roc"]),
               PLOTS / "pr.png": ep.pr_figure(curves["pr"], float(np.mean(y))),
               PLOTS / "calibration.png": ep.calibration_figure(curves["calibration"]),
               PLOTS / "gains_lift.png": ep.gains_figure(curves["gains"]),
               PLOTS / "importance.png": ep.importance_figure(importance),
               PLOTS / "shap_summary.png": ep.shap_figure(values, encoded, seed=seed)}
    return tables | {PLOTS / "importance.csv": importance}, figures


def summarize(test: pd.DataFrame, comparison: pd.DataFrame, *, oracle: float | None, definition: str) -> dict:
    """evaluate.json: the test cutoff, rows and churn rate, the chosen model's metrics, the baselines' headline
    metrics, and the oracle AUC and ratio when measured."""
    chosen = comparison.set_index("model").loc[CHOSEN]
    summary = {
        "cutoff": str(pd.Timestamp(test["cutoff"].max()).date()), "rows": len(test),
        "churn_rate": float(test["label"].astype(int).mean()),
        "test": {k: float(chosen[k]) for k in SUMMARY_METRICS},
        "baselines": {r.model: {"roc_auc": r.roc_auc, "pr_auc": r.pr_auc, "brier": r.brier}
                      for r in comparison.itertuples() if r.model != CHOSEN},
    }
    log.info("test %s: %s", CHOSEN, {k: round(v, 4) for k, v in summary["test"].items()})
    if oracle is not None:
        summary["oracle"] = {"roc_auc": oracle, "ratio": float(chosen["oracle_ratio"]), "definition": definition}
        log.info("oracle ROC-AUC %.4f; ratio (AUC - 0.5) / (oracle - 0.5) = %.3f", oracle, summary["oracle"]["ratio"])
    return summary


def run(test: pd.DataFrame, models: dict[str, ChurnModel], *, source: Source, truth: pd.DataFrame | None, seed: int,
        definition: str, top_share: float, ece: dict, profit: dict, shap_rows: int, curve_points: int) -> StageResult:
    """Score every model on the `test` rows: the comparison table, the chosen model's curves and SHAP importance,
    and the oracle ratio.

    `models` by name, the chosen one (`CHOSEN`) among them; `truth` the oracle rows at the test cutoff (None when
    `source` has no oracle). Keyword settings: params `evaluate`, `base.seed` (which `shap_rows` rows SHAP explains)
    and `features.churn.definition`. ValueError when a test row is unlabelled (split.json older than the data).
    """
    started = time.perf_counter()
    cutoff = pd.Timestamp(test["cutoff"].max()).date() if len(test) else None
    if not len(test) or not test["labeled"].all():
        raise ValueError(f"test cutoff {cutoff} is empty or not fully labelled: rerun train (split.json is stale)")
    probabilities = {name: model.predict_proba(test) for name, model in models.items()}
    log.info("test cutoff %s: %d rows, churn rate %.3f, %d models", cutoff, len(test),
             test["label"].astype(int).mean(), len(models))
    skip = oracle_skip(source, definition)
    if skip is None and truth is None:
        raise ValueError(f"the {source.name} source has an oracle: pass its truth at the test cutoff")
    oracle = oracle_auc(test, truth) if skip is None else None
    comparison = compare_models(test, probabilities, top_share=top_share, ece=ece, profit=profit, oracle_auc=oracle)
    shap = shap_importance(models[CHOSEN], explained_rows(test, n=shap_rows, seed=seed))
    tables, figures = plot_outputs(test["label"].astype(int).to_numpy(), probabilities, shap, points=curve_points,
                                   bins=ece["bins"], seed=seed)
    metrics = summarize(test, comparison, oracle=oracle, definition=definition)
    log.info("evaluated %d models on %d test rows in %.0f s", len(probabilities), len(test),
             time.perf_counter() - started)
    return StageResult(metrics=metrics, tables={paths.MODEL_COMPARISON: comparison, **tables}, figures=figures,
                       skipped={"oracle": skip} if skip else {})


def load_models() -> dict[str, ChurnModel]:
    """The chosen model first, then the candidates in name order."""
    candidates = sorted(paths.CANDIDATES.glob("*.pkl"))
    return {CHOSEN: load_model(paths.CHURN_MODEL), **{path.stem: load_model(path) for path in candidates}}


def read_truth(cutoff: pd.Timestamp) -> pd.DataFrame:
    """The simulator's true probability of a churn event within the horizon for each customer at `cutoff`."""
    return pd.read_parquet(paths.ORACLE_MONTHLY, columns=["customer_id", "month", "p_churn_h"],
                           filters=[("month", "==", cutoff)])


def log_to_train_run(result: StageResult, record: dict) -> None:
    """Copy the test metrics (`test_*`) onto the train run of models/mlflow_run.json (`record`).

    `write_result` logs evaluate's own run; this copy puts the test metrics beside the validation metrics on the
    runs that made the models: the chosen model's, and the oracle AUC, on the train run (whose model the registry
    holds), each baseline's on its nested run (notebook 3.0 compares them). Skipped with a warning when the train
    run is not in this MLflow store (a copied project).
    """
    mlflow = tracking.start()
    client = mlflow.MlflowClient()
    try:
        client.get_run(record["run_id"])
    except Exception:  # another store: nothing to add the metrics to
        log.warning("train run %s not in %s: test metrics not copied", record["run_id"], mlflow.get_tracking_uri())
        return
    scores = result.tables[paths.MODEL_COMPARISON].set_index("model").drop(columns=["rows"])
    now = int(time.time() * 1000)
    for name, run_id in {CHOSEN: record["run_id"], **record.get("nested", {})}.items():
        if name in scores.index:
            metrics = {f"test_{k}": float(v) for k, v in scores.loc[name].items() if pd.notna(v)}
            if name == CHOSEN and "oracle" in result.metrics:
                metrics["test_oracle_roc_auc"] = result.metrics["oracle"]["roc_auc"]
            client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, v, now, 0) for k, v in metrics.items()])


def main() -> None:
    setup_logging()
    base, params = load_params("base"), load_params("evaluate")
    definition = load_params("features")["churn"]["definition"]
    source, split = read_source(), load_split(paths.SPLIT)
    test = split.parts(read_snapshots(paths.SNAPSHOTS, cutoffs=[split.test]))["test"]
    truth = read_truth(split.test) if source.oracle else None
    result = run(test, load_models(), source=source, truth=truth, seed=base["seed"], definition=definition, **params)
    record = tracking.read_train_run()
    write_result("evaluate", result, headline=HEADLINE, tags={"train_run": record["run_id"]},
                 params={"base": {"seed": base["seed"]}, "evaluate": params, "features.churn.definition": definition},
                 inputs=[paths.SOURCE, paths.SPLIT, paths.SNAPSHOTS, paths.CHURN_MODEL, paths.TRAIN_RUN])
    log_to_train_run(result, record)
