"""Churn classifiers that score raw snapshot rows: the baselines, XGBoost, and the calibrated wrapper.

Every model is a `ChurnModel`: the list of raw snapshot columns it reads, and a scikit-learn estimator
(preprocessing included) that maps them to a churn probability. `ChurnModel.predict_proba` checks the
columns first, so a missing or misspelt column is a clear `ColumnError`, not a shape error deep inside
XGBoost. Extra columns (customer_id, cutoff, label) are ignored, so a snapshot table can be scored as is.

Preprocessing: categorical columns (pandas `category` in the snapshots) become ordinal codes for the
trees and one-hot columns for the logistic regression; a missing category stays missing for the trees
(XGBoost and scikit-learn trees route missing values themselves) and is its own level for the logistic
regression. Flags become 0/1.
"""

import logging
import pickle

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

from churnlab.core.checks import check_columns
from churnlab.core.io import atomic_path

log = logging.getLogger(__name__)

KEYS = ("customer_id", "cutoff", "label", "labeled")
CALIBRATION = {"isotonic": "isotonic", "platt": "sigmoid"}


class LogOdds(ClassifierMixin, BaseEstimator):
    """A classifier seen through its log-odds, so that calibration fits on the margin, not on the probability.

    Platt scaling fits P(churn) = 1 / (1 + exp(a * s + b)) on a score s. CalibratedClassifierCV uses
    `decision_function` when there is one, else the probability; a line in the probability cannot stretch the
    bulk of customers (p 0.02-0.06) and the tail (p 0.99) at once, and squeezed the default model's probabilities
    to 0.058-0.078 for 90 % of customers. On log-odds, Platt is the usual temperature-and-shift. Isotonic
    calibration is unchanged: any monotone score gives the same steps.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    @property
    def classes_(self):
        return self.estimator.classes_

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self.estimator, "classes_")

    def fit(self, X, y, **fit_params):
        """Fit the wrapped estimator (CalibratedClassifierCV clones this wrapper for each fold first)."""
        self.estimator.fit(X, y, **fit_params)
        return self

    def predict(self, X) -> np.ndarray:
        return self.estimator.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        return self.estimator.predict_proba(X)

    def decision_function(self, X) -> np.ndarray:
        """log(p / (1 - p)) of the wrapped estimator, p clipped to [1e-7, 1 - 1e-7]."""
        return log_odds(self.estimator.predict_proba(X)[:, 1])


def log_odds(p) -> np.ndarray:
    """log(p / (1 - p)), p clipped to [1e-7, 1 - 1e-7] so that certain predictions stay finite."""
    p = np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def unwrap(estimator):
    """The fitted Pipeline inside a calibrated model (CalibratedClassifierCV -> FrozenEstimator -> LogOdds)."""
    if isinstance(estimator, CalibratedClassifierCV):
        estimator = estimator.calibrated_classifiers_[0].estimator
    while not hasattr(estimator, "named_steps"):
        estimator = estimator.estimator
    return estimator


def feature_columns(snapshots: pd.DataFrame, *, exclude: list[str] = ()) -> dict[str, list[str]]:
    """The model's input columns by kind: `categorical` (category/string), `flag` (bool), `numeric`."""
    kinds: dict[str, list[str]] = {"categorical": [], "flag": [], "numeric": []}
    for column, dtype in snapshots.dtypes.items():
        if column in KEYS or column in exclude:
            continue
        if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) \
                or pd.api.types.is_string_dtype(dtype):
            kinds["categorical"].append(column)
        elif pd.api.types.is_bool_dtype(dtype):
            kinds["flag"].append(column)
        else:
            kinds["numeric"].append(column)
    return kinds


