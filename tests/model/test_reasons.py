"""Reason codes: TreeSHAP adds up to the model's log-odds, and raising an indicator raises its reason."""

import numpy as np
import pandas as pd
import pytest
from snapshot_frames import churn_model, indicators, snapshots

from churnlab.core.checks import ColumnError
from churnlab.model.reasons import (
    contributions,
    direction,
    directions,
    plain_meaning,
    reason_labels,
    reference_values,
    top_reasons,
)


@pytest.fixture(scope="module")
def fitted():
    rows = snapshots(600)
    labelled = rows[rows["labeled"]]
    cutoffs = sorted(labelled["cutoff"].unique())
    train, validation = labelled[labelled["cutoff"] < cutoffs[-1]], labelled[labelled["cutoff"] == cutoffs[-1]]
    return rows, churn_model(train), churn_model(train, calibrate_on=validation)


@pytest.mark.parametrize(("meaning", "plain"), [
    ("Formal complaints over t-2..t", "Formal complaints over the last 3 months"),
    ("Deposit balance at t / its mean over t-3..t-1", "Deposit balance now / its mean over the previous 3 months"),
    ("Competitor spread at t minus at t-3", "Competitor spread now minus 3 months ago"),
    ("Mean monthly transactions over t-2..t / over t-5..t-3",
     "Mean monthly transactions over the last 3 months / over 3 to 5 months ago"),
    ("Declared net monthly income; missing when not declared", "Declared net monthly income"),
    ("Months as a customer at the end of t (the opening month counts as 1)", "Months as a customer now"),
    ("Customer-initiated transactions in month t", "Customer-initiated transactions this month"),
    ("Logins / (logins + branch visits) over t-2..t; missing without either",
     "Logins / (logins + branch visits) over the last 3 months"),
    ("Age band: <25, 25-34, 35-44, 45-54, 55-64, 65+", "Age band"),
])
def test_catalogue_meanings_in_words(meaning, plain):
    assert plain_meaning(meaning) == plain


def test_contributions_add_up_to_the_log_odds(fitted):
    rows, model, _ = fitted
    frame = rows.head(50)
    shap = contributions(model, frame)
    booster, encoded = model.booster_and_matrix(frame)
    margin = booster.predict(encoded.to_numpy(float), output_margin=True)
    np.testing.assert_allclose(shap.sum(axis=1), margin, rtol=1e-4, atol=1e-4)
    assert set(model.features) <= set(shap.columns)


@pytest.mark.parametrize("calibrated", [False, True])
def test_raising_complaints_makes_the_complaints_reason_appear(fitted, calibrated):
    rows, raw, cal = fitted
    model = cal if calibrated else raw
    quiet = rows[(rows["complaints_3m"] == 0) & (rows["deposit_trend_3m"].between(0.95, 1.05))].head(20).copy()
    loud = quiet.assign(complaints_3m=4.0, complaints_12m=quiet["complaints_12m"] + 4)
    labels, reference = reason_labels(indicators()), reference_values(rows, model.features)
    before = top_reasons(contributions(model, quiet), quiet, labels=labels, reference=reference)
    after = top_reasons(contributions(model, loud), loud, labels=labels, reference=reference)
    complaint = after[[f"reason_{k}_feature" for k in (1, 2, 3)]].isin(["complaints_3m", "complaints_12m"]).any(axis=1)
    assert complaint.mean() >= 0.9
    assert (after["reason_1_feature"] == "complaints_3m").mean() >= 0.9
    assert not before[[f"reason_{k}_feature" for k in (1, 2, 3)]].eq("complaints_3m").any(axis=1).any()
    assert after.loc[after["reason_1_feature"] == "complaints_3m", "reason_1"].eq(
        "Formal complaints over the last 3 months: up").all()
    assert (model.predict_proba(loud) >= model.predict_proba(quiet)).all()


def test_only_positive_contributions_are_reasons():
    shap = pd.DataFrame({"complaints_3m": [0.8, -0.1], "fees_3m": [-0.2, -0.3], "income": [0.1, -0.5],
                         "bias": [-2.0, -2.0]})
    frame = pd.DataFrame({"complaints_3m": [2.0, 0.0], "fees_3m": [1.0, 1.0], "income": [np.nan, 2000.0]})
    out = top_reasons(shap, frame, labels={"complaints_3m": "Complaints"}, reference=pd.Series({"complaints_3m": 0.0}))
    assert out.loc[0, ["reason_1", "reason_2"]].tolist() == ["Complaints: up", "income: missing"]
    assert out.loc[0, "reason_3"] is None and out.loc[1, "reason_1"] is None
    assert out.loc[0, "reason_1_shap"] == pytest.approx(0.8)


