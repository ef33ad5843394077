"""The `survival` stage: how long customers stay, who leaves early, and what a customer is worth.

Reads data/processed/lifetimes.parquet (one row per customer, tenure scale with left truncation; see
`churnlab.features.lifetimes`) and, on simulated data, the oracle in data/oracle. Voluntary churn is the event
(`churnlab.survival.design`). Steps:

1. Kaplan-Meier curves with delayed entry, overall and by group at entry; log-rank tests; competing risks.
2. A seeded customer-level split; Cox PH (penalised; PH tested on a sample, violators stratified), Weibull /
   LogNormal / LogLogistic AFTs (compared by AIC) and XGBoost AFT, all from the covariates at entry.
3. The same held-out metrics for every model (`churnlab.survival.metrics`), and the oracle C-index.
4. CLV of every active customer from the best model's curve, given the `last_` covariates and current
   tenure (`churnlab.survival.clv`); on simulated data compared with the CLV of the true survival curve.

Writes reports/metrics/survival.json, reports/survival/ (tables, figures), reports/plots/km_*.csv and
data/processed/clv.parquet, and logs an MLflow run named `survival`. No customer id leaves clv.parquet.
Run with `python -m churnlab.survival`.
"""

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.contract.value import MARGIN_COLUMNS
from churnlab.core import paths, tracking
from churnlab.core.io import write_csv, write_json, write_parquet
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.model.churn import feature_columns
from churnlab.survival.clv import (
    compare_values,
    customer_values,
    empty_clv,
    lifetime_value,
    monthly_discount,
    true_survival_matrix,
    with_margin_columns,
)
from churnlab.survival.design import Design, covariates_at, model_frame, prepare_lifetimes, split_customers
from churnlab.survival.kaplan_meier import describe, fit_km
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
from churnlab.survival.plots import plot_calibration, plot_incidence, plot_km, plot_model_curves

log = logging.getLogger(__name__)

OUT = paths.REPORTS / "survival"
FIGURES = OUT / "figures"
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
               aft: dict, xgboost: dict) -> tuple[dict, Strata, dict[str, pd.DataFrame]]:
    """Fit every model in `names` on the training customers; returns models, Cox strata and tables."""
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
        models["cox"] = fit_cox(stratified, kept, strata=strata.columns, **cox)
        tables["hazard_ratios"] = hazard_ratios(models["cox"], describe_column(design))
        log.info("cox fitted (%.0f s)", time.perf_counter() - started)
    aic = []
    for kind in [n for n in names if n in AFT_FITTERS]:
        models[kind] = fit_aft(kind, frame, columns, **aft)
        aic.append({"model": kind, "aic": float(models[kind].fitter_.AIC_),
                    "log_likelihood": float(models[kind].fitter_.log_likelihood_)})
        log.info("%s AFT fitted: AIC %.1f (%.0f s)", kind, aic[-1]["aic"], time.perf_counter() - started)
    tables["aft_aic"] = pd.DataFrame(aic).sort_values("aic", ignore_index=True) if aic else pd.DataFrame()
    if "xgboost" in names:
        models["xgboost"] = fit_xgboost_aft(frame, columns, seed=seed, **xgboost)
        log.info("xgboost AFT fitted (%.0f s)", time.perf_counter() - started)
    return models, strata, tables


def evaluate_models(models: dict, strata: Strata, design: Design, train: pd.DataFrame, test: pd.DataFrame, *,
                    horizon: int, evaluation: dict) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame]:
    """Held-out metrics, risks (for the oracle), mean curves and calibration deciles of every model."""
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


def best_model(metrics: dict, *, select_by: str) -> str:
    """The model with the best held-out `select_by` (lowest for IBS and ICI, highest otherwise)."""
    sign = -1 if select_by in LOWER_IS_BETTER else 1
    return max(metrics, key=lambda name: sign * metrics[name][select_by])


