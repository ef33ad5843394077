"""How a ChurnModel is packaged for MLflow: a pyfunc wrapper and its signature.

`mlflow.pyfunc.load_model(uri).predict(snapshots)` returns the calibrated churn probability of each row
of a raw snapshot table, preprocessing included. The signature lists every feature column as required,
so MLflow itself rejects input without one ("Model is missing inputs [...]"); extra columns such as
customer_id are ignored. Categorical columns are typed `Any`: the snapshots keep them as pandas `category`,
which MLflow's `string` type refuses to convert (the STACK-NOTES trap); the wrapper's own column check
and preprocessing handle them. Numbers are `double` and flags `boolean`, as in the snapshots.

A category the fitted encoders never saw (`region: "mars"`) would be scored silently: the tree encoder codes it
as missing and the one-hot encoder as no level at all. The wrapper checks each categorical column against the
categories its fitted encoders learnt and, as its `unknown_category` setting says, warns (`UnknownCategoryWarning`,
naming the column and the values; the rows are still scored) or refuses the whole request (`UnknownCategoryError`,
an MlflowException, so the REST server answers 400 with the message). A missing value is not an unknown category.
"""

import warnings

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema
from sklearn.compose import ColumnTransformer

from churnlab.model.churn import ChurnModel

OUTPUT = "p_churn"
POLICIES = ("warn", "refuse")
SHOWN = 10  # unknown or known values listed in a message; the rest are counted


class UnknownCategoryWarning(UserWarning):
    """Rows hold a category the model never saw in training; they are scored with no category for that column."""


class UnknownCategoryError(MlflowException):
    """Rows hold a category the model never saw in training, and the served model refuses them."""

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def _encoders(estimator) -> list[ColumnTransformer]:
    """The fitted ColumnTransformers inside `estimator`: a Pipeline's steps, each calibrated copy of a
    CalibratedClassifierCV, the model inside a FrozenEstimator."""
    if isinstance(estimator, ColumnTransformer):
        return [estimator]
    if hasattr(estimator, "calibrated_classifiers_"):
        return [e for fitted in estimator.calibrated_classifiers_ for e in _encoders(fitted.estimator)]
    if hasattr(estimator, "steps"):
        return [e for _, step in estimator.steps for e in _encoders(step)]
    inner = getattr(estimator, "estimator", None)
    return _encoders(inner) if inner is not None else []


def known_categories(model: ChurnModel) -> dict[str, set]:
    """Categorical column -> the categories every fitted encoder of `model` learnt (missing values left out).

    Encoders are `model.churn.tree_encoder` (an OrdinalEncoder) and `linear_encoder` (imputer then OneHotEncoder);
    a column no encoder covers is absent, so it is not checked.
    """
    known: dict[str, set] = {}
    for encoder in _encoders(model.estimator):
        for _, transformer, columns in getattr(encoder, "transformers_", []):
            steps = [step for _, step in transformer.steps] if hasattr(transformer, "steps") else [transformer]
            if not hasattr(steps[-1], "categories_") or not isinstance(columns, list):
                continue
            # the one-hot pipeline's imputer writes its fill value ("missing") for a missing value: not a category
            fills = {getattr(step, "fill_value", None) for step in steps[:-1] if hasattr(step, "statistics_")}
            for column, categories in zip(columns, steps[-1].categories_, strict=True):
                if column in model.kinds["categorical"]:
                    seen = {c for c in categories if not pd.isna(c) and c not in fills}
                    known[column] = known[column] & seen if column in known else seen
    return known


def unknown_categories(rows: pd.DataFrame, known: dict[str, set]) -> dict[str, tuple[list, int]]:
    """Column -> (its unknown values, sorted as text; the number of rows holding one), for the columns that have any."""
    found = {}
    for column, categories in known.items():
        if column not in rows.columns:
            continue  # the model's own column check names it
        values = rows[column].astype("object")
        unknown = values.notna() & ~values.isin(list(categories))
        if unknown.any():
            found[column] = (sorted(values[unknown].unique(), key=str), int(unknown.sum()))
    return found


