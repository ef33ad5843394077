"""The `monitor` stage: the champion's stability, decay and label-free performance, month by month.

Monitoring is monthly, not at the quarterly snapshot cutoffs: a bank scores every month and a shock that
starts between two cutoffs should not wait a quarter. The snapshot of every month after the last training
cutoff is computed here with the features stage's own point-in-time SQL (`features.snapshot_at`, DuckDB,
~3 s a month on the default data), so the monitored rows are exactly what the model would be fed.

For each month: the PSI of the champion's score and the CSI / KS of every feature against the training
reference, with no-drift thresholds at that month's sample size (`churnlab.monitor.stability`); the label-free
AUC and churn-rate estimate, and the realised metrics once the month's H-month labels are in
(`churnlab.monitor.estimate`); the alert state and retrain recommendation (`churnlab.monitor.alerts`). On simulated data
the false-alarm rate (quiet months before the competitor promotion) and the detection rate (months from
`simulate.shock_month` on) are measured too.

Monitoring needs a time axis: on a snapshot source (one cutoff, data.source snapshot) the stage is skipped, and
so it is when no month follows the training period (e.g. a short ledger whose months all went into training);
monitor.json then holds `skipped` ({"monitor": reason}) and every other output is written empty (headers only).
The alarm rates against the promotion's known timing need the simulator; other sources name that part under
`skipped` too.

Writes reports/metrics/monitor.json, reports/monitor/{months,stability}.csv, reports/plots/monitor_*.csv
and data/processed/monitor_scores.parquet. Run with `python -m churnlab.monitor`.
"""

import json
import logging
import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from churnlab.contract.indicators import CATEGORICAL, FLAGS, INDICATORS, point_in_time_features
from churnlab.contract.snapshots import snapshot_at
from churnlab.contract.tables import connect, month_end, month_number, month_range
from churnlab.core import paths, tracking
from churnlab.core.io import write_csv, write_json, write_parquet
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.model.grades import assign_grades, points
from churnlab.model.split import TimeSplit, choose_split, load_split, read_snapshots
from churnlab.monitor.alerts import alarm_rates, alert_states
from churnlab.monitor.estimate import backtest, expected_auc
from churnlab.monitor.stability import SCORE, compare_month, fit_reference

log = logging.getLogger(__name__)

MONITOR = paths.REPORTS / "monitor"
MONITOR_JSON = paths.METRICS / "monitor.json"
SCORES = paths.PROCESSED / "monitor_scores.parquet"
HEADERS = {  # the columns of each output, written alone when the stage is skipped
    "scores": ["month", "customer_id", SCORE, "label", "complete"],
    "stability": ["feature", "group", "statistic", "null_quantile", "threshold", "drifting", "ks", "ks_pvalue",
                  "value", "month"],
    "months": ["month", "rows", "score_psi", "score_null_quantile", "score_threshold", "mean_score", "grade_shares",
               "market_drifting", "drifting_features", "expected_churn_rate", "expected_auc", "expected_auc_low",
               "expected_auc_high", "auc", "pr_auc", "brier", "ece", "churn_rate", "mean_p", "auc_error",
               "churn_rate_error", "score_drift", "score_drift_statistical", "market_drift", "feature_drift",
               "estimated_decay", "realised_decay", "reasons", "alert", "retrain"],
    "psi": ["month", "score_psi", "score_null_quantile", "score_threshold"],
    "decay": ["month", "expected_auc", "auc", "pr_auc", "expected_churn_rate", "churn_rate", "ece"],
}
MARKET_SQL = """CREATE OR REPLACE TEMP TABLE market_asof AS
SELECT min(customer_id) AS customer_id, m AS t FROM monthly WHERE m BETWEEN {lo} AND {hi} GROUP BY m"""


def market_history(con, lo: int, hi: int) -> pd.DataFrame:
    """The market indicators at every month lo..hi, by the catalogue's own SQL (one row per month)."""
    con.execute(MARKET_SQL.format(lo=int(lo), hi=int(hi)))
    market = [i.feature for i in INDICATORS if i.group == "market"]
    return point_in_time_features(con, "market_asof")[["t", *market]].sort_values("t", ignore_index=True)


def summarise_months(scores: list[dict], stability: pd.DataFrame, performance: pd.DataFrame) -> pd.DataFrame:
    """One row per month: score PSI and threshold, drifting features, estimated and realised performance."""
    months = pd.DataFrame(scores)
    drifting = stability[stability["drifting"]]
    by_month = {
        "market_drifting": drifting[drifting["group"] == "market"].groupby("month")["feature"].agg(list),
        "drifting_features": drifting[drifting["group"] != "market"].groupby("month")["feature"].agg(list),
    }
    for column, lists in by_month.items():
        months[column] = [lists.get(m, []) for m in months["month"]]
    return months.merge(performance.drop(columns="rows"), on="month", how="left")


def score(model, rows: pd.DataFrame) -> np.ndarray:
    """The champion's churn probabilities (only its signature's columns are passed: no id reaches MLflow)."""
    return model.predict(rows[model.metadata.get_input_schema().input_names()])["p_churn"].to_numpy(float)


