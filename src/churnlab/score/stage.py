"""The `score` stage: the early-warning list for the scoring cutoff, risk grades, and recommended actions.

The champion (`models:/<register.model_name>@champion`) scores the snapshots of

- the validation cutoff(s) of models/split.json: the grade boundaries are chosen there (`churnlab.model.grades`);
- the test cutoff: the grade table (count, share, observed churn rate, lift, cumulative capture);
- the last two cutoffs: the grade migration matrix, previous cutoff -> scoring cutoff (the last month); a source
  with one cutoff (a snapshot file) has no previous one, so the migration is skipped (a header-only file);
- the scoring cutoff: the early-warning list, one row per active customer: pseudonymous id (never the raw one),
  churn probability within the horizon, points and grade, the top reasons (TreeSHAP on the XGBoost model inside
  the champion, in the catalogue's words, `churnlab.model.reasons`; directions against the medians of the validation and
  test cutoffs), segment, behaviour cluster, lifecycle stage, value
  tier and CLV (data/processed/segments.parquet), expected loss = probability x CLV, and the recommended action
  with its expected net benefit (`churnlab.score.actions`). Sorted by expected loss, largest first.

Customers without a CLV from the survival stage get monthly margin x `clv_fallback_months` (logged). The
segment columns are those the segment stage could form (a snapshot file has no lifecycle stage, maybe no
value tier). Without any CLV or margin (a snapshot without balances) there is no expected loss: the list is
ranked by churn probability and no action is recommended, as its benefit cannot be weighed against its cost.
What was skipped is named with the reason under `skipped` in score.json. Writes
reports/early_warning.parquet and .csv, reports/grade_table.csv, reports/grade_migration.csv and
reports/metrics/score.json, and logs an MLflow run `score` (summaries only: no ids). Run with
`python -m churnlab.score`.
"""

import logging

import numpy as np
import pandas as pd

from churnlab.contract.migration import EXIT, migration_matrix
from churnlab.core import paths, tracking
from churnlab.core.checks import check_columns
from churnlab.core.io import write_csv, write_json, write_parquet
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.core.privacy import pseudonym_key, pseudonymise
from churnlab.model.grades import assign_grades, choose_boundaries, grade_table, is_monotone, points
from churnlab.model.reasons import contributions, reason_labels, reference_values, top_reasons
from churnlab.model.split import load_split, read_snapshots
from churnlab.score.actions import NO_ACTION, actions_without_reasons, catalogue, recommend

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = ["customer_id", "age_band", "income_band", "segment", "region", "behaviour_cluster",
                   "cluster_name", "lifecycle_stage", "value_tier", "clv", "monthly_margin"]


def customer_clv(segments: pd.DataFrame, *, fallback_months: float) -> tuple[pd.Series, int]:
    """The CLV of each row, and how many rows fell back to monthly margin x `fallback_months` (no CLV; NaN where
    the margin is unknown too). Absent clv or monthly_margin columns count as unknown."""
    clv = segments.get("clv", pd.Series(np.nan, index=segments.index)).astype(float)
    margin = segments.get("monthly_margin", pd.Series(np.nan, index=segments.index)).astype(float)
    fallback = clv.isna() & margin.notna()
    return clv.fillna(margin * fallback_months), int(fallback.sum())


def build_early_warning(scoring: pd.DataFrame, p, reasons: pd.DataFrame, segments: pd.DataFrame, *,
                        thresholds: list[float], grade_labels: list[str], points_params: dict, actions: list,
                        clv_fallback_months: float, key: bytes) -> pd.DataFrame:
    """The early-warning list of the scoring snapshot rows `scoring` (with churn probabilities `p` and the
    output of `reasons.top_reasons`), joined to their `segments` row; see the module docstring."""
    check_columns(scoring, ["customer_id", "cutoff"], table="scoring snapshots")
    check_columns(segments, ["customer_id"], table="segments")
    rows = scoring[["customer_id", "cutoff"]].reset_index(drop=True)
    carried = [c for c in SEGMENT_COLUMNS[1:-2] if c in segments]
    found = rows[["customer_id"]].merge(segments[[c for c in SEGMENT_COLUMNS if c in segments]], on="customer_id",
                                        how="left", validate="1:1", indicator=True)
    if (found["_merge"] != "both").any():
        raise KeyError(f"segments has no row for {int((found['_merge'] != 'both').sum())} scored customer(s) at "
                       f"the scoring cutoff: rerun the segment stage")
    clv, _ = customer_clv(found, fallback_months=clv_fallback_months)
    score = points(p, **points_params)
    warning = pd.DataFrame({
        "customer_pseudonym": pseudonymise(rows["customer_id"], key=key), "cutoff": rows["cutoff"],
        "p_churn": np.asarray(p, float), "points": score,
        "grade": assign_grades(score, thresholds, grade_labels),
    })
    warning = pd.concat([warning, reasons.reset_index(drop=True), found[carried].reset_index(drop=True)], axis=1)
    warning["clv"] = clv.to_numpy()
    warning["expected_loss"] = warning["p_churn"] * warning["clv"]
    action = recommend(warning["p_churn"], warning["clv"], reasons.reset_index(drop=True),
                       warning.get("segment"), actions)
    # without a value the expected loss is unknown: those rows follow, by churn probability
    warning = pd.concat([warning, action], axis=1).sort_values(["expected_loss", "p_churn"], ascending=False,
                                                               kind="stable", na_position="last")
    warning.insert(0, "rank", np.arange(1, len(warning) + 1))
    return warning.reset_index(drop=True)


