"""Attribute bands: income bands left-closed with "not declared", age bands from age, the file's own categories."""

import numpy as np
import pandas as pd
import pytest

from churnlab.segment.bands import attributes, income_band

BANDS = {"edges": [0, 1500, 3000, np.inf], "labels": ["low", "mid", "high"]}


def test_income_bands_are_left_closed_and_missing_is_not_declared():
    bands = income_band(pd.Series([0, 1499.99, 1500, 2999, 3000, 20000, np.nan]), **BANDS)
    assert bands.astype(str).tolist() == ["low", "low", "mid", "mid", "high", "high", "not declared"]
    assert list(bands.cat.categories) == ["low", "mid", "high", "not declared"]
    with pytest.raises(ValueError, match="labels"):
        income_band(pd.Series([1.0]), edges=[0, 1], labels=["a", "b"])


def test_age_is_banded_as_the_catalogue_does_unless_the_snapshots_have_the_band():
    """Ages 24, 25, 34.9, 35, 64, 65 fall in [edge, next edge): <25, 25-34, 25-34, 35-44, 55-64, 65+."""
    ages = pd.DataFrame({"age": [24.0, 25.0, 34.9, 35.0, 64.0, 65.0]})
    assert attributes(ages, income_bands=BANDS)["age_band"].astype(str).tolist() == [
        "<25", "25-34", "25-34", "35-44", "55-64", "65+"]
    given = ages.assign(age_band=pd.Categorical(["65+"] * 6))
    assert (attributes(given, income_bands=BANDS)["age_band"].astype(str) == "65+").all()


def test_only_the_columns_present_become_attributes_and_extras_never_shadow_a_dimension():
    rows = pd.DataFrame({"income": [1000.0, np.nan], "region": ["north", "south"], "geography": ["FR", "ES"],
                         "segment": ["mass", "private"], "cluster_name": ["x", "y"]})
    out = attributes(rows, income_bands=BANDS, extra=["geography", "cluster_name", "missing"])
    assert list(out.columns) == ["income_band", "segment", "region", "geography"]
    assert out["income_band"].astype(str).tolist() == ["low", "not declared"]
    assert all(isinstance(out[c].dtype, pd.CategoricalDtype) for c in out)
