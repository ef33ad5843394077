"""Customer lifetime value from a survival curve: expected remaining months and discounted margin.

For a customer active now, with S(t) the probability of still being a customer t months ahead
(t = 1..K, K the horizon), a constant monthly margin m and a monthly discount factor
d = (1 + annual rate)^(-1/12):

    expected remaining months (restricted to K) = sum_{t=1..K} S(t)
    CLV = sum_{t=1..K} S(t) * m * d^t

i.e. the margin of each future month-end the customer is still there, discounted to today. With a
constant monthly hazard h, S(t) = (1 - h)^t and CLV is a geometric series: m q (1 - q^K) / (1 - q) with
q = (1 - h) d (tests/test_clv.py checks this closed form).
"""

import logging

import numpy as np
import pandas as pd
from scipy import stats

from churnlab.contract.value import MARGIN_COLUMNS, monthly_margin
from churnlab.core.checks import check_columns
from churnlab.survival.design import Design, covariates_at, model_frame

log = logging.getLogger(__name__)

CLV_COLUMNS = ("customer_id", "tenure_months", "monthly_margin", "expected_remaining_months", "survival_12m", "clv",
               "value_tier")


def monthly_discount(annual_discount_rate: float) -> float:
    """Monthly discount factor equivalent to an annual rate."""
    return (1 + annual_discount_rate) ** (-1 / 12)


def lifetime_value(survival: np.ndarray, margin: np.ndarray, *, discount: float) -> tuple[np.ndarray, np.ndarray]:
    """(expected remaining months, CLV) per customer from `survival[i, t-1]` = S(t), t = 1..K."""
    survival = np.asarray(survival, dtype=float)
    weights = discount ** np.arange(1, survival.shape[1] + 1)
    return survival.sum(axis=1), (survival @ weights) * np.asarray(margin, dtype=float)


def value_tiers(clv: pd.Series, labels: list[str]) -> pd.Series:
    """Equal-count tiers of CLV, lowest first (three labels: tertiles; five: quintiles)."""
    tiers = pd.qcut(clv.rank(method="first"), len(labels), labels=labels)
    return tiers.astype(pd.CategoricalDtype(labels, ordered=True))


def true_survival_matrix(truth: pd.DataFrame, ids: pd.Series, *, months: int, column: str) -> np.ndarray:
    """The simulator's survival curves (months_ahead 1..months) for `ids`, in their order (NaN if absent)."""
    check_columns(truth, ("customer_id", "months_ahead", column), table="survival_truth")
    wide = truth[truth["months_ahead"] <= months].pivot(index="customer_id", columns="months_ahead", values=column)
    if wide.shape[1] < months:
        raise ValueError(f"survival_truth has {wide.shape[1]} months ahead; survival.clv.horizon_months={months}")
    return wide.reindex(ids.to_numpy()).to_numpy(float)


def compare_values(estimated: np.ndarray, true: np.ndarray) -> dict:
    """Spearman rank correlation, total relative error and median absolute relative error per customer."""
    keep = ~np.isnan(true) & (true > 0)
    e, t = estimated[keep], true[keep]
    return {"customers": int(keep.sum()), "rank_corr": float(stats.spearmanr(e, t).statistic),
            "relative_error_total": float(e.sum() / t.sum() - 1),
            "median_abs_relative_error": float(np.median(np.abs(e / t - 1)))}


