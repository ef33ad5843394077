"""Lifecycle rules on a hand-made example, and clear errors."""

import numpy as np
import pandas as pd
import pytest

from churnlab.contract.lifecycle import STAGES, lifecycle_stage

RULES = {"acquisition_months": 6, "growth_months": 24, "decline_balance_ratio": 0.8, "decline_product_drop": 1,
         "growth_balance_ratio": 1.25}


def test_hand_made_customers_get_the_stage_the_rules_give():
    rows = pd.DataFrame([
        # tenure, balance trend, product change -> expected stage (and why)
        (3, 0.5, -1, "acquisition"),    # early tenure wins even with a falling balance
        (6, 1.0, 0, "acquisition"),     # the boundary month is still acquisition
        (12, 1.0, 0, "growth"),         # building the relationship
        (12, 0.7, 0, "decline"),        # balance 30 % down
        (60, 1.0, 0, "maturity"),       # settled
        (60, 1.3, 0, "growth"),         # balance up 30 %
        (60, 1.0, 1, "growth"),         # added a product
        (60, 1.3, -1, "decline"),       # closed a product: decline wins over growth
        (60, 0.8, 0, "maturity"),       # exactly at the decline ratio: not below it
        (60, np.nan, np.nan, "maturity"),  # no trend known: no trend
    ], columns=["tenure_months", "total_balance_trend_3m", "n_products_change_3m", "expected"])
    stage = lifecycle_stage(rows, **RULES)
    assert stage.astype(str).tolist() == rows["expected"].tolist()
    assert list(stage.cat.categories) == list(STAGES)


def test_a_missing_column_is_named():
    rows = pd.DataFrame({"tenure_months": [3.0], "total_balance_trend_3m": [1.0]})
    with pytest.raises(KeyError, match="n_products_change_3m"):
        lifecycle_stage(rows, **RULES)


def test_inconsistent_thresholds_are_refused():
    rows = pd.DataFrame({"tenure_months": [3.0], "total_balance_trend_3m": [1.0], "n_products_change_3m": [0.0]})
    with pytest.raises(ValueError, match="acquisition_months"):
        lifecycle_stage(rows, **(RULES | {"acquisition_months": 30}))
    with pytest.raises(ValueError, match="decline_balance_ratio"):
        lifecycle_stage(rows, **(RULES | {"decline_balance_ratio": 1.1}))
