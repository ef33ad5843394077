"""The `survival` stage: how long customers stay, who leaves early, and what a customer is worth.

Reads data/processed/lifetimes.parquet (one row per customer, tenure scale with left truncation; see
`churnlab.features.lifetimes`), data/raw/source.json (`churnlab.contract.source`: whether the source has a time
axis and an oracle) and, on simulated data, the oracle in data/oracle. Voluntary churn is the event
(`churnlab.survival.design`). `run` does, one part per concept:

1. `survival_curves`: Kaplan-Meier curves with delayed entry, overall and by group at entry; log-rank tests;
   the cumulative incidence of each churn type (competing risks). All exact, from per-month counts that the
   engine params.yaml `engine` names sums (DuckDB here, or Spark: `churnlab.survival.aggregated`).
2. `model_comparison`: a seeded customer-level split; Cox PH, AFTs and XGBoost AFT fitted from the covariates at
   entry, the same held-out metrics for every model, and on simulated data the oracle C-index
   (`churnlab.survival.comparison`). On Spark the Cox model's per-month sums are Spark's, over every training
   customer (`churnlab.survival.cox_spark`); the other models are fitted in memory.
3. `lifetime_values`: CLV of every active customer from the best model's curve, given the `last_` covariates and
   current tenure; on simulated data compared with the CLV of the true survival curve (`churnlab.survival.clv`).

A source without a tenure column has no lifetimes: the stage is skipped (`skip`), and still writes the files
DVC expects. Writes reports/metrics/survival.json, reports/survival/ (tables, figures), reports/plots/km_*.csv and
data/processed/clv.parquet, and logs an MLflow run named `survival`. No customer id leaves clv.parquet.
Run with `python -m churnlab.survival`.
"""

import json
import logging

import numpy as np
import pandas as pd

from churnlab.contract.source import read_source
from churnlab.core import paths
from churnlab.core.engine import Sql, engine_params, open_engine
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.model.churn import feature_columns
from churnlab.survival.clv import empty_clv, lifetime_values
from churnlab.survival.comparison import best_model, evaluate_models, fit_models, held_out_sample, with_oracle
from churnlab.survival.design import Design, covariates_at, prepare_lifetimes, split_customers
from churnlab.survival.kaplan_meier import describe
from churnlab.survival.models import Strata
from churnlab.survival.plots import plot_calibration, plot_incidence, plot_km, plot_model_curves
from churnlab.survival.proxies import duration_proxies, without

log = logging.getLogger(__name__)
# metrics/survival.json: what `dvc exp show` compares (the detail is in reports/metrics/survival.json)
HEADLINE = {
    "best_c_index_uno": "models.{best_model}.c_index_uno",
    "best_ibs": "models.{best_model}.ibs",
    "best_oracle_ratio": "models.{best_model}.oracle_ratio",
    "clv_rank_corr_truth": "clv.vs_truth.rank_corr",
}

OUT = paths.REPORTS / "survival"
FIGURES = OUT / "figures"
NO_CURVE = pd.DataFrame({"time": []})  # a declared km_<group>.csv plot the source cannot draw
TENURE_NOTE = {"years": "whole years taken at mid-year", "months": "months as given"}


def snapshot_note(tenure_unit: str) -> str:
    """What a snapshot's survival figures mean: the duration is its tenure column, in `tenure_unit`."""
    return (f"snapshot source: the duration is the tenure column ({TENURE_NOTE[tenure_unit]}), the covariates are "
            "measured at the snapshot, not at entry, and customers who left before the file was drawn are missing: "
            "event times and hazard ratios are approximate")


def finite(value) -> float | None:
    """A number for JSON, or None where it is infinite (a KM median the curve never reaches)."""
    return float(value) if np.isfinite(value) else None


def snapshot_covariates(lifetimes: pd.DataFrame) -> dict[str, list[str]]:
    """Covariates of a snapshot source by kind, from the types of the columns with both an `entry_` and a `last_`
    value (the snapshot's features; entry_month and entry_tenure are not covariates); no list in params fits."""
    entry = covariates_at(lifetimes, "entry_")
    kinds = feature_columns(entry[[c for c in entry.columns if f"last_{c}" in lifetimes]])
    return {"numeric": kinds["numeric"], "log2": [], "flags": kinds["flag"], "categorical": kinds["categorical"]}


