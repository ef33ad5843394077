"""The out-of-time split: test = latest fully labelled cutoff; no label window reaches the next part."""

import pandas as pd
import pytest
from churn_frames import snapshots

from churnlab.split import SplitError, check_no_leakage, choose_split, label_end, split_frames


def test_split_is_out_of_time_with_label_gaps():
    """12 monthly cutoffs, H = 3, the last 3 not labelled: test = 9th cutoff, validation = test - 3 months,
    training = every cutoff with t + 3 <= validation cutoff."""
    frame = snapshots(n_customers=20, horizon=3)
    split = choose_split(frame, horizon_months=3, validation_cutoffs=1)
    assert split.test == pd.Timestamp("2022-09-30")
    assert split.validation == (pd.Timestamp("2022-06-30"),)
    assert split.train == tuple(pd.date_range("2022-01-31", "2022-03-31", freq="ME"))
    assert all(label_end(t, 3) <= split.validation[0] for t in split.train)
    assert all(label_end(v, 3) <= split.test for v in split.validation)


def test_no_test_customer_month_reaches_training():
    frame = snapshots(n_customers=50, horizon=3)
    split = choose_split(frame, horizon_months=3, validation_cutoffs=2)
    parts = split_frames(frame, split)
    check_no_leakage(parts, horizon_months=3)
    keys = {name: set(zip(p["customer_id"], p["cutoff"], strict=True)) for name, p in parts.items()}
    assert not keys["test"] & (keys["train"] | keys["validation"])
    assert not keys["train"] & keys["validation"]
    assert parts["train"]["labeled"].all() and parts["validation"]["labeled"].all()
    assert set(parts["test"]["cutoff"]) == {split.test}
    # the same customers appear in every part: the split is by time, not by customer
    assert set(parts["test"]["customer_id"]) == set(parts["train"]["customer_id"])


def test_leak_checker_catches_overlapping_label_windows():
    frame = snapshots(n_customers=10, horizon=3)
    parts = {"train": frame[frame["cutoff"] <= "2022-05-31"], "validation": frame[frame["cutoff"] == "2022-06-30"],
             "test": frame[frame["cutoff"] == "2022-09-30"]}
    with pytest.raises(SplitError, match="labels end after"):
        check_no_leakage(parts, horizon_months=3)
    parts["train"] = pd.concat([frame[frame["cutoff"] <= "2022-03-31"], parts["test"]])
    with pytest.raises(SplitError, match="customer-month"):
        check_no_leakage(parts, horizon_months=3)


def test_max_train_cutoffs_keeps_the_latest():
    split = choose_split(snapshots(n_customers=5, horizon=3), horizon_months=3, validation_cutoffs=1,
                         max_train_cutoffs=2)
    assert split.train == (pd.Timestamp("2022-02-28"), pd.Timestamp("2022-03-31"))


def test_too_short_history_is_a_clear_error():
    with pytest.raises(SplitError, match="no training cutoff"):
        choose_split(snapshots(n_customers=5, n_cutoffs=6, horizon=2), horizon_months=2, validation_cutoffs=1)
    with pytest.raises(SplitError, match="fully labelled"):
        choose_split(snapshots(n_customers=5, n_cutoffs=3, horizon=3), horizon_months=3, validation_cutoffs=1)


def test_split_round_trips_through_json():
    split = choose_split(snapshots(n_customers=5, horizon=3), horizon_months=3, validation_cutoffs=1)
    assert type(split).from_dict(split.as_dict()) == split
