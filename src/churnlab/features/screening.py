"""Univariate screening of the early-warning indicators on labeled training snapshots.

For one indicator x and the churn label y (1 churned within the horizon), over the training rows:

- missing_share: share of rows where x is missing.
- bins: deciles: the bins (-inf, e1], (e1, e2], ..., (e9, inf) between the observed decile values e1..e9
  (equal deciles merged, so a value held by most customers, like 0 months since the last transaction,
  is one bin and the rest still split); one bin per value when x has at most `bins` distinct values
  (flags, small counts); one bin per category for a categorical indicator; plus one bin for missing values.
- information value: IV = sum over bins of (p_i - q_i) * ln(p_i / q_i), where p_i is the share of the
  churners and q_i the share of the stayers that fall in bin i. Counts get 0.5 added per bin (Laplace
  smoothing) so an empty cell does not make IV infinite. Rule of thumb (Siddiqi, Credit Risk Scorecards):
  < 0.02 useless, 0.02-0.1 weak, 0.1-0.3 medium, > 0.3 strong.
- ROC-AUC: the probability that a random churner has a higher x than a random stayer (ties count half),
  on rows where x is present. Reported as max(AUC, 1 - AUC), with `higher_is_riskier` saying which way
  x points. A categorical indicator is scored by its in-sample bin churn rate, so its AUC is >= 0.5 by
  construction and slightly optimistic, and it has no direction.
- traffic light: with base rate r (churn rate over all training rows), the red line is the least extreme
  cut such that the customers beyond it, taken together, churn at more than `red_lift` * r; the amber line
  likewise with `amber_lift`. Cuts are bin edges, so the line is at decile (or value) resolution, e.g.
  "> 2" for complaints_3m when customers with 3 or more complaints churn at more than twice the base rate.
  Taking the tail as a group keeps a handful of customers in an extreme bin from moving the line. A
  categorical indicator lists its categories whose own churn rate is above the lift; a missing bin above the
  lift adds "or missing". An empty line means no cut reaches the lift: the indicator alone never warrants
  the colour.
"""

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

SMOOTHING = 0.5


def _format(value: float) -> str:
    return f"{value:.4g}"


def bin_rates(values: pd.Series, labels: pd.Series, *, bins: int) -> pd.DataFrame:
    """Churn count, row count, churn rate and edges per bin (sorted by value; missing last)."""
    labels = labels.astype("int8").to_numpy()
    present = values.notna().to_numpy()
    categorical = isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object
    if categorical:
        categories = values.astype("category")
        codes = categories.cat.codes.to_numpy()[present]
        n_categories = len(categories.cat.categories)
        grouped = pd.DataFrame({"sum": np.bincount(codes, weights=labels[present], minlength=n_categories),
                                "count": np.bincount(codes, minlength=n_categories)},
                               index=categories.cat.categories.astype(str))
        grouped["low"] = grouped["high"] = np.nan
    else:
        numbers = values[present].astype("float64").to_numpy()
        distinct = np.unique(numbers)
        if len(distinct) <= bins:  # few values (flags, small counts): one bin per value
            table = pd.DataFrame({"bin": numbers, "y": labels[present]})
            grouped = table.groupby("bin")["y"].agg(["sum", "count"])
            # bin v holds x > previous value; no bin at all when every value is missing
            grouped["low"] = np.concatenate([[-np.inf], distinct[:-1]])[: len(distinct)]
            grouped["high"] = distinct
            grouped.index = [_format(v) for v in distinct]
        else:  # deciles: bins (-inf, e1], (e1, e2], ..., (e9, inf) between the observed decile values
            inner = np.unique(np.quantile(numbers, np.arange(1, bins) / bins, method="inverted_cdf"))
            edges = np.concatenate([[-np.inf], inner, [np.inf]])
            table = pd.DataFrame({"bin": np.searchsorted(inner, numbers, side="left"), "y": labels[present]})
            grouped = table.groupby("bin")["y"].agg(["sum", "count"])
            grouped["low"], grouped["high"] = edges[grouped.index], edges[grouped.index + 1]
            pairs = zip(grouped["low"], grouped["high"], strict=True)
            grouped.index = [f"({_format(a)}, {_format(b)}]" for a, b in pairs]
    if not present.all():
        grouped.loc["missing"] = [labels[~present].sum(), (~present).sum(), np.nan, np.nan]
    grouped = grouped.rename(columns={"sum": "churned", "count": "rows"})
    grouped["rate"] = grouped["churned"] / grouped["rows"]
    return grouped[grouped["rows"] > 0]