def clv_summary(values: pd.DataFrame, clv: dict, inputs: list[Path]) -> dict:
    """survival.json's CLV block; on simulated data also the CLV of the true survival curve, compared."""
    summary = {"customers": len(values), "total_clv": float(values["clv"].sum()),
               "mean_clv": float(values["clv"].mean()),
               "mean_expected_remaining_months": float(values["expected_remaining_months"].mean()),
               "mean_clv_by_tier": values.groupby("value_tier", observed=True)["clv"].mean().to_dict()}
    if paths.ORACLE_SURVIVAL.exists():
        truth = pd.read_parquet(paths.ORACLE_SURVIVAL)
        inputs.append(paths.ORACLE_SURVIVAL)
        true = true_survival_matrix(truth, values["customer_id"], months=clv["horizon_months"],
                                    column=clv["truth_column"])
        _, true_clv = lifetime_value(true, values["monthly_margin"].to_numpy(),
                                     discount=monthly_discount(clv["annual_discount_rate"]))
        summary["vs_truth"] = compare_values(values["clv"].to_numpy(), true_clv)
        log.info("CLV vs the true survival curve: %s", summary["vs_truth"])
    return summary


def finite(value) -> float | None:
    """A number for JSON, or None where it is infinite (a KM median the curve never reaches)."""
    return float(value) if np.isfinite(value) else None


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested params and metrics as MLflow keys."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out |= flatten(value, f"{name}.") if isinstance(value, dict) else {name: value}
    return out


def log_run(params: dict, metrics: dict, inputs: list[Path]) -> None:
    """The MLflow run `survival`: params read, numeric metrics, figures and tables, lineage tags."""
    mlflow = tracking.start()
    with mlflow.start_run(run_name="survival"):
        mlflow.set_tags(tracking.lineage_tags("survival", inputs))
        mlflow.set_tag("best_model", metrics["best_model"])
        mlflow.log_params({k: str(v)[:500] for k, v in flatten(params).items()})
        numbers = {k: float(v) for k, v in flatten(metrics).items()
                   if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)}
        mlflow.log_metrics(numbers)
        mlflow.log_artifacts(str(OUT), artifact_path="survival")


def snapshot_covariates(lifetimes: pd.DataFrame) -> dict[str, list[str]]:
    """Covariates of a snapshot source by kind, from the types of the columns with both an `entry_` and a `last_`
    value (the snapshot's features; entry_month and entry_tenure are not covariates); no list in params fits."""
    entry = covariates_at(lifetimes, "entry_")
    kinds = feature_columns(entry[[c for c in entry.columns if f"last_{c}" in lifetimes]])
    return {"numeric": kinds["numeric"], "log2": [], "flags": kinds["flag"], "categorical": kinds["categorical"]}


def write_skipped(reason: str, groups: list[str]) -> None:
    """Outputs of a skipped stage: survival.json saying why, an empty clv.parquet and empty plot files."""
    log.warning("survival skipped: %s", reason)
    write_parquet(empty_clv(), paths.CLV)
    for name in ["overall", *groups]:
        write_csv(pd.DataFrame({"time": []}), paths.PLOTS / f"km_{name}.csv")
    write_csv(pd.DataFrame({"time": []}), paths.PLOTS / "cif.csv")
    write_json({"skipped": {"survival": reason}}, OUT / "skipped.json")
    write_json({"skipped": {"survival": reason}}, paths.METRICS / "survival.json")


