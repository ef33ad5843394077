"""`score.spark_rows`: results keyed on Spark come back in the keys' order, exactly one a key, or not at all.
(The Spark answers themselves are compared with the local engine's in tests/score/test_spark_udf.py.)"""

import pandas as pd
import pytest

from churnlab.score.spark_rows import in_key_order, keyed


def keys_of(ids, day="2024-03-31"):
    return pd.DataFrame({"customer_id": ids, "cutoff": pd.Timestamp(day)}, index=range(10, 10 + len(ids)))


def test_keys_are_the_id_and_the_cutoffs_date():
    assert keyed(keys_of(["C1"])).to_dict("records") == [{"customer_id": "C1", "cutoff_day": "2024-03-31"}]


def test_results_come_back_in_the_keys_order():
    found = pd.DataFrame({"customer_id": ["C3", "C1", "C2"], "cutoff_day": "2024-03-31", "p_churn": [0.3, 0.1, 0.2]})
    assert in_key_order(found, keys_of(["C1", "C2", "C3"]), what="scores")["p_churn"].tolist() == [0.1, 0.2, 0.3]


@pytest.mark.parametrize("ids", [["C1"], ["C1", "C2", "C2"], ["C1", "C1"], ["C1", "C9"]])
def test_a_missing_extra_or_repeated_result_is_an_error(ids):
    found = pd.DataFrame({"customer_id": ids, "cutoff_day": "2024-03-31", "p_churn": 0.5})
    with pytest.raises(RuntimeError, match=r"Spark returned \d scores for 2 snapshot rows, not one a row"):
        in_key_order(found, keys_of(["C1", "C2"]), what="scores")
