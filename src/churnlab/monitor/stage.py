"""The `monitor` stage: the champion's stability, decay and label-free performance, month by month.

Every month after the last training cutoff is scored by the champion (`churnlab.monitor.months`). For each month:
the PSI of the champion's score and the CSI / KS of every feature against the training reference, with no-drift
thresholds at that month's sample size (`churnlab.monitor.stability`); the label-free AUC and churn-rate estimate
(the scores recalibrated on the latest month whose labels are in at that month's scoring time, the training cutoffs
until a monitored month's are), and the realised metrics once the month's H-month labels are in
(`churnlab.monitor.estimate`); the alert state and
retrain recommendation (`churnlab.monitor.alerts`). On simulated data (`Source.oracle`) the false-alarm rate (quiet
months before the competitor promotion) and the detection rate (months from `simulate.shock_month` on) are measured
too; other sources name that part under `skipped`.

With params.yaml `engine.name: spark` each month stays on Spark (`churnlab.monitor.spark_months`): its snapshot is
built by the same SQL, scored by the registered champion with `mlflow.pyfunc.spark_udf`, its PSI / CSI bins counted
by Spark aggregations and its KS statistics computed exactly on Spark; only its (customer_id, p_churn, label) come
to the driver. The reference (the training cutoffs' rows) is read, scored, binned and counted on Spark too
(`churnlab.monitor.spark_reference`); only its (cutoff, customer_id, p_churn, label) come to the driver. Every
output is the local engine's (the scores to 1e-12).

Monitoring needs a time axis: on a source without one (a snapshot file, one date) the stage is skipped, and so it
is when no month follows the training period (e.g. a short ledger whose months all went into training);
monitor.json then holds `skipped` ({"monitor": reason}) and every other output is written empty (headers only).

Writes reports/metrics/monitor.json, reports/monitor/{months,stability}.csv, reports/plots/monitor_*.csv
and data/processed/monitor_scores.parquet (one row per customer and month; with `engine.spark.lake` set, Spark writes
them into the lake, `<lake>/monitor_scores/<version>/month=YYYY-MM-DD/`, and the file becomes their manifest,
`churnlab.core.lake`). Run with `python -m churnlab.monitor`.
"""

import json
import logging
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
import pandas as pd

from churnlab.contract.source import Source, read_source
from churnlab.contract.tables import connect, month_end, month_number
from churnlab.core import paths, tracking
from churnlab.core.engine import engine_params, lake_of, open_engine
from churnlab.core.lake_spark import move_to_lake, spark_rows
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.model.spark_scoring import SparkScorer
from churnlab.model.split import RandomSplit, TimeSplit, load_split, read_snapshots
from churnlab.monitor.alerts import alarm_rates, alert_states
from churnlab.monitor.estimate import backtest, recalibrated_auc
from churnlab.monitor.months import (
    Window,
    grade_shares,
    monitoring_window,
    observe_locally,
    reference_layout,
    score,
    summarise_months,
    training_reference,
    watch_months,
)
from churnlab.monitor.spark_months import SparkMonths
from churnlab.monitor.spark_reference import fit_on_spark
from churnlab.monitor.stability import SCORE

log = logging.getLogger(__name__)
# metrics/monitor.json: what `dvc exp show` compares (the detail, month by month, is in reports/metrics/monitor.json)
HEADLINE = {
    "months_monitored": "months_monitored",
    "auc_error_label_free": "label_free.auc_mae",
    "false_alarm_rate": "simulator.false_alarm_rate",
    "detection_rate": "simulator.detection_rate",
}

MONITOR = paths.REPORTS / "monitor"
SCORES = paths.PROCESSED / "monitor_scores.parquet"
OUTPUTS = {"scores": SCORES, "stability": MONITOR / "stability.csv", "months": MONITOR / "months.csv",
           "psi": paths.PLOTS / "monitor_psi.csv", "decay": paths.PLOTS / "monitor_decay.csv"}