def grade_rows(frame: pd.DataFrame, p, *, thresholds: list[float], labels: list[str], points_params: dict):
    """Points and grades of snapshot rows (customer_id, cutoff, grade)."""
    return pd.DataFrame({"customer_id": frame["customer_id"].to_numpy(), "cutoff": frame["cutoff"].to_numpy(),
                         "grade": assign_grades(points(p, **points_params), thresholds, labels)})


def main() -> None:
    from churnlab.model.serving import flatten  # imports mlflow: only the stage needs it

    setup_logging()
    params, model_name = load_params("score"), load_params("register")["model_name"]
    mlflow = tracking.start()
    champion = tracking.load_champion(model_name)
    pyfunc, model, version = champion.pyfunc, champion.model, champion.version
    split = load_split(paths.SPLIT)
    cutoffs = sorted(pd.read_parquet(paths.SNAPSHOTS, columns=["cutoff"])["cutoff"].unique())
    scoring_cutoff = pd.Timestamp(cutoffs[-1])
    previous_cutoff = pd.Timestamp(cutoffs[-2]) if len(cutoffs) > 1 else None
    log.info("champion %s v%d; split %s; migration %s -> scoring %s", model_name, version, split.as_dict(),
             previous_cutoff.date() if previous_cutoff else "none (one cutoff: no time axis)", scoring_cutoff.date())
    rows = read_snapshots(paths.SNAPSHOTS, cutoffs=[*split.validation, split.test, previous_cutoff or scoring_cutoff,
                                                    scoring_cutoff])
    parts = split.parts(rows)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        check_columns(frame, model.features, table="scoring snapshots", needed_by="the champion")
        return pyfunc.predict(frame[model.features])["p_churn"].to_numpy(float)  # model columns only: no warning

    points_params, grades = params["points"], params["grades"]
    validation = parts["validation"]
    thresholds, labels = choose_boundaries(points(predict(validation), **points_params),
                                           validation["label"].astype(int), **grades)
    log.info("grade thresholds (points, best grade first): %s -> grades %s", np.round(thresholds, 1), labels)
    test = parts["test"]
    p_test = predict(test)
    table = grade_table(assign_grades(points(p_test, **points_params), thresholds, labels),
                        test["label"].astype(int), p_test)
    table.insert(1, "min_points", [*thresholds, -np.inf][: len(table)])
    monotone = is_monotone(table)
    log.info("grade table on the test cutoff %s (monotone: %s):\n%s", split.test.date(), monotone,
             table.to_string(index=False))

    scoring = rows[rows["cutoff"] == scoring_cutoff]
    if previous_cutoff is None:  # one cutoff (a snapshot file): its churners have already left, so nobody to warn
        scoring = scoring[scoring["label"].ne(1).fillna(True).to_numpy()]
        log.info("one cutoff: the %d customers who already churned are not on the early-warning list",
                 int((rows["cutoff"] == scoring_cutoff).sum() - len(scoring)))
    p_now = predict(scoring)
    skipped: dict[str, str] = {}
    if previous_cutoff is None:
        skipped["grade_migration"] = "one cutoff (the source has no time axis): no earlier grade to move from"
        migration = pd.DataFrame(columns=["grade_from", "customers", *labels, EXIT])
    else:
        now = grade_rows(scoring, p_now, thresholds=thresholds, labels=labels, points_params=points_params)
        previous = rows[rows["cutoff"] == previous_cutoff]
        before = grade_rows(previous, predict(previous), thresholds=thresholds, labels=labels,
                            points_params=points_params)
        migration = migration_matrix(pd.concat([before, now]), state="grade")

    indicators = pd.read_csv(paths.INDICATORS)
    reference = reference_values(pd.concat([validation, test]), model.features)
    reasons = top_reasons(contributions(model, scoring), scoring, labels=reason_labels(indicators),
                          reference=reference, top=params["reasons"]["top"])
    segments = pd.read_parquet(paths.SEGMENTS, filters=[("cutoff", "==", scoring_cutoff)])
    values, fallback = customer_clv(segments, fallback_months=params["clv_fallback_months"])
    if fallback:
        log.warning("%d customers have no CLV from the survival stage: using monthly margin x %s months", fallback,
                    params["clv_fallback_months"])
    if values.isna().all():
        skipped["expected_loss"] = ("no customer has a CLV or a monthly margin (segments.parquet): no expected loss, "
                                    "the list is ranked by churn probability")
        skipped["actions"] = "no customer value: an action's benefit (p x CLV x response) cannot be weighed against " \
                             "its cost, so none is recommended"
    actions = catalogue(params["actions"])
    blind = actions_without_reasons(actions, model.features)
    if blind:
        log.warning("actions whose reasons name no feature of the champion (they match no customer's reasons): %s",
                    blind)
    warning = build_early_warning(scoring, p_now, reasons, segments, thresholds=thresholds, grade_labels=labels,
                                  points_params=points_params, actions=actions,
                                  clv_fallback_months=params["clv_fallback_months"], key=pseudonym_key())
    for part, reason in skipped.items():
        log.warning("score: %s skipped: %s", part, reason)

    write_parquet(warning, paths.EARLY_WARNING)
    write_csv(warning, paths.EARLY_WARNING.with_suffix(".csv"))
    write_csv(table, paths.GRADE_TABLE)
    write_csv(migration, paths.GRADE_MIGRATION)
    acting = warning["action"] != NO_ACTION
    metrics = {
        "champion_version": version, "scoring_cutoff": str(scoring_cutoff.date()),
        "test_cutoff": str(split.test.date()),
        "customers_scored": len(warning), "mean_p_churn": float(warning["p_churn"].mean()),
        "expected_loss_total": None if "expected_loss" in skipped else float(warning["expected_loss"].sum()),
        "clv_fallback_customers": fallback,
        "grades": {"labels": labels, "min_points": [float(t) for t in thresholds], "test_monotone": monotone,
                   "test_churn_rate": dict(zip(table["grade"].astype(str), table["churn_rate"].astype(float),
                                               strict=True)),
                   "share_now": warning["grade"].value_counts(normalize=True).reindex(labels).fillna(0).to_dict()},
        "actions": {"counts": warning["action"].value_counts().to_dict(), "customers_contacted": int(acting.sum()),
                    "total_cost": float(warning["action_cost"].sum()),
                    "total_expected_benefit": float(warning["expected_benefit"].sum()),
                    "total_expected_net_benefit": float(warning["expected_net_benefit"].sum()),
                    "without_reason_features": blind},
    }
    if skipped:
        metrics["skipped"] = skipped
    write_json(metrics, paths.METRICS / "score.json")

    with mlflow.start_run(run_name="score"):
        mlflow.set_tags({**tracking.lineage_tags("score", [paths.SNAPSHOTS, paths.SEGMENTS, paths.INDICATORS]),
                         "kind": "score", "champion": f"{model_name}/{version}",
                         **{f"skipped.{part}": reason[:250] for part, reason in skipped.items()}})
        mlflow.log_params({"champion_version": version, **flatten(params, "score.")})
        mlflow.log_metrics({"customers_scored": len(warning), "mean_p_churn": metrics["mean_p_churn"],
                            "test_monotone": float(monotone), "grades": len(labels),
                            **{f"actions.{k}": v for k, v in metrics["actions"].items()
                               if k not in ("counts", "without_reason_features")},
                            **{f"test_churn_rate.{g}": v for g, v in metrics["grades"]["test_churn_rate"].items()}})
        for path in (paths.GRADE_TABLE, paths.GRADE_MIGRATION):
            mlflow.log_artifact(str(path))
        mlflow.log_dict(metrics, "score.json")
    log.info("wrote %s: %d customers, %d actions, expected net benefit EUR %.0f", paths.EARLY_WARNING, len(warning),
             int(acting.sum()), metrics["actions"]["total_expected_net_benefit"])
