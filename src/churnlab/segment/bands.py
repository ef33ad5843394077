"""Attribute bands: who the customers are, as far as the snapshot columns tell.

Age band (from the features stage, or banded from `age` as the indicator catalogue does), income band (declared
net monthly income; "not declared" when missing), the bank's segment and the region, each where the snapshots have
the column; on a snapshot source also every categorical column of the file (e.g. geography, gender): a one-cutoff
file's categories are its natural attributes.
"""

import numpy as np
import pandas as pd

KEYS = ["customer_id", "cutoff"]
ATTRIBUTES = ["age_band", "income_band", "segment", "region"]  # the bank's attributes, where the data have them
SOURCE_COLUMNS = ["age_band", "age", "income", "segment", "region"]  # the snapshot columns they come from
OUTCOMES = ["cluster_name", "value_tier", "lifecycle_stage"]
DIMENSIONS = [*ATTRIBUTES, *OUTCOMES]  # the segmentations, the bank's own first
AGE_EDGES = [-np.inf, 25, 35, 45, 55, 65, np.inf]  # the indicator catalogue's age bands (churnlab.contract.indicators)
AGE_LABELS = ["<25", "25-34", "35-44", "45-54", "55-64", "65+"]
NOT_DECLARED = "not declared"


def income_band(income: pd.Series, *, edges: list[float], labels: list[str]) -> pd.Series:
    """Band of declared monthly income: [edges[i], edges[i+1]) -> labels[i]; missing -> "not declared"."""
    if len(labels) != len(edges) - 1:
        raise ValueError(f"segment.income_bands: {len(edges)} edges need {len(edges) - 1} labels, got {labels}")
    banded = pd.cut(income.astype(float), bins=edges, labels=labels, right=False)
    bands = banded.cat.add_categories([NOT_DECLARED]).fillna(NOT_DECLARED)
    return bands.cat.set_categories([*labels, NOT_DECLARED], ordered=True).rename("income_band")


def attributes(snapshots: pd.DataFrame, *, income_bands: dict, extra: list[str] = ()) -> pd.DataFrame:
    """The attribute bands the snapshots allow (see the module docstring), then the `extra` categorical columns."""
    out = {}
    if "age_band" in snapshots:
        out["age_band"] = snapshots["age_band"].astype("category")
    elif "age" in snapshots:  # age in whole years: [edge, next edge), as the catalogue's CASE
        out["age_band"] = pd.cut(snapshots["age"].astype(float), bins=AGE_EDGES, labels=AGE_LABELS, right=False)
    if "income" in snapshots:
        out["income_band"] = income_band(snapshots["income"], **income_bands)
    for column in ["segment", "region", *[c for c in extra if c not in DIMENSIONS]]:
        if column in snapshots:
            out[column] = snapshots[column].astype("category")
    return pd.DataFrame(out, index=snapshots.index)