HEADERS = {  # the columns of each output, written alone when the stage is skipped
    "scores": ["month", "customer_id", SCORE, "label", "complete"],
    "stability": ["feature", "group", "statistic", "null_quantile", "threshold", "drifting", "ks", "ks_pvalue",
                  "value", "month"],
    "months": ["month", "rows", "score_psi", "score_null_quantile", "score_threshold", "mean_score", "grade_shares",
               "market_drifting", "drifting_features", "expected_churn_rate", "expected_auc", "expected_auc_low",
               "expected_auc_high", "recalibrated_on", "auc", "pr_auc", "brier", "ece", "churn_rate", "mean_p",
               "auc_error", "churn_rate_error", "score_drift", "score_drift_statistical", "market_drift",
               "feature_drift", "estimated_decay", "realised_decay", "reasons", "alert", "retrain"],
    "psi": ["month", "months_after_training", "score_psi", "score_null_quantile", "score_threshold"],
    "decay": ["month", "months_after_training", "expected_auc", "auc", "pr_auc", "expected_churn_rate", "churn_rate",
              "ece"],
}
TABLES = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
          "churn_events": paths.CHURN_EVENTS}
SCORE_JSON = paths.METRICS / "score.json"
INPUTS = [paths.SOURCE, *TABLES.values(), paths.SNAPSHOTS, paths.SPLIT, SCORE_JSON]
NO_TIME_AXIS = ("the source has no time axis (one snapshot): there are no months after training to watch for drift, "
                "and no later labels to measure decay by")
NO_SHOCK_MONTHS = "false-alarm and detection rates need the simulator's known shock months"


@dataclass(frozen=True)
class Settings:
    """The `monitor` section of params.yaml (its comments say why each value was chosen)."""

    every_months: int
    bins: int
    alpha: float
    null_draws: int
    min_psi: float
    min_csi: float
    market_reference_months: int
    min_drifting_features: int
    shock_indicators: list[str]
    max_auc_drop: float
    auc_draws: int
    auc_band_rows: int
    ece_bins: int
    recalibration_months: int


def why_unmonitored(source: Source, split: TimeSplit | RandomSplit | None, window: Window | None) -> str | None:
    """Why the stage cannot run on this data (no time axis, a random split, no month after training), or None."""
    if not source.time_axis:
        return NO_TIME_AXIS
    if not isinstance(split, TimeSplit):
        return (f"{paths.SPLIT} holds a {split.as_dict()['kind']} split, not one out of time: no training period for "
                "later months to be compared with")
    if not window.months:
        return (f"no month follows the last training cutoff {window.train[-1].date()}: the data end at "
                f"{month_end(window.last).date()}")
    return None


def unmonitored(reason: str, source: Source) -> StageResult:
    """The result of a skipped stage: monitor.json saying why, every table with its header only."""
    dtypes = {"month": "datetime64[ns]", "customer_id": "object", SCORE: "float64", "label": "Int8", "complete": bool}
    tables = {path: pd.DataFrame(columns=HEADERS[name]) for name, path in OUTPUTS.items()}
    tables[SCORES] = pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in HEADERS["scores"]})
    return StageResult({"source": source.name, "months_monitored": 0}, tables=tables, skipped={"monitor": reason})


