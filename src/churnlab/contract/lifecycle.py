"""Lifecycle stage of every customer at every snapshot: acquisition, growth, maturity or decline.

Rules, applied in this order to the snapshot indicators (thresholds in params.yaml `segment.lifecycle`):

1. acquisition: tenure_months <= acquisition_months. Early tenure: the relationship is being set up and
   balances swing as money arrives, so trends say little yet.
2. decline: the total balance fell (total_balance_trend_3m < decline_balance_ratio, i.e. the balance at t is
   that much below its mean over the previous three months) or a product was closed
   (n_products_change_3m <= -decline_product_drop). The simulator's "quiet quitting" looks like this.
3. growth: tenure_months <= growth_months (still building the relationship), or, at any tenure, the balance
   rose (total_balance_trend_3m >= growth_balance_ratio) or a product was added (n_products_change_3m >= 1).
4. maturity: everyone else (a settled relationship with stable balances and products).

A missing trend (no balance in the previous three months) counts as no trend. The stages need a time axis
(tenure and trends over months): a snapshot source has none (`lifecycle_reason`).
"""

import pandas as pd

from churnlab.core.checks import check_columns

STAGES = ("acquisition", "growth", "maturity", "decline")
COLUMNS = ("tenure_months", "total_balance_trend_3m", "n_products_change_3m")


def lifecycle_reason(snapshots: pd.DataFrame, *, time_axis: bool) -> str | None:
    """Why lifecycle stages cannot be formed, or None when they can."""
    if not time_axis:
        return "the data source has no time axis (one snapshot): stages and transitions need trends over months"
    missing = [c for c in COLUMNS if c not in snapshots]
    return f"snapshots lack column(s) {missing}" if missing else None


def lifecycle_stage(snapshots: pd.DataFrame, *, acquisition_months: int, growth_months: int,
                    decline_balance_ratio: float, decline_product_drop: int,
                    growth_balance_ratio: float) -> pd.Series:
    """The lifecycle stage of each snapshot row (ordered categorical over STAGES); see the module docstring."""
    check_columns(snapshots, COLUMNS, table="snapshots")
    if not acquisition_months < growth_months:
        raise ValueError(f"segment.lifecycle: acquisition_months ({acquisition_months}) must be < growth_months "
                         f"({growth_months})")
    if not decline_balance_ratio < 1 < growth_balance_ratio:
        raise ValueError("segment.lifecycle: need decline_balance_ratio < 1 < growth_balance_ratio")
    tenure = snapshots["tenure_months"].astype(float)
    trend = snapshots["total_balance_trend_3m"].astype(float).fillna(1.0)
    products = snapshots["n_products_change_3m"].astype(float).fillna(0.0)
    stage = pd.Series("maturity", index=snapshots.index, dtype="object")
    growing = (tenure <= growth_months) | (trend >= growth_balance_ratio) | (products >= 1)
    declining = (trend < decline_balance_ratio) | (products <= -decline_product_drop)
    stage[growing] = "growth"
    stage[declining] = "decline"
    stage[tenure <= acquisition_months] = "acquisition"
    return pd.Series(pd.Categorical(stage, categories=STAGES, ordered=True), index=snapshots.index,
                     name="lifecycle_stage")
