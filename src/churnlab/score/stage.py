"""The `score` stage: the early-warning list for the scoring cutoff, risk grades, and recommended actions.

The champion (`models:/<register.model_name>@champion`) scores the snapshots of

- the validation cutoff(s) of models/split.json: the grade boundaries are chosen there (`grade_boundaries`,
  `churnlab.model.grades`);
- the test cutoff: the grade table (count, share, observed churn rate, lift, cumulative capture; `grade_table_on`);
- the last two cutoffs: the grade migration matrix, previous cutoff -> scoring cutoff (the last month;
  `grade_migration`); a source with one cutoff (a snapshot file) has no previous one, so the migration is skipped
  (a header-only file);
- the scoring cutoff: the early-warning list (`churnlab.score.early_warning`), one row per active customer with the
  top reasons (TreeSHAP on the XGBoost model inside the champion, in the catalogue's words, `customer_reasons`;
  directions against the medians of the validation and test cutoffs), the segment columns, CLV and expected loss
  (`value_skips`), and the recommended action (`churnlab.score.actions`). Sorted by expected loss, largest first.

Where the rows are read and scored: params.yaml `engine`. With `local` (the default), `main()` reads the four
cutoffs' snapshot rows into pandas, `churn_probability` calls the champion's ChurnModel and the reasons are TreeSHAP
in this process. With `spark`, the rows stay on Spark, read from the snapshots' file or lake folder, and the driver
reads only their keys and labels (`churnlab.score.spark_rows`): every probability of the stage (validation, test,
previous and scoring rows) comes from the registered champion version applied by Spark with
`mlflow.pyfunc.spark_udf` (`churnlab.model.spark_scoring.SparkScorer`; the same numbers to 1e-12), the scoring rows'
reasons from Spark tasks (`churnlab.model.spark_reasons`) and the medians they compare with from Spark's value counts
(`churnlab.core.spark_values`), both exactly the local ones. The rest stays in pandas on either engine: grades and
their boundaries, the migration, values, actions and the early-warning list.

Customers without a CLV from the survival stage get monthly margin x `clv_fallback_months` (logged). The
segment columns are those the segment stage could form (a snapshot file has no lifecycle stage, maybe no
value tier). Without any CLV or margin (a snapshot without balances) there is no expected loss: the list is
ranked by churn probability and no action is recommended, as its benefit cannot be weighed against its cost.
What was skipped is named with the reason under `skipped` in score.json. `run()` does all of this on frames;
`main()` reads the inputs and writes reports/early_warning.parquet and .csv, reports/grade_table.csv,
reports/grade_migration.csv and reports/metrics/score.json, and logs an MLflow run `score` (summaries only: no
ids, so the early-warning list is no artifact). With `engine.spark.lake` set, Spark writes the list into the lake
(`<lake>/early_warning/<version>/cutoff=YYYY-MM-DD/`) and reports/early_warning.parquet becomes its manifest
(`churnlab.core.lake`; read it with `read_rows`); the CSV stays a file. Run with `python -m churnlab.score`.
"""

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from churnlab.contract.migration import EXIT, migration_matrix
from churnlab.contract.source import read_source
from churnlab.core import paths, tracking
from churnlab.core.checks import check_columns
from churnlab.core.engine import engine_params, lake_of, open_engine
from churnlab.core.lake import read_rows
from churnlab.core.lake_spark import move_to_lake, spark_rows
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.core.privacy import pseudonym_key
from churnlab.model.churn import ChurnModel
from churnlab.model.grades import assign_grades, choose_boundaries, grade_table, is_monotone
from churnlab.model.grades import points as to_points
from churnlab.model.reasons import reason_labels, reasons_of, reference_values
from churnlab.model.spark_scoring import SparkScorer
from churnlab.model.split import RandomSplit, TimeSplit, load_split, read_snapshots
from churnlab.score.actions import NO_ACTION, Action, actions_without_reasons, catalogue
from churnlab.score.early_warning import build_early_warning, customer_clv
from churnlab.score.spark_rows import COLUMNS, SparkRows

log = logging.getLogger(__name__)
# metrics/score.json: what `dvc exp show` compares (the detail is in reports/metrics/score.json)
HEADLINE = {
    "customers_scored": "customers_scored",
    "mean_p_churn": "mean_p_churn",
    "grades_monotone": "grades.test_monotone",
    "net_benefit": "actions.total_expected_net_benefit",
}

VIEW = "score_snapshots"  # the cutoffs' rows read by Spark, as a temporary view
NO_MIGRATION = "one cutoff (the source has no time axis): no earlier grade to move from"


