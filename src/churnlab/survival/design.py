"""Survival inputs: the voluntary-churn event, the customer split and the covariate design matrix.

Time is tenure in months since opening (`churnlab.features.lifetimes`): a customer is at risk from `entry_tenure`
(left truncation: customers already with the bank when the data window opened enter the risk set at their
first observed month) until `duration`. Voluntary churn (a closure, a transfer-out, or dormancy when the
lifetimes follow `features.churn.definition: dormancy`: the customer stopped using the bank) is the event;
involuntary churn (the bank closing a dormant account) is right-censoring by default, as a competing risk
the customer's behaviour does not drive. `residual` = duration - entry_tenure is the time since entry,
the scale on which every model is evaluated (the oracle's risk is "churn within k months of entry").

Sources other than the simulator lack some covariates: the Berka ledger has no complaints, contacts,
logins, investments, competitor spread or promotion (constant 0), and no income or education (missing).
`Design.fit` drops covariates that are constant or entirely missing on the training customers, and says
which: such a column carries no information, makes the unpenalised Cox fit singular, and would show an
arbitrary coefficient in the hazard-ratio and AFT tables.
"""

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.core.checks import check_columns

log = logging.getLogger(__name__)

VOLUNTARY = ("voluntary_closure", "transfer_out", "dormancy")  # dormancy: lifetimes under that definition
REQUIRED = ("customer_id", "entry_tenure", "duration", "event", "churn_type")
STAGES = ("acquisition", "growth", "maturity")


def entry_stage(entry_tenure: pd.Series) -> pd.Series:
    """Lifecycle stage at entry from tenure (months): acquisition < 6, growth 6-24, maturity > 24.

    lifetimes.parquet has no lifecycle field, so the stage is derived from entry tenure; every customer
    who opened inside the data window enters at tenure 0 and is in `acquisition`.
    """
    stage = np.select([entry_tenure < 6, entry_tenure <= 24], STAGES[:2], STAGES[2])
    return pd.Series(pd.Categorical(stage, categories=STAGES), index=entry_tenure.index)


def product_bucket(n_products: pd.Series) -> pd.Series:
    """Products held, with 4 or more pooled (few customers hold 5 or 6)."""
    labels = ["1", "2", "3", "4+"]
    bucket = pd.cut(n_products, [0, 1, 2, 3, np.inf], labels=labels)
    return bucket.astype(pd.CategoricalDtype(labels))


def prepare_lifetimes(lifetimes: pd.DataFrame, *, involuntary_as_censored: bool,
                      definition: str | None = None) -> pd.DataFrame:
    """Add `churned` (the event), `residual` (months since entry) and the `*_at_entry` Kaplan-Meier groups.

    `churned` is 1 for voluntary churn; involuntary churn is an event only if `involuntary_as_censored`
    is False. Raises KeyError naming a missing column, ValueError when duration <= entry_tenure, and
    ValueError when no customer churned; `definition` (features.churn.definition, if the caller reads it)
    only names the churn definition in that message.
    """
    check_columns(lifetimes, REQUIRED, table="lifetimes")
    bad = lifetimes["duration"] <= lifetimes["entry_tenure"]
    if bad.any():
        raise ValueError(f"lifetimes: {int(bad.sum())} row(s) with duration <= entry_tenure (no time at risk)")
    out = lifetimes.copy()
    churn_type = out["churn_type"].astype("string")
    events = churn_type.isin(VOLUNTARY if involuntary_as_censored else (*VOLUNTARY, "involuntary"))
    out["churned"] = (events.fillna(False) & (out["event"] == 1)).astype("int8")
    if not out["churned"].any():
        raise ValueError(no_events_message(out, definition=definition, involuntary_as_censored=involuntary_as_censored))
    out["residual"] = (out["duration"] - out["entry_tenure"]).astype("float64")
    out["stage_at_entry"] = entry_stage(out["entry_tenure"])
    if "entry_n_products" in out:
        out["products_at_entry"] = product_bucket(out["entry_n_products"])
    if "entry_payroll" in out:
        payroll = out["entry_payroll"].astype("boolean")
        out["payroll_at_entry"] = pd.Categorical(payroll.map({True: "yes", False: "no"}), categories=["no", "yes"])
    return out


def no_events_message(lifetimes: pd.DataFrame, *, definition: str | None, involuntary_as_censored: bool) -> str:
    """The error when no customer churned: the definition, the customers, and censored events if any."""
    under = f"definition {definition}" if definition else "the churn definition the lifetimes were built with"
    message = (f"lifetimes: no churn events under {under}: survival needs some ({len(lifetimes)} customers; "
               f"features.churn.definition chooses the event, and a ledger without closures needs dormancy)")
    censored = int((lifetimes["event"] == 1).sum())
    if censored:
        message += (f"; {censored} event(s) of type(s) {sorted(lifetimes['churn_type'].dropna().unique())} are "
                    f"censored (survival.event.involuntary_as_censored={involuntary_as_censored})")
    return message