def jsonable(months: pd.DataFrame) -> dict:
    """The per-month table as {month: {...}} for monitor.json (`dvc metrics diff` flattens the keys)."""
    keep = ["rows", "score_psi", "score_null_quantile", "score_threshold", "drifting_features", "market_drifting",
            "expected_auc", "expected_auc_low", "expected_auc_high", "auc", "expected_churn_rate", "churn_rate",
            "alert", "retrain", "reasons", "grade_shares"]
    out = {}
    for row in months.to_dict("records"):
        out[str(pd.Timestamp(row["month"]).date())] = {
            k: (None if isinstance(row[k], float) and np.isnan(row[k]) else row[k]) for k in keep}
    return json.loads(json.dumps(out, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def mean_abs(errors: pd.Series, *, worst: bool = False) -> float | None:
    """Mean (or, `worst`, largest) absolute error; None without labelled months."""
    return (float(errors.abs().max()) if worst else float(errors.abs().mean())) if len(errors) else None


def summary_metrics(months: pd.DataFrame, reference: pd.DataFrame, *, source: Source, champion: tracking.Champion,
                    window: Window, grading: dict | None, horizon_months: int, reference_auc: float,
                    settings: Settings) -> dict:
    """monitor.json: the champion, its training reference, the settings, every month, the label-free backtest.

    `reference_auc` is the reference period's expected AUC on the estimate's own basis (recalibrated on its labels).
    """
    labelled = months[months["auc"].notna()]
    return {
        "source": source.name, "months_monitored": len(months),
        "champion": {"name": champion.name, "version": champion.version},  # the run id is an MLflow tag: not here
        "reference": {"cutoffs": [str(t.date()) for t in window.train], "rows": len(reference),
                      "horizon": horizon_months, "grade_shares": grade_shares(reference[SCORE], grading),
                      "expected_auc": reference_auc, "mean_score": float(reference[SCORE].mean()),
                      "churn_rate": float(reference["label"].astype(float).mean())},
        "settings": {"alpha": settings.alpha, "null_draws": settings.null_draws, "min_psi": settings.min_psi,
                     "min_csi": settings.min_csi, "max_auc_drop": settings.max_auc_drop, "monitoring": "monthly",
                     "recalibration_months": settings.recalibration_months},
        "months": jsonable(months),
        "label_free": {"labelled_months": len(labelled), "auc_mae": mean_abs(labelled["auc_error"]),
                       "auc_max_error": mean_abs(labelled["auc_error"], worst=True),
                       "churn_rate_mae": mean_abs(labelled["churn_rate_error"])},
        "latest": {"month": str(months["month"].iloc[-1].date()), "retrain": bool(months["retrain"].iloc[-1]),
                   "reasons": months["reasons"].iloc[-1]},
    }


def simulator_alarms(months: pd.DataFrame, *, first: int, shock: dict, reference_auc: float,
                     horizon_months: int, settings: Settings) -> dict:
    """False-alarm and detection rates against the simulator's promotion (`simulate.shock_month(s)`, 0 = `first`).

    The recession is real drift too: alarms of market indicators outside `shock_indicators` are detections, not
    false alarms of the promotion, so the headline rates count only the promotion's indicators as market drift.
    """
    start = month_end(first + shock["shock_month"])
    end = month_end(first + shock["shock_month"] + shock["shock_months"] - 1)
    promotion_view = alert_states(
        months.assign(market_drifting=months["market_drifting"].map(
            lambda names: [n for n in names if n in settings.shock_indicators])),
        reference_auc=reference_auc, max_auc_drop=settings.max_auc_drop,
        min_drifting_features=settings.min_drifting_features)
    return {"shock_start": str(start.date()), "shock_end": str(end.date()),
            "shock_indicators": settings.shock_indicators,
            **alarm_rates(promotion_view, shock_start=start, shock_end=end, horizon_months=horizon_months),
            "all_market_indicators": alarm_rates(months, shock_start=start, shock_end=end,
                                                 horizon_months=horizon_months)}


def output_tables(scores: pd.DataFrame, stability: pd.DataFrame, months: pd.DataFrame, *,
                  last_training_cutoff: pd.Timestamp) -> dict:
    """The files of the stage: scored rows, stability per feature, months (lists joined by "; ") and plot data.

    The plot tables carry `months_after_training` (1 = the first month after `last_training_cutoff`), a number DVC's
    plots can put on their x axis (it draws nothing against a date string).
    """
    table = months.assign(**{c: months[c].map("; ".join) for c in ("drifting_features", "market_drifting", "reasons")})
    plotted = table.assign(months_after_training=month_number(table["month"]) - month_number(last_training_cutoff))
    return {OUTPUTS["scores"]: scores, OUTPUTS["stability"]: stability, OUTPUTS["months"]: table,
            OUTPUTS["psi"]: plotted[HEADERS["psi"]],
            OUTPUTS["decay"]: plotted[[c for c in HEADERS["decay"] if c in plotted]]}


def run(con, reference: pd.DataFrame | None, champion: tracking.Champion, *, window: Window, source: Source,
        grading: dict | None, shock: dict | None, churn: dict, seed: int, horizon_months: int,
        settings: Settings, spark_score=None, spark_reference=None) -> StageResult:
    """The champion over `window.months`: stability, estimated and realised performance, alerts, alarm rates.

    `con` is an engine (DuckDB or Spark, or a DuckDB connection) over the contract tables (`contract.tables.connect`:
    the Parquet files in `main`, DataFrames in tests), on which the months' snapshots are computed; nothing here
    reads a file, params.yaml or MLflow.
    `reference` holds the snapshot rows at the training cutoffs; `grading` the score stage's grades (or None);
    `shock` the simulator's promotion (params simulate.shock_month and shock_months) on simulated data, else None.
    On Spark the reference and the months stay there (`spark_reference.fit_on_spark`, `spark_months.SparkMonths`):
    `spark_score` adds the champion's p_churn to a Spark DataFrame (`SparkScorer.score`), `spark_reference` holds
    the reference's rows as a Spark DataFrame, and `reference` is not read (None).
    """
    layout = reference_layout(con, window=window, market_reference_months=settings.market_reference_months)
    fitted = None
    if getattr(con, "name", None) == "spark":
        if spark_score is None or spark_reference is None:
            raise ValueError("the monitor on Spark needs spark_score (the champion as a Spark UDF) and "
                             "spark_reference (the reference rows on Spark)")
        fitted = fit_on_spark(con, spark_reference, score=spark_score, layout=layout, bins=settings.bins)
        reference, profile = fitted.rows, fitted.profile
        observe = SparkMonths(con, profile, score=spark_score, reference_counts=fitted.value_counts, window=window,
                              horizon_months=horizon_months, churn=churn).observe
    else:
        reference = reference.assign(**{SCORE: score(champion.pyfunc, reference)})
        profile = training_reference(reference, layout, bins=settings.bins)
        observe = partial(observe_locally, con, reference=profile, model=champion.pyfunc, window=window,
                          horizon_months=horizon_months, churn=churn)
    log.info("champion %s v%d; reference: %d rows at %d training cutoffs %s..%s", champion.name, champion.version,
             len(reference), len(window.train), window.train[0].date(), window.train[-1].date())
    try:
        summaries, stability, scores = watch_months(
            observe, profile, window=window, horizon_months=horizon_months, grading=grading, alpha=settings.alpha,
            null_draws=settings.null_draws, min_psi=settings.min_psi, min_csi=settings.min_csi,
            rng=np.random.default_rng([seed, 7]))
    finally:
        if fitted is not None:
            fitted.close()
    history = reference.rename(columns={"cutoff": "month"})[["month", SCORE, "label"]]
    performance = backtest(scores, history=history, horizon_months=horizon_months,
                           recalibration_months=settings.recalibration_months, draws=settings.auc_draws,
                           max_rows=settings.auc_band_rows, ece_bins=settings.ece_bins, seed=seed)
    labelled = reference[reference["label"].notna()]
    reference_auc = recalibrated_auc(labelled[SCORE], labelled["label"].astype(int))
    months = alert_states(summarise_months(summaries, stability, performance), reference_auc=reference_auc,
                          max_auc_drop=settings.max_auc_drop, min_drifting_features=settings.min_drifting_features)
    metrics = summary_metrics(months, reference, source=source, champion=champion, window=window, grading=grading,
                              horizon_months=horizon_months, reference_auc=reference_auc, settings=settings)
    tables = output_tables(scores, stability, months, last_training_cutoff=window.train[-1])
    result = StageResult(metrics, tables=tables)
    if shock is None:
        result.skipped["simulator"] = NO_SHOCK_MONTHS
    else:
        metrics["simulator"] = sim = simulator_alarms(months, first=window.first, shock=shock,
                                                      reference_auc=reference_auc, horizon_months=horizon_months,
                                                      settings=settings)
        labelled = months[months["auc"].notna()]
        metrics["label_free"]["auc_mae_quiet"] = mean_abs(
            labelled.loc[labelled["month"] < pd.Timestamp(sim["shock_start"]), "auc_error"])
        log.info("simulator: false-alarm rate %s, detection rate %s", sim["false_alarm_rate"], sim["detection_rate"])
    log.info("monitor: %d months, %d in alert; latest retrain=%s", len(months), int(months["alert"].sum()),
             metrics["latest"]["retrain"])
    return result


def read_grading(points: dict) -> dict | None:
    """The score stage's grade boundaries (reports/metrics/score.json) and its points scale, if it has run."""
    if not SCORE_JSON.exists():
        log.info("no %s: the grade distribution is not monitored", SCORE_JSON)
        return None
    grades = json.loads(SCORE_JSON.read_text(encoding="utf-8"))["grades"]
    return {"labels": grades["labels"], "min_points": grades["min_points"], "points": points}


def log_monthly(months: pd.DataFrame) -> None:
    """Log score PSI, expected AUC and alert per month as MLflow series (step = month number) on the run just logged.

    `write_result` logs each metric once (monitor.json's months as `months.<date>.<name>`); a series needs a step,
    which it has no way to take, and gives the MLflow UI one chart per signal over the months.
    """
    if months.empty:
        return
    mlflow = tracking.start()
    with mlflow.start_run(run_id=mlflow.last_active_run().info.run_id):
        for row in months.itertuples(index=False):
            mlflow.log_metrics({"score_psi": row.score_psi, "expected_auc": row.expected_auc,
                                "alert": float(row.alert)}, step=month_number(row.month))


def main() -> None:
    """Read params, data and the champion; `run()`; write the outputs and one MLflow run (or why it was skipped)."""
    setup_logging()
    base, settings = load_params("base"), Settings(**load_params("monitor"))
    churn, model_name = load_params("features")["churn"], load_params("register")["model_name"]
    points, source = load_params("score")["points"], read_source()
    shock = {k: load_params("simulate")[k] for k in ("shock_month", "shock_months")} if source.oracle else None
    engine = engine_params()
    params = {"base": {k: base[k] for k in ("seed", "horizon_months")}, "features": {"churn": churn},
              "register": {"model_name": model_name}, "score": {"points": points}, "monitor": asdict(settings),
              "engine": engine, **({"simulate": shock} if shock else {})}
    split = load_split(paths.SPLIT) if source.time_axis else None
    # the months' snapshots on the engine (DuckDB or Spark), over the contract tables
    sql = open_engine(engine) if isinstance(split, TimeSplit) else None
    try:
        con = connect(TABLES, engine=sql) if sql is not None else None
        window = monitoring_window(con, split, every_months=settings.every_months) if con is not None else None
        if reason := why_unmonitored(source, split, window):
            write_result("monitor", unmonitored(reason, source), headline=HEADLINE, params=params, inputs=INPUTS)
            return
        champion = tracking.load_champion(model_name)
        spark = {"spark_score": SparkScorer(sql.spark, champion.version_uri).score,
                 "spark_reference": spark_rows(sql, paths.SNAPSHOTS, cutoffs=window.train, view="reference_rows")
                 } if sql.name == "spark" else {}
        reference = None if spark else read_snapshots(paths.SNAPSHOTS, cutoffs=window.train)  # Spark reads its own
        result = run(con, reference, champion, window=window, source=source, grading=read_grading(points),
                     shock=shock, churn=churn, seed=base["seed"], horizon_months=base["horizon_months"],
                     settings=settings, **spark)
        if lake := lake_of(engine):  # the months' scores into the lake, their manifest at SCORES
            move_to_lake(result, sql.spark, lake=lake, partitions={SCORES: "month"})
    finally:
        if sql is not None:
            sql.close()
    # the per-customer scores (~6 MB a run) stay out of MLflow, as before; the reports and monitor.json go in
    write_result("monitor", result, headline=HEADLINE, params=params, inputs=INPUTS,
                 artifacts=[p for p in result.files() if p != SCORES],
                 tags={"champion_version": str(champion.version), "champion_run_id": champion.run_id})
    log_monthly(result.tables[OUTPUTS["months"]])