def grade_shares(p, grading: dict | None) -> dict[str, float]:
    """Share of rows in each risk grade of the `score` stage (its points and boundaries); {} without grades."""
    if not grading:
        return {}
    grades = assign_grades(points(p, **grading["points"]), grading["min_points"], grading["labels"])
    return {str(k): float(v) for k, v in pd.Series(grades).value_counts(normalize=True, sort=False).items()}


def load_grading() -> dict | None:
    """The score stage's grade boundaries (reports/metrics/score.json) and points scale, if it has run."""
    score_json = paths.METRICS / "score.json"
    if not score_json.exists():
        log.info("no %s: the grade distribution is not monitored", score_json)
        return None
    grades = json.loads(score_json.read_text(encoding="utf-8"))["grades"]
    return {"labels": grades["labels"], "min_points": grades["min_points"], "points": load_params("score")["points"]}


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


def write_skipped(reason: str, source: str) -> None:
    """The outputs of a skipped stage: monitor.json saying why, and every table and plot file with its header only."""
    log.warning("monitor skipped: %s", reason)
    dtypes = {"month": "datetime64[ns]", "customer_id": "object", SCORE: "float64", "label": "Int8", "complete": bool}
    write_parquet(pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in HEADERS["scores"]}), SCORES)
    write_csv(pd.DataFrame(columns=HEADERS["stability"]), MONITOR / "stability.csv")
    write_csv(pd.DataFrame(columns=HEADERS["months"]), MONITOR / "months.csv")
    write_csv(pd.DataFrame(columns=HEADERS["psi"]), paths.PLOTS / "monitor_psi.csv")
    write_csv(pd.DataFrame(columns=HEADERS["decay"]), paths.PLOTS / "monitor_decay.csv")
    write_json({"source": source, "months_monitored": 0, "skipped": {"monitor": reason}}, MONITOR_JSON)


