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
from churnlab.core.words import cluster_name, glossary, reason_text, term
from churnlab.model.grades import assign_grades, points
from churnlab.score.actions import Action, recommend

# code column -> the words.yaml section of its words: each gets a `<code>_text` column beside it in the language
CODE_WORDS = {"grade": "grades", "segment": "segments", "value_tier": "value_tiers", "lifecycle_stage": "lifecycle",
              "action": "actions", "action_channel": "channels", "action_basis": "action_basis"}
SEGMENT_COLUMNS = ["customer_id", "age_band", "income_band", "segment", "region", "behaviour_cluster",
                   "cluster_name", "lifecycle_stage", "value_tier", "clv", "monthly_margin"]


def customer_clv(segments: pd.DataFrame, *, fallback_months: float) -> tuple[pd.Series, int]:
    """The CLV of each row, and how many rows fell back to monthly margin x `fallback_months` (no CLV; NaN where
    the margin is unknown too). Absent clv or monthly_margin columns count as unknown."""
    clv = segments.get("clv", pd.Series(np.nan, index=segments.index)).astype(float)
    margin = segments.get("monthly_margin", pd.Series(np.nan, index=segments.index)).astype(float)
    fallback = clv.isna() & margin.notna()
    return clv.fillna(margin * fallback_months), int(fallback.sum())


def _code_text(codes: pd.Series, section: str, language: str) -> pd.Series:
    """The words of each code (a code words.yaml does not know, e.g. a snapshot file's own segment, stays itself)."""
    known = glossary()[section]
    return codes.map(lambda c: term(section, c, language) if str(c) in known else c, na_action="ignore")


def in_words(warning: pd.DataFrame, language: str) -> pd.DataFrame:
    """The list's text for readers in `language` (en | zh | both); machine columns and codes stay as they are.

    Beside each code column of `CODE_WORDS` present, a `<code>_text` column holds its words; `cluster_name` and the
    reasons follow the language (English keeps the reasons' catalogue wording, "Deposit balance now / its mean
    over the previous 3 months: down"; Chinese reads the indicator's Chinese name, "近3个月存款余额趋势：下降").
    """
    out = warning.copy()
    for code, section in CODE_WORDS.items():
        if code in out:
            out.insert(out.columns.get_loc(code) + 1, f"{code}_text", _code_text(out[code], section, language))
    if "cluster_name" in out:
        out["cluster_name"] = out["cluster_name"].map(lambda n: cluster_name(n, language), na_action="ignore")
    if language != "en":
        k = 1
        while f"reason_{k}_feature" in out:
            features, ways = out[f"reason_{k}_feature"], out[f"reason_{k}_direction"]
            out[f"reason_{k}"] = [reason_text(f, w, language) if isinstance(f, str) else None
                                  for f, w in zip(features, ways, strict=True)]
            k += 1
    return out


def build_early_warning(scoring: pd.DataFrame, p, reasons: pd.DataFrame, segments: pd.DataFrame, *,
                        thresholds: list[float], grade_labels: list[str], points_params: dict, actions: list[Action],
                        clv_fallback_months: float, key: bytes, language: str = "en") -> pd.DataFrame:
    """The early-warning list of the scoring snapshot rows `scoring` (with churn probabilities `p` and the
    output of `reasons.top_reasons`), joined to their `segments` row, its text in `language` (`in_words`); see the
    module docstring."""
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
    return in_words(warning.reset_index(drop=True), language)
