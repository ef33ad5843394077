"""How a ChurnModel is packaged for MLflow: a pyfunc wrapper and its signature.

`mlflow.pyfunc.load_model(uri).predict(snapshots)` returns the calibrated churn probability of each row
of a raw snapshot table, preprocessing included. The signature lists every feature column as required,
so MLflow itself rejects input without one ("Model is missing inputs [...]"); extra columns such as
customer_id are ignored. Categorical columns are typed `Any`: the snapshots keep them as pandas `category`,
which MLflow's `string` type refuses to convert (the STACK-NOTES trap); the wrapper's own column check
and preprocessing handle them. Numbers are `double` and flags `boolean`, as in the snapshots.
"""

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from churnlab.model.churn import ChurnModel

OUTPUT = "p_churn"


class ChurnPyfunc(PythonModel):
    """MLflow pyfunc: raw snapshot rows in, a `p_churn` column of calibrated probabilities out."""

    def __init__(self, model: ChurnModel):
        self.model = model

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
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


def log_churn_model(mlflow, model: ChurnModel, rows: pd.DataFrame, *, name: str = "model"):
    """Log `model` as a pyfunc in the active run; returns MLflow's ModelInfo (model_uri for registering)."""
    return mlflow.pyfunc.log_model(name=name, python_model=ChurnPyfunc(model), signature=signature(model),
                                   input_example=input_example(model, rows), pip_requirements=pip_requirements())

