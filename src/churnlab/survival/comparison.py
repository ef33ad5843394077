"""The model comparison: every survival model fitted on the training customers and scored on the same test customers.

Cox PH (penalised; the PH assumption tested on a sample and violators stratified), Weibull / LogNormal /
LogLogistic AFTs (compared by AIC) and XGBoost AFT, all from the covariates at entry (`churnlab.survival.models`).
Each is scored with the same held-out metrics (`churnlab.survival.metrics`); on simulated data also against the
oracle's C-index. The best model by `evaluation.select_by` values the customers (`churnlab.survival.clv`).
"""

import logging
import time

import numpy as np
import pandas as pd

from churnlab.survival.design import Design, covariates_at, model_frame
from churnlab.survival.kaplan_meier import fit_km
from churnlab.survival.metrics import calibration_by_decile, evaluate, oracle_scores
from churnlab.survival.models import (
    AFT_FITTERS,
    Strata,
    choose_strata,
    fit_aft,
    fit_cox,
    fit_xgboost_aft,
    hazard_ratios,
    ph_handling,
    ph_tests,
)

log = logging.getLogger(__name__)

LOWER_IS_BETTER = ("ibs", "ici")


def describe_column(design: Design):
    """The unit a Cox hazard ratio compares, for the hazard-ratio table."""

    def per(column: str) -> str:
        source = design.source_of(column)
        if column.endswith("_missing"):
            return f"{source} missing vs known"
        if "[" in column:
            return f"{column.split('[')[1][:-1]} vs {design.levels_[source][0]}"
        if source in design.flags:
            return "yes vs no"
        return "per doubling of (1 + value)" if source in design.log2 else "per unit"

    return per


def fit_models(train: pd.DataFrame, design: Design, *, names: list[str], seed: int, cox: dict, ph_test: dict,
               aft: dict, xgboost: dict, sql=None) -> tuple[dict, Strata, dict[str, pd.DataFrame]]:
    """Fit every model in `names` on the training customers; returns models, Cox strata and tables by name
    (ph_tests, hazard_ratios when Cox is among them, aft_aic). With a Spark engine `sql` the Cox model's sums
    come from Spark (`models.fit_cox`); the PH tests, AFTs and XGBoost run in memory on every engine, each on
    a seeded sample of at most its `sample_size` customers."""
    frame = model_frame(train, design, None, prefix="entry_")
    columns = list(frame.columns.drop(["duration", "churned", "entry_tenure", "residual"]))
    models, tables, started = {}, {}, time.perf_counter()
    ph = ph_tests(frame, columns, penalizer=cox["penalizer"], sample_size=ph_test["sample_size"], seed=seed,
                  alpha=ph_test["alpha"], source_of=design.source_of)
    chosen = choose_strata(ph, max_strata=ph_test["max_strata"], allowed=ph_test["stratify"])
    strata = Strata(chosen, numeric={*design.numeric, *design.log2}, bins=ph_test["strata_bins"])
    strata.fit(covariates_at(train, "entry_"))
    tables["ph_tests"] = ph_handling(ph, chosen)
    log.info("PH test on %d customers: %d of %d covariates violate at p < %g; stratified on %s (%.0f s)",
             min(ph_test["sample_size"], len(frame)), int(ph["violates"].sum()), len(ph), ph_test["alpha"],
             chosen or "nothing", time.perf_counter() - started)
    if "cox" in names:
        stratified = model_frame(train, design, strata, prefix="entry_")
        kept = [c for c in columns if design.source_of(c) not in chosen]
        models["cox"] = fit_cox(stratified, kept, strata=strata.columns, sql=sql, **cox)
        tables["hazard_ratios"] = hazard_ratios(models["cox"], describe_column(design))
        log.info("cox fitted (%.0f s)", time.perf_counter() - started)
    aic = []
    for kind in [n for n in names if n in AFT_FITTERS]:
        models[kind] = fit_aft(kind, frame, columns, seed=seed, **aft)
        aic.append({"model": kind, "aic": float(models[kind].fitter_.AIC_),
                    "log_likelihood": float(models[kind].fitter_.log_likelihood_)})
        log.info("%s AFT fitted: AIC %.1f (%.0f s)", kind, aic[-1]["aic"], time.perf_counter() - started)
    tables["aft_aic"] = pd.DataFrame(aic).sort_values("aic", ignore_index=True) if aic else pd.DataFrame()
    if "xgboost" in names:
        models["xgboost"] = fit_xgboost_aft(frame, columns, seed=seed, **xgboost)
        log.info("xgboost AFT fitted (%.0f s)", time.perf_counter() - started)
    return models, strata, tables