def test_directions():
    assert [direction(3.0, 1.0), direction(0.5, 1.0), direction(1.0, 1.0)] == ["up", "down", "typical"]
    assert [direction(True, None), direction(False, None), direction("mass", None)] == ["yes", "no", "mass"]
    assert direction(np.nan, 1.0) == "missing"


@pytest.mark.parametrize(("values", "reference"), [
    (pd.Series([3.0, 0.5, 1.0, np.nan, np.inf, -np.inf]), 1.0),  # numbers: in numpy
    (pd.Series([3, None, 1], dtype="Int64"), 1.0),  # nullable integers: pd.NA is missing
    (pd.Series([2.0, np.nan]), np.nan), (pd.Series([2.0, np.nan]), None),  # no reference: the value itself
    (pd.Series([True, False]), None), (pd.Series(["mass", None], dtype="category"), None),
])
def test_directions_of_a_column_are_those_of_each_value(values, reference):
    """The vectorised path and the value-by-value one agree, and give Python str (as the Parquet list holds)."""
    out = directions(values, reference)
    assert out.dtype == object and all(type(w) is str for w in out)
    assert out.tolist() == [direction(v, reference) for v in values.astype("object")]


def test_directions_worked_example():
    """Against a median of 1: 3 up, 0.5 down, 1 typical, NaN missing; without a median 2.0 reads as itself."""
    assert directions(pd.Series([3.0, 0.5, 1.0, np.nan]), 1.0).tolist() == ["up", "down", "typical", "missing"]
    assert directions(pd.Series([2.0]), None).tolist() == ["2.0"]
    assert directions(pd.Series([], dtype=float), 1.0).tolist() == []


def test_reasons_are_ranked_per_row_with_ties_in_column_order():
    """Three rows, features a, b (numbers, median 1) and c (a category). Row 0: a 0.5 > c 0.2, b negative, so two
    reasons; row 1: a tie of 0.3 goes to the first column (a) and then b; row 2: nothing positive, no reason.
    The frame's index (10, 11, 12) is kept and rows are matched by position."""
    index = [10, 11, 12]
    shap = pd.DataFrame({"a": [0.5, 0.3, -0.1], "b": [-0.4, 0.3, 0.0], "c": [0.2, 0.1, -1.0], "bias": 0.0}, index)
    frame = pd.DataFrame({"a": [2.0, np.nan, 0.0], "b": [1.0, 0.0, 5.0],
                          "c": pd.Categorical(["x", "y", None])}, index)
    out = top_reasons(shap, frame, labels={"a": "A"}, reference=pd.Series({"a": 1.0, "b": 1.0}), top=3)
    assert out.index.tolist() == index
    assert out["reason_1_feature"].tolist() == ["a", "a", None]
    assert out["reason_1_direction"].tolist() == ["up", "missing", None]
    assert out["reason_2_feature"].tolist() == ["c", "b", None]
    assert out["reason_2"].tolist() == ["c: x", "b: down", None]
    assert out["reason_3"].tolist() == [None, "c: y", None]
    np.testing.assert_allclose(out["reason_1_shap"], [0.5, 0.3, np.nan])


def test_top_reasons_of_no_rows_is_an_empty_table():
    """No rows (an empty scoring cutoff): the columns of every rank, no row; `top` is capped by the features."""
    shap = pd.DataFrame({"a": [], "b": [], "bias": []}, dtype=float)
    out = top_reasons(shap, pd.DataFrame({"a": [], "b": []}, dtype=float), labels={},
                      reference=pd.Series({"a": 1.0}), top=3)
    assert out.empty and [c for c in out.columns if c.endswith("_direction")] == [
        "reason_1_direction", "reason_2_direction"]


def test_a_missing_feature_column_is_named(fitted):
    rows, model, _ = fitted
    with pytest.raises(ColumnError, match="complaints_3m"):
        contributions(model, rows.drop(columns="complaints_3m").head(5))


def test_a_meaning_several_features_share_gives_way_to_the_column_name():
    """A snapshot file's catalogue says "column of the snapshot file" for every column: that names none of them."""
    catalogue = pd.DataFrame({"feature": ["credit_score", "is_active_member", "complaints_3m"],
                              "meaning": ["column of the snapshot file", "column of the snapshot file",
                                          "Formal complaints over t-2..t"]})
    assert reason_labels(catalogue) == {"credit_score": "credit score", "is_active_member": "is active member",
                                        "complaints_3m": "Formal complaints over the last 3 months"}
