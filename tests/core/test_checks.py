"""churnlab.core.checks: one missing-column check, one exception family."""

import pandas as pd
import pytest

from churnlab.core.checks import ColumnError, DataError, check_columns


def test_present_columns_pass():
    assert check_columns(pd.DataFrame({"a": [1], "b": [2]}), ["a", "b"], table="t") is None


def test_every_missing_column_is_named_with_the_closest_present_one():
    frame = pd.DataFrame({"customer_id": [1], "deposit_balanc": [2.0]})
    with pytest.raises(ColumnError) as err:
        check_columns(frame, ["customer_id", "deposit_balance", "cutoff"], table="snapshots", needed_by="score")
    assert str(err.value) == ("snapshots: missing 2 column(s) needed by score: 'deposit_balance' (found "
                              "'deposit_balanc': misspelt?), 'cutoff' (it has 2 columns)")


def test_a_column_error_is_a_data_error_and_a_key_error():
    """Callers that catch DataError (the data stage) or KeyError (pandas habits) both catch it."""
    with pytest.raises(DataError):
        check_columns(pd.DataFrame(), ["x"], table="t")
    with pytest.raises(KeyError):
        check_columns(pd.DataFrame(), ["x"], table="t")


def test_a_column_asked_for_twice_is_reported_once():
    with pytest.raises(ColumnError, match=r"missing 1 column\(s\): 'x' "):
        check_columns(pd.DataFrame({"a": [1]}), ["x", "x"], table="t")
