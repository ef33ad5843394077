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

A source without a time axis (a one-row-per-customer snapshot) gets a `RandomSplit` instead: stratified,
seeded, by customer. `load_split` reads either from models/split.json.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnlab.core.lake import read_rows


class SplitError(ValueError):
    """The snapshots cannot be split out of time (too few labelled cutoffs for the horizon)."""


@dataclass(frozen=True)
class TimeSplit:
    """Cutoff dates of each part of an out-of-time split (ascending)."""

    train: tuple[pd.Timestamp, ...]
    validation: tuple[pd.Timestamp, ...]
    test: pd.Timestamp

    def parts(self, snapshots: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return split_frames(snapshots, self)

    def as_dict(self) -> dict:
        return {"kind": "time", "train": [str(t.date()) for t in self.train],
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

@dataclass(frozen=True)
class RandomSplit:
    """A stratified random split of one cutoff's customers, for a source without a time axis (a snapshot file).

    Each customer's part depends only on its (pseudonymous) id, its label and the seed: a keyed hash ranks
    the customers within each label class, and the first `test_share` of each class are the test part, the
    next `validation_share` the validation part, the rest training. So every stage that reads the snapshots
    finds the same parts without a list of ids, and both parts keep the churn rate (to one row per class).
    Unlabelled rows are in no part: they are scored, never used. `train`, `validation` and `test` give the
    one cutoff, so code that reads rows by cutoff reads them all and then calls `parts`.
    """

    cutoff: pd.Timestamp
    seed: int
    test_share: float
    validation_share: float

    @property
    def train(self) -> tuple[pd.Timestamp, ...]:
        return (self.cutoff,)

    validation = train

    @property
    def test(self) -> pd.Timestamp:
        return self.cutoff

    def assign(self, snapshots: pd.DataFrame) -> pd.Series:
        """"train", "validation", "test", or <NA> (unlabelled) per row of `snapshots`."""
        keyed = snapshots["customer_id"].astype(str).map(
            lambda c: int.from_bytes(hashlib.sha256(f"{self.seed}:{c}".encode()).digest()[:8], "big"))
        known = snapshots["labeled"].to_numpy(bool)
        out = pd.Series(pd.NA, index=snapshots.index, dtype="string")
        for _, members in keyed[known].groupby(snapshots.loc[known, "label"].astype(int)):
            order = members.sort_values(kind="stable").index
            n_test = int(round(self.test_share * len(order)))
            n_val = int(round(self.validation_share * len(order)))
            out[order[:n_test]] = "test"
            out[order[n_test:n_test + n_val]] = "validation"
            out[order[n_test + n_val:]] = "train"
        return out

    def parts(self, snapshots: pd.DataFrame) -> dict[str, pd.DataFrame]:
        part = self.assign(snapshots)
        return {name: snapshots[(part == name).fillna(False).to_numpy()].reset_index(drop=True)
                for name in ("train", "validation", "test")}

    def as_dict(self) -> dict:
        return {"kind": "random", "cutoff": str(self.cutoff.date()), "seed": self.seed,
                "test_share": self.test_share, "validation_share": self.validation_share}


def random_split(snapshots: pd.DataFrame, *, seed: int, test_share: float, validation_share: float) -> RandomSplit:
    """The stratified random split of a single-cutoff snapshot table; SplitError when it cannot hold both classes."""
    cutoffs = snapshots["cutoff"].unique()
    if len(cutoffs) != 1:
        raise SplitError(f"a random split is for one cutoff; the snapshots hold {len(cutoffs)}")
    if not (0 < test_share < 1 and 0 < validation_share < 1 and test_share + validation_share < 1):
        raise SplitError(f"train.split.random: test_share {test_share} and validation_share {validation_share} must "
                         "be in (0, 1) and leave rows to train on")
    split = RandomSplit(pd.Timestamp(cutoffs[0]), seed, test_share, validation_share)
    labels = snapshots.loc[snapshots["labeled"].to_numpy(bool), "label"].astype(int)
    for name, part in split.parts(snapshots).items():
        if part["label"].astype(int).nunique() < 2:
            raise SplitError(f"the {name} part has one class only ({len(part)} rows of {len(labels)} labelled, "
                             f"{int(labels.sum())} churners): too few churners for a split")
    return split


def load_split(path: Path | str) -> TimeSplit | RandomSplit:
    """The split `train` wrote to models/split.json (time or random)."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    if payload.get("kind") == "random":
        return RandomSplit(pd.Timestamp(payload["cutoff"]), payload["seed"], payload["test_share"],
                           payload["validation_share"])
    return TimeSplit.from_dict(payload)


def sample_rows(frame: pd.DataFrame, max_rows: int | None, *, seed: int) -> pd.DataFrame:
    """At most `max_rows` rows drawn without replacement (all rows when None or fewer)."""
    if not max_rows or len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index()


def read_snapshots(path, cutoffs=None, *, columns=None) -> pd.DataFrame:
    """The snapshot rows at `cutoffs` (all rows when None), read from Parquet without the other cutoffs: the
    file itself, or the lake folder its manifest names (`core.lake.read_rows`, which checks it).

    The one reader the `train`, `evaluate` and `register` mains use, so `train` never loads test rows.
    """
    return read_rows(path, columns=columns, cutoffs=cutoffs)
