"""Churn models score raw snapshot rows: clear errors on bad input, ids never change a score."""

import numpy as np
import pandas as pd
import pytest
from churn_frames import snapshots
from sklearn.base import BaseEstimator, ClassifierMixin

from churnlab.core.checks import ColumnError
from churnlab.model.churn import ChurnModel, build_baseline, feature_columns, fit_model


@pytest.fixture(scope="module")
def fitted():
    frame = snapshots(n_customers=200, n_cutoffs=4, horizon=1)
    train = frame[frame["labeled"]]
    kinds = feature_columns(frame)
    model = fit_model(build_baseline("xgboost_default", kinds, seed=0, n_jobs=1, n_estimators=20), train,
                      train["label"].astype(int), kinds, name="xgboost_default")
    return model, frame


def test_feature_kinds_follow_the_snapshot_dtypes(fitted):
    model, _ = fitted
    assert model.kinds == {"categorical": ["segment"], "flag": ["payroll"],
                           "numeric": ["age", "complaints_3m", "deposit_trend_3m", "income"]}


@pytest.mark.parametrize("name", ["logistic", "tree", "forest", "xgboost_default"])
def test_every_baseline_scores_raw_rows_with_missing_values(name):
    frame = snapshots(n_customers=100, n_cutoffs=3, horizon=1)
    kinds = feature_columns(frame)
    labeled = frame[frame["labeled"]]
    model = fit_model(build_baseline(name, kinds, seed=0, n_jobs=1), labeled, labeled["label"].astype(int), kinds,
                      name=name)
    p = model.predict_proba(frame)
    assert p.shape == (len(frame),) and np.all((p >= 0) & (p <= 1))


def test_missing_column_is_a_clear_error(fitted):
    model, frame = fitted
    with pytest.raises(ColumnError, match=r"missing 1 column\(s\) needed by the churn model: 'complaints_3m'"):
        model.predict_proba(frame.drop(columns="complaints_3m"))


def test_misspelt_column_is_named_with_a_hint(fitted):
    model, frame = fitted
    with pytest.raises(ColumnError, match=r"'deposit_trend_3m' \(found 'deposit_trend_3mo': misspelt\?\)"):
        model.predict_proba(frame.rename(columns={"deposit_trend_3m": "deposit_trend_3mo"}))


def test_text_in_a_numeric_column_is_refused(fitted):
    model, frame = fitted
    with pytest.raises(ValueError):
        model.predict_proba(frame.assign(age="forty"))


def test_changing_only_the_customer_id_leaves_scores_unchanged(fitted):
    model, frame = fitted
    renamed = frame.assign(customer_id="p_" + frame["customer_id"])
    np.testing.assert_array_equal(model.predict_proba(frame), model.predict_proba(renamed))


def test_category_and_object_columns_score_the_same(fitted):
    model, frame = fitted
    np.testing.assert_allclose(model.predict_proba(frame),
                               model.predict_proba(frame.assign(segment=frame["segment"].astype(object))))


def test_more_complaints_raise_the_risk(fitted):
    model, frame = fitted
    more = frame.assign(complaints_3m=frame["complaints_3m"] + 3)
    assert model.predict_proba(more).mean() > model.predict_proba(frame).mean()


class KnownProbability(ClassifierMixin, BaseEstimator):
    """A 'fitted' classifier whose probability is the column `p` of its input: calibration's known answer."""

    classes_ = np.array([0, 1])

    def fit(self, X, y):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def predict(self, X):
        return (X["p"].to_numpy() > 0.5).astype(int)

    def predict_proba(self, X):
        p = X["p"].to_numpy()
        return np.column_stack([1 - p, p])


def test_platt_calibration_of_calibrated_probabilities_changes_them_little():
    """A bulk of customers at 1-6 % and a tail near certainty, labels drawn from those very probabilities: Platt
    scaling on the log-odds returns them almost unchanged. A line in the probability (the old fit) squeezed the
    bulk to a sliver (5th-90th percentile 0.058-0.078 on the default data), pricing every customer alike."""
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0.01, 0.06, 18_000), rng.uniform(0.9, 0.99, 2_000)])
    frame = pd.DataFrame({"p": p})
    model = ChurnModel(KnownProbability(), {"categorical": [], "flag": [], "numeric": ["p"]}, name="known")
    calibrated = model.calibrated(frame, rng.random(p.size) < p, method="platt").predict_proba(frame)
    bulk = slice(0, 18_000)
    assert np.abs(calibrated[bulk] - p[bulk]).mean() < 0.005
    assert np.quantile(calibrated[bulk], 0.9) - np.quantile(calibrated[bulk], 0.1) > 0.03  # true spread: 0.04
