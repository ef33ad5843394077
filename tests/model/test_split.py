"""The out-of-time split: test = latest fully labelled cutoff; no label window reaches the next part."""

import json

import numpy as np
import pandas as pd
import pytest
from churn_frames import snapshots

from churnlab.model.split import (
    SplitError,
    TimeSplit,
    check_no_leakage,
    choose_split,
    label_end,
    load_split,
    random_split,
    split_frames,
)


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


def one_cutoff(n: int = 1000, rate: float = 0.2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": [f"p_{i:05d}" for i in range(n)], "cutoff": pd.Timestamp("2000-01-31"),
                         "label": (rng.random(n) < rate).astype("int8"), "labeled": True})


def test_random_split_is_stratified_disjoint_and_independent_of_row_order():
    rows = one_cutoff()
    split = random_split(rows, seed=7, test_share=0.2, validation_share=0.15)
    parts = split.parts(rows)
    assert [len(parts[p]) for p in ("train", "validation", "test")] == [650, 150, 200]
    for part in parts.values():  # each class split in the same shares: the churn rate kept to one row per class
        assert abs(part["label"].mean() - rows["label"].mean()) < 2 / len(part)
    ids = [set(parts[p]["customer_id"]) for p in ("train", "validation", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    shuffled = split.parts(rows.sample(frac=1, random_state=3))
    assert set(shuffled["test"]["customer_id"]) == ids[2]  # the part is a function of the customer, not the row
    other = random_split(rows, seed=8, test_share=0.2, validation_share=0.15).parts(rows)["test"]
    assert set(other["customer_id"]) != ids[2]  # the seed reaches the split


def test_random_split_round_trips_through_split_json_and_leaves_unlabelled_rows_out(tmp_path):
    rows = one_cutoff()
    rows.loc[:9, "labeled"], rows.loc[:9, "label"] = False, 0
    split = random_split(rows, seed=7, test_share=0.2, validation_share=0.15)
    (tmp_path / "split.json").write_text(json.dumps(split.as_dict()))
    loaded = load_split(tmp_path / "split.json")
    assert loaded == split and loaded.test == pd.Timestamp("2000-01-31") and loaded.validation == (loaded.test,)
    assert sum(len(p) for p in loaded.parts(rows).values()) == 990
    assert isinstance(load_split_time(tmp_path), TimeSplit)


def load_split_time(folder):
    payload = TimeSplit((pd.Timestamp("2021-01-31"),), (pd.Timestamp("2021-07-31"),), pd.Timestamp("2022-01-31"))
    (folder / "time.json").write_text(json.dumps(payload.as_dict()))
    return load_split(folder / "time.json")


def test_random_split_refuses_several_cutoffs_bad_shares_and_a_part_without_churners():
    rows = one_cutoff()
    with pytest.raises(SplitError, match="one cutoff"):
        random_split(pd.concat([rows, rows.assign(cutoff=pd.Timestamp("2000-02-29"))]), seed=1, test_share=0.2,
                     validation_share=0.1)
    with pytest.raises(SplitError, match="leave rows to train on"):
        random_split(rows, seed=1, test_share=0.6, validation_share=0.5)
    with pytest.raises(SplitError, match="one class only"):
        random_split(one_cutoff(n=40, rate=0.03, seed=2), seed=1, test_share=0.2, validation_share=0.1)