def split_customers(lifetimes: pd.DataFrame, *, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer-level train/test split, seeded: each customer is in exactly one part."""
    if not 0 < test_share < 1:
        raise ValueError(f"survival.test_share={test_share} must be in (0, 1)")
    rng = np.random.default_rng([seed, 4])  # stream 4: issue 4's split, independent of other stages' draws
    test = rng.random(len(lifetimes)) < test_share
    return lifetimes.loc[~test].reset_index(drop=True), lifetimes.loc[test].reset_index(drop=True)


def covariates_at(lifetimes: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The `entry_` or `last_` covariates under their bare indicator names (same design for both)."""
    columns = [c for c in lifetimes.columns if c.startswith(prefix)]
    return lifetimes[columns].rename(columns=lambda c: c.removeprefix(prefix))


@dataclass
class Design:
    """Covariates -> numeric matrix, fitted on training customers and applied unchanged elsewhere.

    numeric: as is (per unit); log2: log2(1 + x), so a hazard ratio is "per doubling" of a balance; flags:
    0/1; categorical: one dummy per level but the most frequent (the reference), missing as its own level.
    Missing numbers take the training median plus a `<name>_missing` dummy when the training data had any.
    Covariates with a single value on the training customers (constant, or entirely missing; for a flag,
    missing counts as False) carry no information: `fit` drops them (`dropped_`) and logs their names.
    """

    numeric: list[str]
    log2: list[str]
    flags: list[str]
    categorical: list[str]
    medians_: dict = field(default_factory=dict)
    levels_: dict = field(default_factory=dict)
    dropped_: list = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """The covariates asked for (`fit` checks they exist)."""
        return [*self.numeric, *self.log2, *self.flags, *self.categorical]

    @property
    def used(self) -> list[str]:
        """The covariates in the matrix: those asked for, less the ones `fit` dropped."""
        return self._kept(self.sources)

    def _kept(self, names: list[str]) -> list[str]:
        return [c for c in names if c not in self.dropped_]

    def _numbers(self, covariates: pd.DataFrame) -> pd.DataFrame:
        numbers = covariates[self._kept(self.numeric)].astype("float64")
        logged = np.log2(1 + covariates[self._kept(self.log2)].astype("float64").clip(lower=0))
        return pd.concat([numbers, logged], axis=1)

    def _flags(self, covariates: pd.DataFrame) -> pd.DataFrame:
        return covariates[self._kept(self.flags)].astype("boolean").fillna(False).astype("float64")

    def fit(self, covariates: pd.DataFrame) -> "Design":
        check_columns(covariates, self.sources, table="covariates")
        self.dropped_ = []
        numbers = pd.concat([self._numbers(covariates), self._flags(covariates)], axis=1)
        categories = covariates[self.categorical].astype("string").fillna("missing")
        self.dropped_ = [c for c in self.sources
                         if (numbers[c] if c in numbers else categories[c]).nunique(dropna=False) <= 1]
        if self.dropped_:
            log.warning("covariates dropped, constant or entirely missing on the %d training customers: %s",
                        len(covariates), self.dropped_)
        numbers = self._numbers(covariates)
        self.medians_ = {c: float(numbers[c].median()) if numbers[c].notna().any() else 0.0
                         for c in numbers if numbers[c].isna().any()}
        self.levels_ = {}
        for c in self._kept(self.categorical):
            counts = categories[c].value_counts()
            self.levels_[c] = list(counts.index)  # most frequent first: the reference level
        return self

    def transform(self, covariates: pd.DataFrame) -> pd.DataFrame:
        check_columns(covariates, self.used, table="covariates")
        numbers = self._numbers(covariates)
        parts = [numbers.fillna(self.medians_)]
        parts.append(pd.DataFrame({f"{c}_missing": numbers[c].isna().astype("float64") for c in self.medians_},
                                  index=covariates.index))
        parts.append(self._flags(covariates))
        for c in self._kept(self.categorical):
            values = covariates[c].astype("string").fillna("missing")
            parts.append(pd.DataFrame({f"{c}[{level}]": (values == level).astype("float64")
                                       for level in self.levels_[c][1:]}, index=covariates.index))
        return pd.concat(parts, axis=1)

    def source_of(self, column: str) -> str:
        """The covariate a design column comes from (`segment[private]` -> `segment`)."""
        return column.split("[")[0].removesuffix("_missing")


def survival_array(frame: pd.DataFrame, *, time: str = "residual", event: str = "churned") -> np.ndarray:
    """scikit-survival's structured array (event: bool, time: float)."""
    out = np.empty(len(frame), dtype=[("event", bool), ("time", float)])
    out["event"] = frame[event].to_numpy().astype(bool)
    out["time"] = frame[time].to_numpy().astype(float)
    return out


def model_frame(lifetimes: pd.DataFrame, design: Design, strata=None, *, prefix: str) -> pd.DataFrame:
    """Design matrix (+ strata columns, a fitted `survival_models.Strata`) of `prefix` covariates beside the
    survival columns of `lifetimes`."""
    covariates = covariates_at(lifetimes, prefix)
    parts = [design.transform(covariates)]
    if strata is not None:
        parts.append(strata.transform(covariates))
    keep = [c for c in ("duration", "churned", "entry_tenure", "residual") if c in lifetimes]
    return pd.concat([*parts, lifetimes[keep]], axis=1)