def skip(reason: str, declared: list[str]) -> StageResult:
    """A skipped stage: survival.json and reports/survival/skipped.json saying why, an empty clv.parquet and empty
    plot CSVs (DVC expects every out and plot of the stage)."""
    note = json.dumps({"skipped": {"survival": reason}}, indent=2, sort_keys=True) + "\n"
    curves = {paths.PLOTS / f"{name}.csv": NO_CURVE for name in [*(f"km_{g}" for g in ["overall", *declared]), "cif"]}
    return StageResult({}, tables={paths.CLV: empty_clv(), **curves}, texts={OUT / "skipped.json": note},
                       skipped={"survival": reason})


def survival_curves(lifetimes: pd.DataFrame, *, declared: list[str], groups: dict[str, str], times: list[int],
                    since_entry: list[str], grid_months: int, min_group_size: int,
                    sql: Sql | None = None) -> StageResult:
    """Kaplan-Meier curves, log-rank tests and cumulative incidence (`kaplan_meier.describe`), with their figures;
    the engine `sql` (DuckDB when None) sums the per-month counts they come from.

    The overall curve and the `declared` groupings (survival.km.groups) are DVC plots, reports/plots/km_<name>.csv,
    written on every source (empty where the grouping cannot be drawn); other groupings (a snapshot's) go to
    reports/survival/. KM survival at each of `times` beyond the longest follow-up is null.
    """
    tables = describe(lifetimes, groups=groups, times=times, since_entry=since_entry, grid_months=grid_months,
                      min_group_size=min_group_size, sql=sql)
    summary, logrank = tables["km_summary"], tables["logrank"]
    files = {OUT / "km_summary.csv": summary, OUT / "logrank.csv": logrank, paths.PLOTS / "cif.csv": tables["cif"]}
    for name in dict.fromkeys([*declared, *tables["curves"]]):
        target = (paths.PLOTS if name in declared or name == "overall" else OUT) / f"km_{name}.csv"
        files[target] = tables["curves"].get(name, NO_CURVE)
    scales = dict(zip(summary["group"], summary["time_scale"], strict=False))
    figures = {FIGURES / "km_curves.png": plot_km(tables["curves"], scales),
               FIGURES / "cumulative_incidence.png": plot_incidence(tables["cif"])}
    overall, longest = summary.iloc[0], lifetimes["duration"].max()
    metrics = {"km": {"median_months": finite(overall["median_months"]),
                      **{f"survival_{t}m": finite(overall[f"survival_{t}m"]) if t <= longest else None
                         for t in times}},
               "logrank_p": dict(zip(logrank["group"], logrank["p_value"], strict=True))}
    log.info("Kaplan-Meier and log-rank done: %s", logrank[["group", "p_value"]].to_dict("records"))
    return StageResult(metrics, tables=files, figures=figures)


def model_comparison(train: pd.DataFrame, test: pd.DataFrame, design: Design, *, names: list[str], seed: int,
                     horizon: int, truth: pd.DataFrame | None, evaluation: dict,
                     **fit_settings) -> tuple[object, Strata, StageResult]:
    """Fit the models `names` on `train`, score them on `test` (against the oracle's risk in `truth` on simulated
    data); returns the best by `evaluation.select_by`, the Cox strata, and the comparison's tables and figures.

    `fit_settings` are the cox, ph_test, aft and xgboost settings of `comparison.fit_models`, and the engine `sql`
    (on Spark the Cox model's per-month sums are Spark's).
    """
    fitted, strata, tables = fit_models(train, design, names=names, seed=seed, **fit_settings)
    scored = held_out_sample(test, max_customers=evaluation["max_customers"], seed=seed)
    scores, risks, curves, deciles = evaluate_models(fitted, strata, design, train, scored, horizon=horizon,
                                                     evaluation=evaluation)
    if truth is not None:
        scores = with_oracle(scores, scored, truth, risks, column=evaluation["oracle_column"])
    best = best_model(scores, select_by=evaluation["select_by"])
    metrics = {"best_model": best, "selected_by": evaluation["select_by"], "models": scores,
               "cox_strata": strata.sources}
    tables = {**{OUT / f"{name}.csv": table for name, table in tables.items()},
              OUT / "model_curves.csv": curves, OUT / "calibration.csv": deciles}
    figures = {FIGURES / "model_curves.png": plot_model_curves(curves),
               FIGURES / "calibration.png": plot_calibration(deciles, horizon)}
    return fitted[best], strata, StageResult(metrics, tables=tables, figures=figures)


