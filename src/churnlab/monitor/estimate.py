"""Performance without labels (confidence-based estimation) and with them (the backtest).

Churn labels arrive H months late. Until then, if the model is calibrated, each customer's label is a draw
y_i ~ Bernoulli(p_i) from the model's own probability, and the expected performance follows from the
probabilities alone (NannyML's CBPE, after Guo et al. 2017):

- expected churn rate = mean of p;
- expected ROC-AUC = sum over pairs (i, j) of p_i (1 - p_j) [s_i > s_j] (ties count 1/2), divided by the
  sum over pairs i != j of p_i (1 - p_j): the probability that a churner outranks a stayer, with the
  churner drawn in proportion to p and the stayer in proportion to 1 - p (a ratio of expectations, exact
  as n grows). Here the ranking score s is p itself. Sorted by p, the numerator is one cumulative sum,
  so the estimate costs O(n log n).

Worked example (tests/monitor/test_estimate.py): p = (0.8, 0.5, 0.1). Pairs ranked i above j contribute
0.8 * 0.5 + 0.8 * 0.9 + 0.5 * 0.9 = 1.57; all pairs add 0.5 * 0.2 + 0.1 * 0.2 + 0.1 * 0.5 = 0.17, so the
expected AUC is 1.57 / 1.74 = 0.902299.

The estimate is only as good as the calibration it assumes. It tracks decay caused by a shift in who the
customers are (covariate shift); it cannot see a change in how the same customers behave (concept shift:
a competitor's offer makes every customer likelier to leave than the model says). The backtest on months
whose labels have arrived measures how far off the estimate was.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churnlab.model.metrics import expected_calibration_error


def expected_auc(p) -> float:
    """The ROC-AUC expected if each label were Bernoulli(p_i), ranking by p (see the module docstring)."""
    p = np.asarray(p, float)
    if len(p) < 2:
        return float("nan")
    values, inverse = np.unique(p, return_inverse=True)  # ascending; ties are one group
    pos = np.bincount(inverse, weights=p)        # expected churners per distinct score
    neg = np.bincount(inverse, weights=1 - p)    # expected stayers per distinct score
    below = np.cumsum(neg) - neg                 # expected stayers strictly below each score
    within = pos * neg - np.bincount(inverse, weights=p * (1 - p))  # pairs i != j inside a tie group
    numerator = (pos * below).sum() + 0.5 * within.sum()
    denominator = p.sum() * (1 - p).sum() - (p * (1 - p)).sum()
    return float(numerator / denominator) if denominator > 0 else float("nan")


def simulated_auc(p, *, draws: int, rng: np.random.Generator) -> np.ndarray:
    """ROC-AUC of `draws` label sets drawn as Bernoulli(p): the spread of the realised AUC around the estimate."""
    p = np.asarray(p, float)
    out = np.full(draws, np.nan)
    for k in range(draws):
        y = rng.random(len(p)) < p
        if 0 < y.sum() < len(y):
            out[k] = roc_auc_score(y, p)
    return out


def estimate_performance(p, *, draws: int, rng: np.random.Generator, level: float = 0.9) -> dict[str, float]:
    """Label-free estimate for one month: expected churn rate and AUC, with a `level` band for the AUC."""
    p = np.asarray(p, float)
    spread = simulated_auc(p, draws=draws, rng=rng) if draws else np.array([np.nan])
    lo, hi = np.nanquantile(spread, [(1 - level) / 2, (1 + level) / 2]) if np.isfinite(spread).any() \
        else (np.nan, np.nan)
    return {"expected_churn_rate": float(p.mean()), "expected_auc": expected_auc(p),
            "expected_auc_low": float(lo), "expected_auc_high": float(hi)}


def realised_performance(y, p, *, ece_bins: int) -> dict[str, float]:
    """Realised metrics once labels are in: ROC-AUC, PR-AUC, Brier, ECE, churn rate and mean p."""
    y, p = np.asarray(y, int), np.asarray(p, float)
    both = 0 < y.sum() < len(y)
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "ece": expected_calibration_error(y, p, bins=ece_bins) if len(y) else float("nan"),
        "churn_rate": float(y.mean()) if len(y) else float("nan"),
        "mean_p": float(p.mean()) if len(p) else float("nan"),
    }


def backtest(scores: pd.DataFrame, *, draws: int, ece_bins: int, seed: int) -> pd.DataFrame:
    """Per month of `scores` (month, p_churn, label, complete): the estimate and, where complete, the realised.

    `complete` marks months whose every label has arrived (t + H <= the last data month); their realised
    metrics use all rows. Columns end in `_error` for estimate minus realised.
    """
    rows = []
    for month, group in scores.groupby("month", sort=True):
        rng = np.random.default_rng([seed, int(pd.Timestamp(month).strftime("%Y%m"))])
        row = {"month": month, "rows": len(group),
               **estimate_performance(group["p_churn"], draws=draws, rng=rng)}
        if bool(group["complete"].all()):
            row.update(realised_performance(group["label"].astype(int), group["p_churn"], ece_bins=ece_bins))
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("auc", "churn_rate"):
        if column not in table:
            table[column] = np.nan
    table["auc_error"] = table["expected_auc"] - table["auc"]
    table["churn_rate_error"] = table["expected_churn_rate"] - table["churn_rate"]
    return table
