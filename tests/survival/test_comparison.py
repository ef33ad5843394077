"""The model comparison: the unit of each hazard ratio, the oracle columns, and picking the best model."""

import numpy as np
import pandas as pd
import pytest

from churnlab.survival.comparison import best_model, describe_column, held_out_sample, with_oracle
from churnlab.survival.design import Design


def test_describe_column_names_the_unit_of_each_hazard_ratio():
    covariates = pd.DataFrame({"age": [30.0, 40.0, np.nan], "deposit_balance": [0.0, 10.0, 100.0],
                               "payroll": [True, False, True], "segment": ["mass", "private", "mass"]})
    design = Design(numeric=["age"], log2=["deposit_balance"], flags=["payroll"], categorical=["segment"])
    per = describe_column(design.fit(covariates))
    assert [per(c) for c in design.transform(covariates).columns] == [
        "per unit", "per doubling of (1 + value)", "age missing vs known", "yes vs no", "private vs mass"]


SCORES = {"cox": {"c_index_uno": 0.70, "ibs": 0.14}, "weibull": {"c_index_uno": 0.68, "ibs": 0.12}}


def test_best_model_maximises_a_c_index_and_minimises_a_brier_score():
    assert best_model(SCORES, select_by="c_index_uno") == "cox"
    assert best_model(SCORES, select_by="ibs") == "weibull"
    with pytest.raises(KeyError):
        best_model(SCORES, select_by="c_index_typo")


def test_with_oracle_adds_the_oracle_c_index_and_each_models_ratio():
    """Residual times 1..4, all churned; the oracle ranks them perfectly (C = 1). Customer e has no true risk
    and is left out. `cox` has the oracle's ranking (C = 1, ratio 1); `weibull` has it reversed (C = 0, ratio -1)."""
    test = pd.DataFrame({"customer_id": list("abcde"), "residual": [1.0, 2.0, 3.0, 4.0, 5.0], "churned": 1})
    truth = pd.DataFrame({"customer_id": list("abcd"), "p": [0.4, 0.3, 0.2, 0.1]})
    risks = {"cox": np.array([4.0, 3.0, 2.0, 1.0, 0.0]), "weibull": np.array([1.0, 2.0, 3.0, 4.0, 9.0])}
    compared = with_oracle(SCORES, test, truth, risks, column="p")
    assert compared["cox"] == {**SCORES["cox"], "oracle_c_index": 1.0, "c_index_harrell_oracle_set": 1.0,
                               "oracle_ratio": 1.0}
    assert compared["weibull"]["oracle_ratio"] == pytest.approx(-1.0)
    assert "oracle_c_index" not in SCORES["cox"]  # the scores passed in are left as they were


def test_the_models_are_scored_on_every_held_out_customer_up_to_max_customers_then_a_seeded_sample():
    test = pd.DataFrame({"customer_id": [f"c{i}" for i in range(10)], "residual": np.arange(10.0)})
    assert held_out_sample(test, max_customers=10, seed=1) is test
    sample = held_out_sample(test, max_customers=4, seed=1)
    assert len(sample) == 4 and sample.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(sample, held_out_sample(test, max_customers=4, seed=1))
    assert not sample.equals(held_out_sample(test, max_customers=4, seed=2))