def prepare(frame: pd.DataFrame, kinds: dict[str, list[str]]) -> pd.DataFrame:
    """The model's columns in training order: categories as object (missing as NaN), flags and numbers as
    float64. Raises ColumnError on a missing column."""
    features = [*kinds["categorical"], *kinds["flag"], *kinds["numeric"]]
    check_columns(frame, features, table="model input", needed_by="the churn model")
    out = {}
    for column in kinds["categorical"]:
        values = frame[column].astype("object")
        out[column] = values.where(values.notna(), np.nan)
    for column in [*kinds["flag"], *kinds["numeric"]]:
        out[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def tree_encoder(kinds: dict[str, list[str]]) -> ColumnTransformer:
    """Ordinal codes for categories (unknown or missing: NaN), numbers passed through."""
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
    return ColumnTransformer([("categorical", codes, kinds["categorical"])], remainder="passthrough",
                             verbose_feature_names_out=False)


def linear_encoder(kinds: dict[str, list[str]]) -> ColumnTransformer:
    """Median-imputed, missing-flagged, standardised numbers; one-hot categories with a `missing` level."""
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer([("numeric", numeric, [*kinds["flag"], *kinds["numeric"]]),
                              ("categorical", categorical, kinds["categorical"])])


def build_baseline(name: str, kinds: dict[str, list[str]], *, seed: int, n_jobs: int, **options) -> Pipeline:
    """An unfitted baseline pipeline: logistic, tree, forest or xgboost_default (options from params)."""
    if name == "logistic":
        model = LogisticRegression(class_weight="balanced", max_iter=2000, **options)
        return Pipeline([("encode", linear_encoder(kinds)), ("model", model)])
    if name == "tree":
        model = DecisionTreeClassifier(random_state=seed, **options)
    elif name == "forest":
        model = RandomForestClassifier(random_state=seed, n_jobs=n_jobs, **options)
    elif name == "xgboost_default":
        model = XGBClassifier(random_state=seed, n_jobs=n_jobs, **options)
    else:
        raise ValueError(f"unknown baseline {name!r} (logistic, tree, forest, xgboost_default)")
    return Pipeline([("encode", tree_encoder(kinds)), ("model", model)])


class ChurnModel:
    """Raw snapshot rows -> churn probability: the feature columns plus a fitted estimator on them."""

    def __init__(self, estimator, kinds: dict[str, list[str]], *, name: str):
        self.estimator = estimator
        self.kinds = {k: list(v) for k, v in kinds.items()}
        self.name = name

    @property
    def features(self) -> list[str]:
        return [*self.kinds["categorical"], *self.kinds["flag"], *self.kinds["numeric"]]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(churn within the horizon) for each row of `frame` (raw snapshot columns)."""
        return self.estimator.predict_proba(prepare(frame, self.kinds))[:, 1]

    def calibrated(self, validation: pd.DataFrame, y, *, method: str) -> "ChurnModel":
        """A copy whose probabilities are recalibrated on `validation` (method: isotonic or platt)."""
        if method not in CALIBRATION:
            raise ValueError(f"calibration must be one of {sorted(CALIBRATION)}, not {method!r}")
        calibrator = CalibratedClassifierCV(FrozenEstimator(LogOdds(self.estimator)), method=CALIBRATION[method])
        calibrator.fit(prepare(validation, self.kinds), np.asarray(y, int))
        return ChurnModel(calibrator, self.kinds, name=self.name)

    def booster_and_matrix(self, frame: pd.DataFrame):
        """For an XGBoost pipeline (possibly calibrated): the XGBClassifier and `frame` encoded for it."""
        pipeline = unwrap(self.estimator)
        encoded = pipeline.named_steps["encode"].transform(prepare(frame, self.kinds))
        names = list(pipeline.named_steps["encode"].get_feature_names_out())
        return pipeline.named_steps["model"], pd.DataFrame(encoded, columns=names, index=frame.index)


def fit_model(pipeline: Pipeline, train: pd.DataFrame, y, kinds: dict[str, list[str]], *, name: str,
              **fit_options) -> ChurnModel:
    """Fit `pipeline` on the prepared `train` rows and wrap it as a ChurnModel."""
    pipeline.fit(prepare(train, kinds), np.asarray(y, int), **fit_options)
    return ChurnModel(pipeline, kinds, name=name)


def save_model(model: ChurnModel, target) -> None:
    """Pickle `model` to `target` atomically (the previous file stays until the new one is complete)."""
    with atomic_path(target) as tmp, tmp.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_model(path) -> ChurnModel:
    """A ChurnModel pickled by `save_model`."""
    with open(path, "rb") as fh:
        return pickle.load(fh)