def customer_values(lifetimes: pd.DataFrame, model, design: Design, strata, *, horizon_months: int,
                    annual_discount_rate: float, tiers: list[str], margins: dict,
                    average_market: dict[str, float]) -> tuple[pd.DataFrame, np.ndarray]:
    """CLV per customer active at the last month (event 0), from `last_` covariates at current tenure.

    The market covariates in `average_market` are set to the given (training-average) values: the future
    market is unknown, and the last month's values would project one month's conditions over the horizon.
    """
    active = lifetimes[lifetimes["event"] == 0].reset_index(drop=True)
    active = active.assign(**{f"last_{name}": value for name, value in average_market.items()})
    frame = model_frame(active.drop(columns=["duration", "entry_tenure"]), design, strata, prefix="last_")
    months = np.arange(1, horizon_months + 1)
    survival = model.survival(frame, active["duration"].to_numpy(), months)
    margin = monthly_margin(covariates_at(active, "last_"), **margins).to_numpy()
    remaining, clv = lifetime_value(survival, margin, discount=monthly_discount(annual_discount_rate))
    values = pd.DataFrame({"customer_id": active["customer_id"], "tenure_months": active["duration"],
                           "monthly_margin": margin, "expected_remaining_months": remaining,
                           "survival_12m": survival[:, min(12, horizon_months) - 1], "clv": clv})
    values["value_tier"] = value_tiers(values["clv"], tiers)
    return values, margin


def with_margin_columns(lifetimes: pd.DataFrame) -> pd.DataFrame | None:
    """`lifetimes` with every `last_` margin column of `contract.value` (absent ones 0, logged); None if none exists."""
    missing = [c for c in MARGIN_COLUMNS if f"last_{c}" not in lifetimes]
    if len(missing) == len(MARGIN_COLUMNS):
        return None
    if missing:
        log.warning("CLV margin: %s absent from this source, counted as 0", missing)
    return lifetimes.assign(**{f"last_{c}": 0.0 for c in missing})


def empty_clv() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string" if c in ("customer_id", "value_tier") else "float64")
                         for c in CLV_COLUMNS})


def clv_summary(values: pd.DataFrame, *, truth: pd.DataFrame | None, horizon_months: int,
                annual_discount_rate: float, truth_column: str) -> dict:
    """survival.json's CLV block; given the simulator's survival curves (`truth`), also the CLV of the true curve,
    compared (`compare_values`)."""
    summary = {"customers": len(values), "total_clv": float(values["clv"].sum()),
               "mean_clv": float(values["clv"].mean()),
               "mean_expected_remaining_months": float(values["expected_remaining_months"].mean()),
               "mean_clv_by_tier": values.groupby("value_tier", observed=True)["clv"].mean().to_dict()}
    if truth is not None:
        true = true_survival_matrix(truth, values["customer_id"], months=horizon_months, column=truth_column)
        _, true_clv = lifetime_value(true, values["monthly_margin"].to_numpy(),
                                     discount=monthly_discount(annual_discount_rate))
        summary["vs_truth"] = compare_values(values["clv"].to_numpy(), true_clv)
        log.info("CLV vs the true survival curve: %s", summary["vs_truth"])
    return summary


def lifetime_values(lifetimes: pd.DataFrame, train: pd.DataFrame, model, design: Design, strata, *,
                    truth: pd.DataFrame | None, horizon_months: int, annual_discount_rate: float, truth_column: str,
                    tiers: list[str], average_market: list[str], margins: dict) -> tuple[pd.DataFrame, dict]:
    """CLV of every active customer from `model` (the table, empty when skipped) and survival.json's CLV block.

    The market covariates named in `average_market` take their mean at entry over the `train` customers. Without
    a balance or fee column the CLV is skipped: the block is then `{"skipped": {"clv": reason}}`.
    """
    valued = with_margin_columns(lifetimes)
    if valued is None:
        reason = (f"no balance or fee column ({', '.join(MARGIN_COLUMNS)}) to value a customer by; "
                  "name one with data.rename")
        log.warning("CLV skipped: %s", reason)
        return empty_clv(), {"skipped": {"clv": reason}}
    market = {name: float(train[f"entry_{name}"].mean()) for name in average_market if f"entry_{name}" in train}
    values, _ = customer_values(valued, model, design, strata, horizon_months=horizon_months,
                                annual_discount_rate=annual_discount_rate, tiers=tiers, margins=margins,
                                average_market=market)
    summary = clv_summary(values, truth=truth, horizon_months=horizon_months,
                          annual_discount_rate=annual_discount_rate, truth_column=truth_column)
    return values, summary