def main() -> None:
    setup_logging()
    base, features, params = load_params("base"), load_params("features"), load_params("monitor")
    split_params, model_name = load_params("train")["split"], load_params("register")["model_name"]
    seed, horizon, started = base["seed"], base["horizon_months"], time.perf_counter()
    source = load_params("data")["source"]
    if source == "snapshot":
        write_skipped("the source has no time axis (one snapshot): there are no months after training to watch for "
                      "drift, and no later labels to measure decay by", source)
        return

    if paths.SPLIT.exists():
        split = load_split(paths.SPLIT)
    else:
        split = choose_split(pd.read_parquet(paths.SNAPSHOTS, columns=["cutoff", "labeled"]),
                             horizon_months=horizon, **split_params)
    if not isinstance(split, TimeSplit):
        write_skipped(f"{paths.SPLIT} holds a {split.as_dict()['kind']} split, not one out of time: no training "
                      "period for later months to be compared with", source)
        return
    con = connect({"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
                   "churn_events": paths.CHURN_EVENTS})
    first, last = month_range(con)
    lo, hi = month_number(split.train[0]), month_number(split.train[-1])
    months = list(range(hi + 1, last + 1, params["every_months"]))
    if not months:
        con.close()
        write_skipped(f"no month follows the last training cutoff {split.train[-1].date()}: the data end at "
                      f"{month_end(last).date()}", source)
        return
    loaded = tracking.load_champion(model_name)
    model, champion = loaded.pyfunc, {"name": model_name, "version": loaded.version, "run_id": loaded.run_id}
    grading = load_grading()
    reference = read_snapshots(paths.SNAPSHOTS, cutoffs=split.train)
    reference[SCORE] = score(model, reference)
    log.info("champion %s v%d; reference: %d rows at %d training cutoffs %s..%s", model_name, champion["version"],
             len(reference), len(split.train), split.train[0].date(), split.train[-1].date())

    groups = {i.feature: i.group for i in INDICATORS}
    numeric = [f for f in groups if f not in CATEGORICAL and f not in FLAGS and groups[f] != "market"]
    # market series: the training period, and at least the `market_reference_months` up to its end
    market_lo = max(min(lo, hi - params["market_reference_months"] + 1), first)
    ref = fit_reference(reference, groups=groups, market_history=market_history(con, market_lo, hi),
                        numeric=numeric, bins=params["bins"])
    draws = params["null_draws"]
    rng = np.random.default_rng([seed, 7])
    scores, tables, scored = [], [], []
    for t in tqdm(months, desc="monitor", unit="month"):
        current, _ = snapshot_at(con, t, last_month=last, horizon_months=horizon, **features["churn"])
        current[SCORE] = score(model, current)
        summary, table = compare_month(ref, current, alpha=params["alpha"], draws=draws, min_psi=params["min_psi"],
                                       min_csi=params["min_csi"], rng=rng)
        month = month_end(t)
        scores.append({"month": month, **summary, "grade_shares": grade_shares(current[SCORE], grading)})
        tables.append(table.assign(month=month))
        scored.append(pd.DataFrame({"month": month, "customer_id": current["customer_id"], SCORE: current[SCORE],
                                    "label": current["label"], "complete": t + horizon <= last}))
    con.close()
    stability, scored = pd.concat(tables, ignore_index=True), pd.concat(scored, ignore_index=True)
    performance = backtest(scored, draws=params["auc_draws"], ece_bins=params["ece_bins"], seed=seed)
    reference_auc = expected_auc(reference[SCORE])
    months_table = alert_states(summarise_months(scores, stability, performance), reference_auc=reference_auc,
                                max_auc_drop=params["max_auc_drop"],
                                min_drifting_features=params["min_drifting_features"])

    labelled = months_table[months_table["auc"].notna()]
    metrics = {
        "source": source, "champion": champion, "months_monitored": len(months_table),
        "reference": {"cutoffs": [str(t.date()) for t in split.train], "rows": len(reference), "horizon": horizon,
                      "grade_shares": grade_shares(reference[SCORE], grading),
                      "expected_auc": reference_auc, "mean_score": float(reference[SCORE].mean()),
                      "churn_rate": float(reference["label"].astype(float).mean())},
        "settings": {"alpha": params["alpha"], "null_draws": draws, "min_psi": params["min_psi"],
                     "min_csi": params["min_csi"],
                     "max_auc_drop": params["max_auc_drop"], "monitoring": "monthly"},
        "months": jsonable(months_table),
        "label_free": {"labelled_months": len(labelled),
                       "auc_mae": float(labelled["auc_error"].abs().mean()) if len(labelled) else None,
                       "auc_max_error": float(labelled["auc_error"].abs().max()) if len(labelled) else None,
                       "churn_rate_mae": float(labelled["churn_rate_error"].abs().mean()) if len(labelled) else None},
        "latest": {"month": str(months_table["month"].iloc[-1].date()),
                   "retrain": bool(months_table["retrain"].iloc[-1]), "reasons": months_table["reasons"].iloc[-1]},
    }
    if source != "simulator":
        metrics["skipped"] = {"simulator": "false-alarm and detection rates need the simulator's known shock months"}
    else:  # simulated data: the promotion's timing is known
        simulate = load_params("simulate")
        start = month_end(first + simulate["shock_month"])
        end = month_end(first + simulate["shock_month"] + simulate["shock_months"] - 1)
        # the recession is real drift too: its indicators' alarms are detections, not false alarms of the promotion
        promotion_view = alert_states(
            months_table.assign(market_drifting=months_table["market_drifting"].map(
                lambda names: [n for n in names if n in params["shock_indicators"]])),
            reference_auc=reference_auc, max_auc_drop=params["max_auc_drop"],
            min_drifting_features=params["min_drifting_features"])
        metrics["simulator"] = {"shock_start": str(start.date()), "shock_end": str(end.date()),
                                "shock_indicators": params["shock_indicators"],
                                **alarm_rates(promotion_view, shock_start=start, shock_end=end,
                                              horizon_months=horizon),
                                "all_market_indicators": alarm_rates(months_table, shock_start=start, shock_end=end,
                                                                     horizon_months=horizon)}
        quiet = labelled[labelled["month"] < start]
        metrics["label_free"]["auc_mae_quiet"] = float(quiet["auc_error"].abs().mean()) if len(quiet) else None
        log.info("simulator: false-alarm rate %s, detection rate %s", metrics["simulator"]["false_alarm_rate"],
                 metrics["simulator"]["detection_rate"])

    write_parquet(scored, SCORES)
    write_csv(stability, MONITOR / "stability.csv")
    table = months_table.assign(**{c: months_table[c].map("; ".join) for c in
                                   ("drifting_features", "market_drifting", "reasons")})
    write_csv(table, MONITOR / "months.csv")
    write_csv(table[["month", "score_psi", "score_null_quantile", "score_threshold"]], paths.PLOTS / "monitor_psi.csv")
    decay = ["month", "expected_auc", "auc", "pr_auc", "expected_churn_rate", "churn_rate", "ece"]
    write_csv(table[[c for c in decay if c in table]], paths.PLOTS / "monitor_decay.csv")
    write_json(metrics, MONITOR_JSON)

    mlflow = tracking.start()
    with mlflow.start_run(run_name="monitor"):
        mlflow.set_tags({**tracking.lineage_tags("monitor", [paths.SNAPSHOTS, paths.MONTHLY]), "kind": "monitor",
                         "champion_version": str(champion["version"]), "champion_run_id": champion["run_id"]})
        for row in months_table.itertuples(index=False):
            mlflow.log_metrics({"score_psi": row.score_psi, "expected_auc": row.expected_auc,
                                "alert": float(row.alert)}, step=month_number(row.month))
        mlflow.log_artifact(str(MONITOR_JSON))
    log.info("monitor done in %.0f s: %d months, %d in alert; latest retrain=%s", time.perf_counter() - started,
             len(months_table), int(months_table["alert"].sum()), metrics["latest"]["retrain"])
