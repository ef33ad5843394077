"""The out-of-time split of the snapshots, as a bank would deploy a churn model.

A snapshot row is one customer at one cutoff t with the label "churned within (t, t+H]". Its label is only
known at t+H, so a row may inform a model only if t+H has passed when the model is built. Deploying at the
test cutoff T (the latest cutoff whose labels are all known) the bank knows

- test:        the rows at T, scored by the model and judged only in `evaluate`;
- validation:  the `validation_cutoffs` latest cutoffs v with v+H <= T, used for tuning, early stopping
               and calibration; their labels were all known by T;
- training:    the cutoffs t with t+H <= V, where V is the earliest validation cutoff, so no training label
               looks past the first validation month (no label window of a training row overlaps the
               period the validation rows are scored on), optionally only the latest `max_train_cutoffs`.

The cutoffs strictly between the last training cutoff and V, and between the last validation cutoff and T,
are a gap: their labels are not fully known at the next stage's cutoff, so using them would leak the future.
A customer appears at many cutoffs; what must not leak is a customer-month, and above all no test row, and
no label that depends on months after the cutoff it is judged at. Only labelled rows enter training and
validation; the test cutoff is fully labelled by construction.
"""

from dataclasses import dataclass

import pandas as pd


class SplitError(ValueError):
    """The snapshots cannot be split out of time (too few labelled cutoffs for the horizon)."""


@dataclass(frozen=True)
class TimeSplit:
    """Cutoff dates of each part of an out-of-time split (ascending)."""

    train: tuple[pd.Timestamp, ...]
    validation: tuple[pd.Timestamp, ...]
    test: pd.Timestamp

    def as_dict(self) -> dict:
        return {"train": [str(t.date()) for t in self.train],
                "validation": [str(t.date()) for t in self.validation], "test": str(self.test.date())}

    @classmethod
    def from_dict(cls, payload: dict) -> "TimeSplit":
        return cls(tuple(pd.Timestamp(t) for t in payload["train"]),
                   tuple(pd.Timestamp(t) for t in payload["validation"]), pd.Timestamp(payload["test"]))


def label_end(cutoff: pd.Timestamp, horizon_months: int) -> pd.Timestamp:
    """The month-end t+H at which the label of a row at cutoff t becomes known."""
    return pd.Timestamp(cutoff) + pd.offsets.MonthEnd(horizon_months)


def choose_split(snapshots: pd.DataFrame, *, horizon_months: int, validation_cutoffs: int,
                 max_train_cutoffs: int | None = None) -> TimeSplit:
    """The out-of-time split of `snapshots` (columns cutoff and labeled); see the module docstring."""
    if validation_cutoffs < 1:
        raise SplitError("train.split.validation_cutoffs must be >= 1")
    complete = snapshots.groupby("cutoff")["labeled"].all()
    labelled = complete[complete].index.sort_values()
    if labelled.empty:
        raise SplitError("no cutoff is fully labelled: the data end before any cutoff's horizon")
    test = labelled[-1]
    validation = [t for t in labelled if label_end(t, horizon_months) <= test][-validation_cutoffs:]
    if len(validation) < validation_cutoffs:
        raise SplitError(f"need {validation_cutoffs} validation cutoff(s) with t+{horizon_months} months <= the "
                         f"test cutoff {test.date()}; found {len(validation)}")
    train = [t for t in labelled if label_end(t, horizon_months) <= validation[0]]
    if max_train_cutoffs:
        train = train[-max_train_cutoffs:]
    if not train:
        raise SplitError(f"no training cutoff t with t+{horizon_months} months <= the first validation cutoff "
                         f"{validation[0].date()} (cutoffs {labelled[0].date()}..{test.date()})")
    return TimeSplit(tuple(train), tuple(validation), test)


def split_frames(snapshots: pd.DataFrame, split: TimeSplit) -> dict[str, pd.DataFrame]:
    """Rows of each part: train and validation keep labelled rows only; test is the whole test cutoff."""
    known = snapshots["labeled"].to_numpy(bool)
    parts = {
        "train": snapshots[snapshots["cutoff"].isin(split.train) & known],
        "validation": snapshots[snapshots["cutoff"].isin(split.validation) & known],
        "test": snapshots[snapshots["cutoff"] == split.test],
    }
    return {name: part.reset_index(drop=True) for name, part in parts.items()}


def check_no_leakage(parts: dict[str, pd.DataFrame], *, horizon_months: int) -> None:
    """Raise SplitError if a customer-month is in two parts, or a label window reaches past the next part."""
    keys = {name: set(zip(part["customer_id"], part["cutoff"], strict=True)) for name, part in parts.items()}
    pairs = (("train", "validation"), ("train", "test"), ("validation", "test"))
    for a, b in pairs:
        shared = keys[a] & keys[b]
        if shared:
            raise SplitError(f"{len(shared)} customer-month(s) in both {a} and {b}")  # no ids: they would reach logs
    for a, b in pairs:
        if len(parts[a]) and len(parts[b]) and label_end(parts[a]["cutoff"].max(), horizon_months) > \
                parts[b]["cutoff"].min():
            raise SplitError(f"{a} labels end after the first {b} cutoff {parts[b]['cutoff'].min().date()}")

def read_snapshots(path, cutoffs=None) -> pd.DataFrame:
    """The snapshot rows at `cutoffs` (all rows when None), read from Parquet without the other cutoffs.

    The one reader the `train`, `evaluate` and `register` mains use, so `train` never loads test rows.
    """
    filters = None if cutoffs is None else [("cutoff", "in", [pd.Timestamp(t) for t in cutoffs])]
    return pd.read_parquet(path, filters=filters)
