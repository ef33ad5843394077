"""The early-warning list: one row per scored customer, pseudonymous, ranked by expected loss.

Each row holds the pseudonymous id (never the raw one), the churn probability within the horizon, points and
grade, the top reasons, the segment columns the segment stage could form, the CLV, expected loss = p x CLV, and the
recommended action with its expected net benefit (`churnlab.score.actions`). Customers without a CLV from the
survival stage are valued at monthly margin x `clv_fallback_months`; without either, the expected loss is unknown
and those rows follow, by churn probability.
"""

import numpy as np
import pandas as pd

from churnlab.core.checks import check_columns
from churnlab.core.privacy import pseudonymise
from churnlab.model.grades import assign_grades, points
from churnlab.score.actions import Action, recommend

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
                        thresholds: list[float], grade_labels: list[str], points_params: dict, actions: list[Action],
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