def _listed(values) -> str:
    values = sorted(values, key=str)
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(repr(v) for v in values[:SHOWN]) + more


def describe_unknown(found: dict[str, tuple[list, int]], known: dict[str, set]) -> str:
    """One sentence per column: its unknown values, how many rows hold them, and the categories the model knows."""
    return "; ".join(f"column {column!r}: {rows} row(s) with categories the model never saw in training: "
                     f"{_listed(values)} (known: {_listed(known[column])})"
                     for column, (values, rows) in found.items())


def act_on_unknown(found: dict[str, tuple[list, int]], known: dict[str, set], *, policy: str) -> None:
    """Nothing if nothing was `found` (`unknown_categories`); else, as `policy` says, an `UnknownCategoryWarning`
    ("warn": the rows are scored) or an `UnknownCategoryError` ("refuse"), the message from `describe_unknown`."""
    if not found:
        return
    message = describe_unknown(found, known)
    if policy == "refuse":
        raise UnknownCategoryError(f"refused: {message}")
    warnings.warn(f"{message}; scored with no category for that column", UnknownCategoryWarning, stacklevel=3)


class ChurnPyfunc(PythonModel):
    """MLflow pyfunc: raw snapshot rows in, a `p_churn` column of calibrated probabilities out.

    `unknown_category`: "warn" scores rows with a category the fitted encoders never saw and emits an
    `UnknownCategoryWarning`; "refuse" raises `UnknownCategoryError` and scores nothing.
    """

    def __init__(self, model: ChurnModel, *, unknown_category: str = "warn"):
        if unknown_category not in POLICIES:
            raise ValueError(f"unknown_category must be one of {POLICIES}, not {unknown_category!r}")
        self.model = model
        self.unknown_category = unknown_category
        self.known_categories = known_categories(model)

    def load_context(self, context) -> None:
        # a wrapper pickled before the check existed has neither attribute: it warns
        if "known_categories" not in self.__dict__:
            self.unknown_category = "warn"
            self.known_categories = known_categories(self.model)

    def check_categories(self, rows: pd.DataFrame) -> None:
        """Warn about or refuse (as `unknown_category` says) categories the fitted encoders never saw."""
        act_on_unknown(unknown_categories(rows, self.known_categories), self.known_categories,
                       policy=self.unknown_category)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        self.check_categories(model_input)
        return pd.DataFrame({OUTPUT: self.model.predict_proba(model_input)}, index=model_input.index)


def signature(model: ChurnModel) -> ModelSignature:
    """Required input columns typed as in the snapshots; one double output."""
    kinds = model.kinds
    columns = [ColSpec(AnyType(), c, required=True) for c in kinds["categorical"]]
    columns += [ColSpec("boolean", c, required=True) for c in kinds["flag"]]
    columns += [ColSpec("double", c, required=True) for c in kinds["numeric"]]
    return ModelSignature(inputs=Schema(columns), outputs=Schema([ColSpec("double", OUTPUT)]))


def input_example(model: ChurnModel, rows: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """A few rows of the model's input columns only (no customer id reaches MLflow); categories as text."""
    example = rows[model.features].head(n).reset_index(drop=True)
    for column in model.kinds["categorical"]:
        example[column] = example[column].astype("object")
    return example


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of the pyfunc (given explicitly: inferring them costs ~3 s a model)."""
    from importlib.metadata import version

    packages = ["mlflow", "pandas", "numpy", "scikit-learn", "xgboost-cpu", "scipy", "cloudpickle"]
    return [f"{p}=={version(p)}" for p in packages]


def log_churn_model(mlflow, model: ChurnModel, rows: pd.DataFrame, *, name: str = "model",
                    unknown_category: str = "warn"):
    """Log `model` as a pyfunc in the active run; returns MLflow's ModelInfo (model_uri for registering).

    `unknown_category` ("warn" or "refuse") is what the served model does with a category it never saw.
    """
    python_model = ChurnPyfunc(model, unknown_category=unknown_category)
    return mlflow.pyfunc.log_model(name=name, python_model=python_model, signature=signature(model),
                                   input_example=input_example(model, rows), pip_requirements=pip_requirements())