def information_value(rates: pd.DataFrame) -> float:
    """IV of a binning (see module doc), with 0.5 added to each bin's churner and stayer counts."""
    churned = rates["churned"] + SMOOTHING
    stayed = rates["rows"] - rates["churned"] + SMOOTHING
    p, q = churned / churned.sum(), stayed / stayed.sum()
    return float(((p - q) * np.log(p / q)).sum())


def _line(rates: pd.DataFrame, *, threshold: float, higher_is_riskier: bool | None) -> str:
    above = rates["rate"] > threshold
    missing = "missing" in rates.index and bool(above.get("missing", False))
    ranked = rates.drop(index="missing", errors="ignore")
    parts = []
    if higher_is_riskier is None:
        hot = ranked.index[above.loc[ranked.index]].tolist()
        if hot:
            parts.append("in {" + ", ".join(sorted(hot)) + "}")
    elif len(ranked):
        ordered = ranked.iloc[::-1] if higher_is_riskier else ranked  # from the risky end inward
        tail_rate = (ordered["churned"].cumsum() / ordered["rows"].cumsum()).to_numpy()
        passing = np.flatnonzero(tail_rate > threshold)
        if len(passing) and passing[-1] == len(ordered) - 1:
            parts.append("any value")
        elif len(passing):
            inner = ordered.iloc[passing[-1]]  # the least extreme cut whose tail still churns above the lift
            parts.append(f"> {_format(inner['low'])}" if higher_is_riskier else f"<= {_format(inner['high'])}")
    if missing:
        parts.append("missing")
    return " or ".join(parts)


def screen_indicator(values: pd.Series, labels: pd.Series, *, bins: int, amber_lift: float,
                     red_lift: float) -> dict:
    """missing_share, iv, auc, higher_is_riskier, amber_line and red_line of one indicator (module doc)."""
    labels = labels.astype("int8")
    categorical = isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object
    rates = bin_rates(values, labels, bins=bins)
    present = values.notna()
    y = labels[present]
    direction: bool | None = None
    auc = np.nan
    if y.nunique() == 2:
        if categorical:
            categories = values[present].astype("category")
            rate = rates["rate"].reindex(categories.cat.categories.astype(str)).to_numpy()
            auc = roc_auc_score(y, rate[categories.cat.codes.to_numpy()])
        else:
            raw = roc_auc_score(y, values[present].astype("float64"))
            direction = bool(raw >= 0.5)
            auc = max(raw, 1 - raw)
    base = float(labels.mean())
    return {
        "missing_share": float(1 - present.mean()),
        "iv": information_value(rates),
        "auc": float(auc),
        "higher_is_riskier": direction,
        "amber_line": _line(rates, threshold=amber_lift * base, higher_is_riskier=direction),
        "red_line": _line(rates, threshold=red_lift * base, higher_is_riskier=direction),
    }


def screen_indicators(features: Iterable[pd.Series], labels: pd.Series, *, bins: int, amber_lift: float,
                      red_lift: float, total: int | None = None) -> pd.DataFrame:
    """One row of screening statistics per named feature Series, aligned with the 0/1 `labels` of the
    labeled training rows; `total` (the number of features) only sizes the progress bar."""
    labels = labels.reset_index(drop=True)
    rows = []
    for values in tqdm(features, desc="screening", unit="feature", total=total):
        stats = screen_indicator(values.reset_index(drop=True), labels, bins=bins, amber_lift=amber_lift,
                                 red_lift=red_lift)
        rows.append({"feature": values.name, **stats})
    return pd.DataFrame(rows)