def cutoffs_to_score(cutoffs, split: TimeSplit | RandomSplit) -> list[pd.Timestamp]:
    """The cutoffs the stage reads: validation (boundaries), test (grade table) and the last two (migration and
    the scoring cutoff; only the last when there is one)."""
    return [*split.validation, split.test, *sorted(pd.Timestamp(t) for t in cutoffs)[-2:]]


def last_cutoffs(snapshots: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """The scoring cutoff (the last) and the one before it (None when there is one cutoff: no time axis)."""
    cutoffs = sorted(pd.Timestamp(t) for t in snapshots["cutoff"].unique())
    return cutoffs[-1], cutoffs[-2] if len(cutoffs) > 1 else None


def churn_probability(snapshots: pd.DataFrame, model: ChurnModel) -> np.ndarray:
    """The champion's calibrated churn probability within the horizon, one per snapshot row."""
    check_columns(snapshots, model.features, table="scoring snapshots", needed_by="the champion")
    return np.asarray(model.predict_proba(snapshots[model.features]), dtype=float)  # model columns only: no warning


def grade_boundaries(validation: pd.DataFrame, p, *, points_params: dict, shares: list[float],
                     labels: list[str]) -> tuple[list[float], list[str]]:
    """Grade boundaries in points (best grade first) chosen on the validation rows, and the grades kept."""
    thresholds, labels = choose_boundaries(to_points(p, **points_params), validation["label"].astype(int),
                                           shares=shares, labels=labels)
    log.info("grade thresholds (points, best grade first): %s -> grades %s", np.round(thresholds, 1), labels)
    return thresholds, labels


def grade_table_on(test: pd.DataFrame, p, *, thresholds: list[float], labels: list[str],
                   points_params: dict) -> pd.DataFrame:
    """The grade table of the test rows, with each grade's lowest points (`min_points`, -inf for the last)."""
    table = grade_table(assign_grades(to_points(p, **points_params), thresholds, labels), test["label"].astype(int), p)
    table.insert(1, "min_points", [*thresholds, -np.inf][: len(table)])
    log.info("grade table on the test cutoff (monotone: %s):\n%s", is_monotone(table), table.to_string(index=False))
    return table


def grade_rows(frame: pd.DataFrame, p, *, thresholds: list[float], labels: list[str], points_params: dict):
    """Points and grades of snapshot rows (customer_id, cutoff, grade)."""
    return pd.DataFrame({"customer_id": frame["customer_id"].to_numpy(), "cutoff": frame["cutoff"].to_numpy(),
                         "grade": assign_grades(to_points(p, **points_params), thresholds, labels)})


def grade_migration(previous: pd.DataFrame, p_previous, now: pd.DataFrame, p_now, *, thresholds: list[float],
                    labels: list[str], points_params: dict) -> pd.DataFrame:
    """Customers moving from each grade at the previous cutoff to each grade (or out) at the scoring cutoff."""
    grading = {"thresholds": thresholds, "labels": labels, "points_params": points_params}
    before, after = grade_rows(previous, p_previous, **grading), grade_rows(now, p_now, **grading)
    return migration_matrix(pd.concat([before, after]), state="grade")


def no_migration(labels: list[str]) -> pd.DataFrame:
    """The header-only migration table of a source with one cutoff."""
    return pd.DataFrame(columns=["grade_from", "customers", *labels, EXIT])


def scoring_rows(snapshots: pd.DataFrame, scoring_cutoff: pd.Timestamp, *, one_cutoff: bool) -> pd.DataFrame:
    """The rows at the scoring cutoff to warn about; with one cutoff (a snapshot file) its churners have already
    left, so they are not on the list."""
    scoring = snapshots[snapshots["cutoff"] == scoring_cutoff]
    if not one_cutoff:
        return scoring
    kept = scoring[scoring["label"].ne(1).fillna(True).to_numpy()]
    log.info("one cutoff: the %d customers who already churned are not on the early-warning list",
             len(scoring) - len(kept))
    return kept


def customer_reasons(scoring: pd.DataFrame, reference_rows: list[pd.DataFrame], indicators: pd.DataFrame,
                     model: ChurnModel, *, top: int, explain: Callable = reasons_of,
                     medians: Callable = reference_values) -> pd.DataFrame:
    """The `top` reasons of each scoring row, in the indicator catalogue's words; a direction is up or down
    against the `medians` of the `reference_rows` frames together (`churnlab.model.reasons`). `explain` computes
    the reasons: `reasons_of` here, or `SparkRows.explain` in Spark tasks (the same answers), as `medians` is
    `reference_values` or `SparkRows.medians`."""
    reference = medians(pd.concat(reference_rows), model.features)  # their copy is freed before TreeSHAP
    return explain(model, scoring, labels=reason_labels(indicators), reference=reference, top=top)


def value_skips(segments: pd.DataFrame, *, clv_fallback_months: float) -> tuple[int, dict[str, str]]:
    """How many customers fall back from CLV to monthly margin x `clv_fallback_months`, and the parts skipped
    when no customer has a value at all (expected loss and actions)."""
    values, fallback = customer_clv(segments, fallback_months=clv_fallback_months)
    if fallback:
        log.warning("%d customers have no CLV from the survival stage: using monthly margin x %s months", fallback,
                    clv_fallback_months)
    if not values.isna().all():
        return fallback, {}
    return fallback, {
        "expected_loss": "no customer has a CLV or a monthly margin (segments.parquet): no expected loss, the list "
                         "is ranked by churn probability",
        "actions": "no customer value: an action's benefit (p x CLV x response) cannot be weighed against its cost, "
                   "so none is recommended",
    }


def action_catalogue(actions: dict, features: list[str]) -> tuple[list[Action], list[str]]:
    """The catalogue of params `score.actions`, and the actions whose reasons name no feature of the champion."""
    entries = catalogue(actions)
    blind = actions_without_reasons(entries, features)
    if blind:
        log.warning("actions whose reasons name no feature of the champion (they match no customer's reasons): %s",
                    blind)
    return entries, blind


def score_metrics(warning: pd.DataFrame, table: pd.DataFrame, *, champion_version: int, scoring_cutoff: pd.Timestamp,
                  test_cutoff: pd.Timestamp, thresholds: list[float], labels: list[str], clv_fallback: int,
                  blind: list[str], skipped: dict[str, str]) -> dict:
    """score.json (without `skipped`, which write_result adds): the list, the grades, the actions."""
    return {
        "champion_version": champion_version, "scoring_cutoff": str(scoring_cutoff.date()),
        "test_cutoff": str(test_cutoff.date()),
        "customers_scored": len(warning), "mean_p_churn": float(warning["p_churn"].mean()),
        "expected_loss_total": None if "expected_loss" in skipped else float(warning["expected_loss"].sum()),
        "clv_fallback_customers": clv_fallback,
        "grades": {"labels": labels, "min_points": [float(t) for t in thresholds], "test_monotone": is_monotone(table),
                   "test_churn_rate": dict(zip(table["grade"].astype(str), table["churn_rate"].astype(float),
                                               strict=True)),
                   "share_now": warning["grade"].value_counts(normalize=True).reindex(labels).fillna(0).to_dict()},
        "actions": {"counts": warning["action"].value_counts().to_dict(),
                    "customers_contacted": int((warning["action"] != NO_ACTION).sum()),
                    "total_cost": float(warning["action_cost"].sum()),
                    "total_expected_benefit": float(warning["expected_benefit"].sum()),
                    "total_expected_net_benefit": float(warning["expected_net_benefit"].sum()),
                    "without_reason_features": blind},
    }


def run(snapshots: pd.DataFrame, segments: pd.DataFrame, indicators: pd.DataFrame, model: ChurnModel, *,
        split: TimeSplit | RandomSplit, champion_version: int, key: bytes, points: dict, grades: dict,
        reasons: dict, actions: dict, clv_fallback_months: float, language: str = "en",
        probability: Callable[[pd.DataFrame], np.ndarray] | None = None, explain: Callable = reasons_of,
        medians: Callable = reference_values) -> StageResult:
    """Grades, migration and the early-warning list of the snapshot rows at the `cutoffs_to_score` (see the
    module docstring). `segments` are the segment rows at the scoring cutoff, `indicators` the catalogue (for the
    reasons' words), `model` the champion's ChurnModel; `key` pseudonymises the ids. The keywords after `key` are
    params.yaml `score`, and `language` the report language (params report.language) of the list's text columns.
    `probability` gives the churn probability of each row of a snapshot frame, in its order: None is
    `churn_probability` with `model` (pandas). `explain` and `medians` compute the reasons and the medians they
    compare with (`customer_reasons`). The Spark engine passes `SparkRows`' three methods, and `snapshots` holds only
    the rows' keys and labels there (`score.spark_rows`)."""
    if probability is None:
        def probability(rows: pd.DataFrame) -> np.ndarray:
            return churn_probability(rows, model)
    scoring_cutoff, previous_cutoff = last_cutoffs(snapshots)
    parts = split.parts(snapshots)
    validation, test = parts["validation"], parts["test"]
    thresholds, labels = grade_boundaries(validation, probability(validation), points_params=points,
                                          **grades)
    grading = {"thresholds": thresholds, "labels": labels, "points_params": points}
    table = grade_table_on(test, probability(test), **grading)
    scoring = scoring_rows(snapshots, scoring_cutoff, one_cutoff=previous_cutoff is None)
    p_now = probability(scoring)
    skipped: dict[str, str] = {}
    if previous_cutoff is None:
        skipped["grade_migration"], migration = NO_MIGRATION, no_migration(labels)
    else:
        previous = snapshots[snapshots["cutoff"] == previous_cutoff]
        migration = grade_migration(previous, probability(previous), scoring, p_now, **grading)
    why = customer_reasons(scoring, [validation, test], indicators, model, top=reasons["top"], explain=explain,
                           medians=medians)
    clv_fallback, value_skipped = value_skips(segments, clv_fallback_months=clv_fallback_months)
    skipped |= value_skipped
    entries, blind = action_catalogue(actions, model.features)
    warning = build_early_warning(scoring, p_now, why, segments, thresholds=thresholds, grade_labels=labels,
                                  points_params=points, actions=entries, clv_fallback_months=clv_fallback_months,
                                  key=key, language=language)
    metrics = score_metrics(warning, table, champion_version=champion_version, scoring_cutoff=scoring_cutoff,
                            test_cutoff=split.test, thresholds=thresholds, labels=labels, clv_fallback=clv_fallback,
                            blind=blind, skipped=skipped)
    return StageResult(metrics, tables={paths.EARLY_WARNING: warning, paths.EARLY_WARNING.with_suffix(".csv"): warning,
                                        paths.GRADE_TABLE: table, paths.GRADE_MIGRATION: migration}, skipped=skipped)


def synthetic_seed() -> int | None:
    """base.seed when the data are simulated (their ids are made up: a seed-derived key makes the list reproducible
    on every machine), else None (a bank's data: the secret key)."""
    return load_params("base")["seed"] if read_source().synthetic else None


def main() -> None:
    setup_logging()
    params, model_name = load_params("score"), load_params("register")["model_name"]
    language = load_params("report")["language"]
    champion = tracking.load_champion(model_name)
    split = load_split(paths.SPLIT)
    cutoffs = read_snapshots(paths.SNAPSHOTS, columns=["cutoff"])["cutoff"].unique()
    wanted = cutoffs_to_score(cutoffs, split)
    scoring_cutoff = pd.Timestamp(max(cutoffs))
    segments = read_rows(paths.SEGMENTS, cutoffs=[scoring_cutoff])
    log.info("champion %s v%d; split %s; scoring cutoff %s", model_name, champion.version, split.as_dict(),
             scoring_cutoff.date())
    engine = engine_params()
    sql = open_engine(engine) if engine["name"] == "spark" else None  # the local engine scores in pandas: no DuckDB
    try:
        snapshots = read_snapshots(paths.SNAPSHOTS, cutoffs=wanted, columns=COLUMNS if sql else None)
        on_spark = {}
        if sql:  # the rows stay on Spark; the driver reads their keys and labels (score.spark_rows)
            rows = SparkRows(spark_rows(sql, paths.SNAPSHOTS, cutoffs=wanted, view=VIEW), snapshots,
                             SparkScorer(sql.spark, champion.version_uri))
            on_spark = {"probability": rows.probability, "explain": rows.explain, "medians": rows.medians}
        result = run(snapshots, segments, pd.read_csv(paths.INDICATORS), champion.model, split=split,
                     champion_version=champion.version, key=pseudonym_key(synthetic_seed=synthetic_seed()),
                     language=language, **on_spark, **params)
        if lake := lake_of(engine):  # the list into the lake, its manifest at reports/early_warning.parquet
            move_to_lake(result, sql.spark, lake=lake, partitions={paths.EARLY_WARNING: "cutoff"})
    finally:
        if sql:
            sql.close()
    write_result("score", result, headline=HEADLINE,
                 params={"score": params, "register": {"model_name": model_name}, "report": {"language": language},
                         "engine": engine},
                 inputs=[paths.SNAPSHOTS, paths.SEGMENTS, paths.INDICATORS, paths.SPLIT],
                 tags={"champion": f"{model_name}/{champion.version}", "champion_version": str(champion.version),
                       "champion_run_id": champion.run_id, "grades": ",".join(result.metrics["grades"]["labels"])},
                 artifacts=[paths.GRADE_TABLE, paths.GRADE_MIGRATION])  # summaries only: the list holds ids
    actions = result.metrics["actions"]
    log.info("wrote %s: %d customers, %d actions, expected net benefit EUR %.0f", paths.EARLY_WARNING,
             result.metrics["customers_scored"], actions["customers_contacted"], actions["total_expected_net_benefit"])