def run(lifetimes: pd.DataFrame, *, time_axis: bool, seed: int, horizon: int, tenure_unit: str = "years",
        oracle_customers: pd.DataFrame | None = None, survival_truth: pd.DataFrame | None = None,
        sql: Sql | None = None, event: dict, test_share: float, km: dict, covariates: dict, models: list[str],
        cox: dict, ph_test: dict, aft: dict, xgboost: dict, evaluation: dict, clv: dict,
        max_duration_corr: float) -> StageResult:
    """The survival stage on `lifetimes` (see the module docstring); keywords after `sql` (the engine that sums the
    Kaplan-Meier counts, and on Spark the Cox model's per-month sums; DuckDB when None) are the sections of
    params.yaml's `survival`. Without a time axis (a snapshot file) the covariates and KM groupings come from the
    snapshot's columns, and every covariate may stratify the Cox model. The oracle tables
    (`oracle_customers`, `survival_truth`) exist on simulated data only. Covariates that are almost a function of
    the duration (`survival.proxies`) are left out of the models and named in `left_out`. A snapshot's note says
    how its tenure (`tenure_unit`, params data.tenure_unit) became the duration."""
    declared = list(km["groups"])
    if "duration" not in lifetimes:
        return skip("the snapshot has no tenure column (data.tenure), so there are no lifetimes", declared)
    lifetimes = prepare_lifetimes(lifetimes, **event)
    log.info("%d customers, %d voluntary churn events", len(lifetimes), int(lifetimes["churned"].sum()))
    kinds = covariates if time_axis else snapshot_covariates(lifetimes)
    groups = km["groups"] if time_axis else {c: f"entry_{c}" for c in [*kinds["categorical"], *kinds["flags"]]}
    curves = survival_curves(lifetimes, declared=declared, sql=sql, **{**km, "groups": groups})

    train, test = split_customers(lifetimes, test_share=test_share, seed=seed)
    proxies = {} if time_axis else duration_proxies(train, [*kinds["numeric"], *kinds["log2"]],
                                                    max_duration_corr=max_duration_corr)
    if proxies:
        log.warning("left out of the survival models, almost a function of the duration: %s", proxies)
    design = Design(**without(kinds, proxies)).fit(covariates_at(train, "entry_"))
    chosen, strata, compared = model_comparison(
        train, test, design, names=models, seed=seed, horizon=horizon, truth=oracle_customers, evaluation=evaluation,
        cox=cox, ph_test=ph_test if time_axis else {**ph_test, "stratify": design.used}, aft=aft, xgboost=xgboost,
        sql=sql)

    values, summary = lifetime_values(lifetimes, train, chosen, design, strata, truth=survival_truth, **clv)
    left_out = {name: f"rank correlation {rho} with the duration: almost a function of it"
                for name, rho in proxies.items()}
    metrics = {**curves.metrics, **compared.metrics, "clv": summary, "left_out": left_out,
               "notes": [] if time_axis else [snapshot_note(tenure_unit)],
               "customers": {"train": len(train), "test": len(test), "events_train": int(train["churned"].sum())}}
    return StageResult(metrics, tables={**curves.tables, **compared.tables, paths.CLV: values},
                       figures={**curves.figures, **compared.figures})


def main() -> None:
    setup_logging()
    base, params = load_params("base"), load_params("survival")
    source = read_source()
    oracle = {"oracle_customers": paths.ORACLE_CUSTOMERS, "survival_truth": paths.ORACLE_SURVIVAL} if source.oracle \
        else {}
    engine = engine_params()
    sql = open_engine(engine)
    try:
        result = run(pd.read_parquet(paths.LIFETIMES), time_axis=source.time_axis, seed=base["seed"],
                     horizon=base["horizon_months"], tenure_unit=load_params("data")["tenure_unit"],
                     **{name: pd.read_parquet(p) for name, p in oracle.items()}, sql=sql, **params)
    finally:
        sql.close()
    best = result.metrics.get("best_model")
    # MLflow gets the files of reports/survival, not clv.parquet: customer ids stay in data/processed.
    write_result("survival", result, headline=HEADLINE, params={"base": base, "survival": params, "engine": engine},
                 inputs=[paths.SOURCE, paths.LIFETIMES, *oracle.values()], tags={"best_model": best} if best else {},
                 artifacts=[p for p in result.files() if OUT in p.parents])
    log.info("engine %s; best model %s; wrote %s and %s", engine["name"], best, paths.METRICS / "survival.json",
             paths.CLV)