def held_out_sample(test: pd.DataFrame, *, max_customers: int, seed: int) -> pd.DataFrame:
    """The held-out customers every model is scored on: all of them, or a seeded sample of `max_customers` (the
    IPCW metrics compare every pair of customers; at 100,000 the C-index's sampling error is about 0.002)."""
    if len(test) <= max_customers:
        return test
    log.info("scoring the models on %d of %d held-out customers (evaluation.max_customers)", max_customers, len(test))
    return test.sample(n=max_customers, random_state=seed).sort_index()


def evaluate_models(models: dict, strata: Strata, design: Design, train: pd.DataFrame, test: pd.DataFrame, *,
                    horizon: int, evaluation: dict) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """Held-out metrics, risks within `evaluation.risk_months` (for the oracle), mean survival curves beside the
    held-out Kaplan-Meier curve, and calibration deciles at `horizon` of every model."""
    frame = model_frame(test, design, strata, prefix="entry_")
    months = np.arange(1, max(evaluation["ibs_months"], evaluation["risk_months"], horizon,
                              *evaluation["auc_months"]) + 1)
    observed = fit_km(test["residual"], test["churned"]).predict(months).to_numpy()
    metrics, risks, curves, deciles = {}, {}, {"month": months, "observed_km": observed}, []
    for name, model in models.items():
        survival = model.survival(frame, test["entry_tenure"].to_numpy(), months)
        metrics[name] = evaluate(survival, months, train, test, risk_months=evaluation["risk_months"],
                                 auc_months=evaluation["auc_months"], ibs_months=evaluation["ibs_months"],
                                 horizon=horizon, tau=evaluation["tau_months"])
        risks[name] = 1 - survival[:, evaluation["risk_months"] - 1]
        curves[name] = survival.mean(axis=0)
        deciles.append(calibration_by_decile(test, 1 - survival[:, horizon - 1], horizon=horizon).assign(model=name))
        log.info("%s: %s", name, {k: v if v is None else round(v, 3) for k, v in metrics[name].items()})
    return metrics, risks, pd.DataFrame(curves), pd.concat(deciles, ignore_index=True)


def with_oracle(metrics: dict[str, dict], test: pd.DataFrame, truth: pd.DataFrame, risks: dict[str, np.ndarray], *,
                column: str) -> dict[str, dict]:
    """Each model's metrics plus the oracle's C-index and the model's ratio to it (simulated data only)."""
    oracle = oracle_scores(test, truth, risks, column=column)
    compared = {name: {**scores, "oracle_c_index": oracle["oracle_c_index"], **oracle[name]}
                for name, scores in metrics.items()}
    log.info("oracle C-index %.3f; ratios %s", oracle["oracle_c_index"],
             {n: round(m["oracle_ratio"], 3) for n, m in compared.items()})
    return compared


def best_model(metrics: dict, *, select_by: str) -> str:
    """The model with the best held-out `select_by` (lowest for IBS and ICI, highest otherwise)."""
    sign = -1 if select_by in LOWER_IS_BETTER else 1
    return max(metrics, key=lambda name: sign * metrics[name][select_by])
