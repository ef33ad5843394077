"""Reason codes: the indicators that push a customer's churn risk up most, in words a banker reads.

Contributions are TreeSHAP values (Lundberg et al. 2020) of the XGBoost model inside the champion, computed by
XGBoost itself (`pred_contribs=True`, the same algorithm as `shap.TreeExplainer`, exact for trees), in log-odds
of the uncalibrated booster. The calibration on top is monotone, so it changes neither the sign nor the order of
the contributions. A reason is a feature with a positive contribution (it raises the churn risk); a customer
has the `top` largest, fewer when fewer are positive.

Each reason reads "<plain meaning>: <direction>", the meaning taken from the indicator catalogue
(reports/indicators.csv) with its window notation put in words ("over t-2..t" -> "over the last 3 months"; a
meaning several features share, such as a snapshot file's "column of the snapshot file", names none of them, so
those read as the column name in words: "credit score"), and
the direction of the customer's value against a reference (the median over a reference set of snapshots, e.g.
the validation and test cutoffs, so market indicators, equal for everyone at one cutoff, compare with their past):
"up" or "down" (or "typical" when equal) for numbers, "yes"/"no" for flags, the level for categories, and
"missing" when the value is missing (e.g. income not declared).
"""

import re

import numpy as np
import pandas as pd
import xgboost as xgb

from churnlab.model.churn import ChurnModel

WINDOWS = (  # catalogue notation -> words; applied in order
    (re.compile(r"over t-(\d+)\.\.t-1\b"), lambda m: f"over the previous {int(m[1])} months"),
    (re.compile(r"over t-(\d+)\.\.t-(\d+)\b"), lambda m: f"over {int(m[2])} to {int(m[1])} months ago"),
    (re.compile(r"over t-(\d+)\.\.t\b(?!-)"), lambda m: f"over the last {int(m[1]) + 1} months"),
    (re.compile(r"\bat t-(\d+)\b"), lambda m: f"{int(m[1])} months ago"),
    (re.compile(r"\b(in month t|in t)\b"), lambda m: "this month"),
    (re.compile(r"\b(at the end of t|at t)\b"), lambda m: "now"),
)
DIRECTIONS = np.array(["missing", "up", "down", "typical"], dtype=object)  # `directions` picks by index


def plain_meaning(meaning: str) -> str:
    """The catalogue meaning in words: the first clause, without a closing aside in brackets or a list of levels
    after a colon, and with the window notation spelled out."""
    text = re.sub(r"\s*\([^)]*\)\s*$", "", str(meaning).split(";")[0]).split(":")[0].strip()
    for pattern, words in WINDOWS:
        text = pattern.sub(words, text)
    return text


def reason_labels(indicators: pd.DataFrame) -> dict[str, str]:
    """feature -> plain meaning, from the catalogue table (columns feature and meaning)."""
    missing = [c for c in ("feature", "meaning") if c not in indicators.columns]
    if missing:
        raise KeyError(f"indicator catalogue lacks column(s) {missing}")
    meanings = {row.feature: plain_meaning(row.meaning) for row in indicators.itertuples()}
    shared = {m for m in meanings.values() if list(meanings.values()).count(m) > 1}
    return {f: f.replace("_", " ") if m in shared or not m else m for f, m in meanings.items()}


def contributions(model: ChurnModel, frame: pd.DataFrame, *, threads: int | None = None) -> pd.DataFrame:
    """TreeSHAP contribution (log-odds) of each feature for each row of `frame`, plus `bias` (the base value).

    The contributions of a row sum to the booster's log-odds for it, and depend on that row alone, so any split of
    the rows into batches gives the same values. `threads`: XGBoost's threads (None: the model's own setting; a Spark
    task passes 1, one task per core).
    """
    booster, encoded = model.booster_and_matrix(frame)
    raw = booster.get_booster()
    if threads is not None:
        raw.set_param({"nthread": threads})
    try:
        rounds = (0, int(booster.best_iteration) + 1)  # early-stopped: score with the best round, as predict does
    except AttributeError:
        rounds = (0, 0)
    matrix = xgb.DMatrix(encoded.to_numpy(dtype=float), missing=np.nan, feature_names=raw.feature_names,
                         nthread=threads)
    values = raw.predict(matrix, pred_contribs=True, iteration_range=rounds)
    return pd.DataFrame(values, columns=[*encoded.columns, "bias"], index=frame.index)


def reference_values(snapshots: pd.DataFrame, features: list[str]) -> pd.Series:
    """Median of each numeric feature over `snapshots` (the population the directions are judged against)."""
    numeric = [f for f in features if pd.api.types.is_numeric_dtype(snapshots[f])
               and not pd.api.types.is_bool_dtype(snapshots[f])]
    return snapshots[numeric].median()


def direction(value, reference: float | None) -> str:
    """How a value reads against the reference: up/down/typical, yes/no, the level, or missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "missing"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, str) or reference is None or pd.isna(reference):
        return str(value)
    return "up" if value > reference else "down" if value < reference else "typical"


def directions(values: pd.Series, reference: float | None) -> np.ndarray:
    """`direction` of each value of one feature, as an object array of str. Numbers against a known reference are
    compared in numpy (the same answers, without a Python call per customer); anything else goes value by value."""
    if (reference is None or pd.isna(reference) or not pd.api.types.is_numeric_dtype(values)
            or pd.api.types.is_bool_dtype(values)):
        return np.array([direction(v, reference) for v in values.astype("object")], dtype=object)
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    return DIRECTIONS[np.select([np.isnan(numbers), numbers > reference, numbers < reference], [0, 1, 2], 3)]


def top_reasons(shap: pd.DataFrame, frame: pd.DataFrame, *, labels: dict[str, str], reference: pd.Series,
                top: int = 3) -> pd.DataFrame:
    """Per row: reason_k (text), reason_k_feature, reason_k_direction and reason_k_shap for k = 1..top.

    Only features with a positive contribution are reasons; missing ranks stay missing (NA).
    """
    values = shap.drop(columns="bias", errors="ignore")
    names = np.asarray(values.columns, dtype=object)
    matrix = values.to_numpy(dtype=float)
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :top]
    out = {}
    for k in range(order.shape[1]):
        columns = order[:, k]
        strength = matrix[np.arange(len(matrix)), columns]
        positive = strength > 0
        features = np.where(positive, names[columns], None)
        ways = np.full(len(features), None, dtype=object)
        for column in np.unique(columns[positive]):  # one feature at a time: its rows in one go
            rows = np.flatnonzero(positive & (columns == column))
            ways[rows] = directions(frame[names[column]].iloc[rows], reference.get(names[column]))
        text = [f"{labels.get(f, f)}: {w}" if f is not None else None for f, w in zip(features, ways, strict=True)]
        out |= {f"reason_{k + 1}": text, f"reason_{k + 1}_feature": features,
                f"reason_{k + 1}_direction": ways, f"reason_{k + 1}_shap": np.where(positive, strength, np.nan)}
    return pd.DataFrame(out, index=shap.index)


def reasons_of(model: ChurnModel, frame: pd.DataFrame, *, labels: dict[str, str], reference: pd.Series,
               top: int = 3, threads: int | None = None) -> pd.DataFrame:
    """The `top_reasons` of each row of `frame` from its TreeSHAP `contributions` (the early-warning list's reasons;
    `churnlab.model.spark_reasons` runs this in Spark tasks)."""
    return top_reasons(contributions(model, frame, threads=threads), frame, labels=labels, reference=reference,
                       top=top)