def main() -> None:
    setup_logging()
    base, params, data = load_params("base"), load_params("survival"), load_params("data")
    definition = load_params("features")["churn"]["definition"]
    seed, horizon = base["seed"], base["horizon_months"]
    raw = pd.read_parquet(paths.LIFETIMES)
    declared = list(params["km"]["groups"])  # their CSVs are DVC plots: written (maybe empty) on every source
    if "duration" not in raw:
        write_skipped("the snapshot has no tenure column (data.tenure), so there are no lifetimes", declared)
        return
    lifetimes = prepare_lifetimes(raw, **params["event"], definition=definition)
    log.info("%d customers, %d voluntary churn events", len(lifetimes), int(lifetimes["churned"].sum()))
    snapshot = data["source"] == "snapshot"
    covariate_kinds = snapshot_covariates(lifetimes) if snapshot else params["covariates"]
    notes = ["snapshot source: the duration is the tenure column (whole years taken at mid-year), the covariates "
             "are measured at the snapshot, not at entry, and customers who left before the file was drawn are "
             "missing: event times and hazard ratios are approximate"] if snapshot else []
    groups = {c: f"entry_{c}" for c in [*covariate_kinds["categorical"], *covariate_kinds["flags"]]} \
        if snapshot else params["km"]["groups"]

    tables = describe(lifetimes, **{**params["km"], "groups": groups})
    write_csv(tables["km_summary"], OUT / "km_summary.csv")
    write_csv(tables["logrank"], OUT / "logrank.csv")
    write_csv(tables["cif"], paths.PLOTS / "cif.csv")
    for name in dict.fromkeys([*declared, *tables["curves"]]):
        curve = tables["curves"].get(name, pd.DataFrame({"time": []}))
        write_csv(curve, (paths.PLOTS if name in declared or name == "overall" else OUT) / f"km_{name}.csv")
    scales = dict(zip(tables["km_summary"]["group"], tables["km_summary"]["time_scale"], strict=False))
    plot_km(tables["curves"], scales, FIGURES / "km_curves.png")
    plot_incidence(tables["cif"], FIGURES / "cumulative_incidence.png")
    log.info("Kaplan-Meier and log-rank done: %s", tables["logrank"][["group", "p_value"]].to_dict("records"))

    train, test = split_customers(lifetimes, test_share=params["test_share"], seed=seed)
    design = Design(**covariate_kinds).fit(covariates_at(train, "entry_"))
    ph_test = {**params["ph_test"], "stratify": design.used} if snapshot else params["ph_test"]
    models, strata, model_tables = fit_models(train, design, names=params["models"], seed=seed, cox=params["cox"],
                                              ph_test=ph_test, aft=params["aft"], xgboost=params["xgboost"])
    for name, table in model_tables.items():
        write_csv(table, OUT / f"{name}.csv")
    metrics, risks, curves, deciles = evaluate_models(models, strata, design, train, test, horizon=horizon,
                                                      evaluation=params["evaluation"])
    write_csv(curves, OUT / "model_curves.csv")
    write_csv(deciles, OUT / "calibration.csv")
    plot_model_curves(curves, FIGURES / "model_curves.png")
    plot_calibration(deciles, horizon, FIGURES / "calibration.png")

    inputs = [paths.LIFETIMES]
    if paths.ORACLE_CUSTOMERS.exists():
        oracle = oracle_scores(test, pd.read_parquet(paths.ORACLE_CUSTOMERS), risks,
                               column=params["evaluation"]["oracle_column"])
        inputs.append(paths.ORACLE_CUSTOMERS)
        for name in metrics:
            metrics[name] |= {"oracle_c_index": oracle["oracle_c_index"], **oracle[name]}
        log.info("oracle C-index %.3f; ratios %s", oracle["oracle_c_index"],
                 {n: round(m["oracle_ratio"], 3) for n, m in metrics.items()})
    best = best_model(metrics, select_by=params["evaluation"]["select_by"])

    clv = params["clv"]
    valued = with_margin_columns(lifetimes)
    if valued is None:
        reason = (f"no balance or fee column ({', '.join(MARGIN_COLUMNS)}) to value a customer by; "
                  "name one with data.rename")
        summary = {"skipped": {"clv": reason}}
        log.warning("CLV skipped: %s", reason)
        write_parquet(empty_clv(), paths.CLV)
    else:
        average_market = {name: float(train[f"entry_{name}"].mean()) for name in clv["average_market"]
                          if f"entry_{name}" in train}
        values, _ = customer_values(valued, models[best], design, strata, horizon_months=clv["horizon_months"],
                                    annual_discount_rate=clv["annual_discount_rate"], tiers=clv["tiers"],
                                    margins=clv["margins"], average_market=average_market)
        write_parquet(values, paths.CLV)
        summary = clv_summary(values, clv, inputs)
    overall = tables["km_summary"].iloc[0]
    report = {"best_model": best, "selected_by": params["evaluation"]["select_by"], "models": metrics,
              "customers": {"train": len(train), "test": len(test), "events_train": int(train["churned"].sum())},
              "km": {"median_months": finite(overall["median_months"]),  # null beyond the longest follow-up
                     **{f"survival_{t}m": finite(overall[f"survival_{t}m"]) if t <= lifetimes["duration"].max()
                        else None for t in params["km"]["times"]}},
              "logrank_p": dict(zip(tables["logrank"]["group"], tables["logrank"]["p_value"], strict=True)),
              "cox_strata": strata.sources, "clv": summary, "notes": notes}
    write_json(report, paths.METRICS / "survival.json")
    log.info("best model %s; wrote %s and %s", best, paths.METRICS / "survival.json", paths.CLV)
    log_run({"base": base, "data": data, "features": {"churn": {"definition": definition}}, "survival": params},
            report, inputs)
