"""Value tiers: equal-count tiers within each cutoff of what a customer is worth.

The value is the CLV of the survival stage (data/processed/clv.parquet: discounted margin on balances and fees,
weighted by the survival curve) at the scoring cutoff, and the monthly margin on balances and fees
(`churnlab.contract.value.monthly_margin`, survival's margins; a balance column the data lack counts as 0) at
earlier cutoffs, where no CLV exists; without CLV rows, the margin everywhere (`ValueBasisWarning`); with neither
CLV nor a balance or fee column, no tier.
"""

import numpy as np
import pandas as pd

from churnlab.contract.value import MARGIN_COLUMNS, monthly_margin
from churnlab.core.checks import check_columns


class ValueBasisWarning(UserWarning):
    """Value tiers fall back to the monthly margin: the survival stage's CLV is absent."""


def value_tiers(value: pd.Series, cutoff: pd.Series, *, labels: list[str]) -> pd.Series:
    """Equal-count tiers of `value` within each cutoff, lowest first (ties broken by row order; no value, no tier)."""

    def tiers(part: pd.Series) -> pd.Series:
        known = part.dropna()
        codes = pd.qcut(known.rank(method="first"), min(len(labels), len(known)), labels=False) if len(known) \
            else known
        return codes.reindex(part.index)

    codes = value.groupby(cutoff.to_numpy(), group_keys=False).apply(tiers).reindex(value.index)
    return pd.Series(pd.Categorical.from_codes(codes.fillna(-1).astype(int), categories=labels, ordered=True),
                     index=value.index, name="value_tier")


def value_basis(snapshots: pd.DataFrame, clv: pd.DataFrame | None) -> str | None:
    """What value tiers rest on: "clv" (the survival stage valued customers), "monthly_margin" (a balance or fee
    column exists) or None (neither: no tier)."""
    if clv is not None and len(clv):
        return "clv"
    return "monthly_margin" if any(c in snapshots for c in MARGIN_COLUMNS) else None


def customer_value(snapshots: pd.DataFrame, clv: pd.DataFrame | None, *, scoring_cutoff, margins: dict) -> pd.DataFrame:
    """monthly_margin of every row (NaN without any balance or fee column; an absent one counts as 0), clv at the
    scoring cutoff (NaN elsewhere or without `clv`), and `value`: the CLV where there is one, else the margin."""
    present = [c for c in MARGIN_COLUMNS if c in snapshots]
    margin = monthly_margin(snapshots.assign(**{c: 0.0 for c in MARGIN_COLUMNS if c not in present}), **margins) \
        if present else pd.Series(np.nan, index=snapshots.index)
    values = pd.DataFrame({"monthly_margin": margin.to_numpy(), "clv": np.nan}, index=snapshots.index)
    if clv is not None:
        check_columns(clv, ["customer_id", "clv"], table="clv")
        now = snapshots["cutoff"] == scoring_cutoff
        values.loc[now, "clv"] = snapshots.loc[now, "customer_id"].map(clv.set_index("customer_id")["clv"])
    values["value"] = values["clv"].fillna(values["monthly_margin"])
    return values
