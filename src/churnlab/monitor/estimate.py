"""Performance without labels (confidence-based estimation) and with them (the backtest).

Churn labels arrive H months late: the labels of month m ("churned within (m, m + H]") are all known at the end of
month m + H. Until then the performance of month t is estimated from the scores alone (NannyML's CBPE, after Guo et
al. 2017). If q_i is customer i's true churn probability and the labels are independent draws y_i ~ Bernoulli(q_i):

- expected churn rate = mean of q;
- expected ROC-AUC of the ranking score s = sum over pairs (i, j) of q_i (1 - q_j) [s_i > s_j] (ties count 1/2),
  divided by the sum over pairs i != j of q_i (1 - q_j): the probability that a churner outranks a stayer, with
  the churner drawn in proportion to q and the stayer in proportion to 1 - q (a ratio of expectations, exact as n
  grows). Sorted by s, the numerator is one cumulative sum, so the estimate costs O(n log n).

Which q. Using the model's own probability (q = s = p) assumes p is calibrated customer by customer on the month
being estimated; calibration in the large (mean p = churn rate) and a logistic calibration slope of 1 are not
enough, because the expected AUC is decided inside the bulk of low scores. The default champion failed exactly
there: its Platt step (scikit-learn's sigmoid) is fitted on the booster's probability rather than on its log-odds,
which squeezes the lower 95 % of customers into p = 0.055-0.09 while the simulator's true probabilities for them
span 0.02-0.03 to 0.10-0.17 (1st to 99th percentile), so q = p gave 0.68 where the realised AUC was 0.77. Hence
q = g(p), where g is an isotonic regression of the labels on p over the latest labelled month(s) known at scoring
time (`recalibration_rows`): monotone, so the ranking and the realised AUC are p's own; only the weights change.
Out-of-time months are preferred; the training cutoffs serve until the first monitored month's labels are in (for
H months), and on them the model is in-sample, so the estimate is then optimistic by about the train - out-of-time
AUC gap (~0.02 on the default data). Without any labelled month, q = p.

What the estimate means: the AUC month t would have if customers with score p churned as often as customers with
score p did in the calibration month. It follows decay caused by a shift in who the customers are (covariate
shift); it cannot see a change in how the same customers behave after the calibration month (concept shift: a
competitor's offer makes every customer likelier to leave than the model says) until those labels arrive. The
backtest on months whose labels have arrived measures how far off the estimate was.

Worked examples (tests/monitor/test_estimate.py), rows ranked s = (0.8, 0.5, 0.1):
- q = s: ranked pairs add 0.8 * 0.5 + 0.8 * 0.9 + 0.5 * 0.9 = 1.57, reversed ones 0.5 * 0.2 + 0.1 * 0.2 + 0.1 * 0.5
  = 0.17, so the expected AUC is 1.57 / 1.74 = 0.902299;
- q = (0.5, 0.5, 0): ranked pairs 0.25 + 0.5 + 0.5 = 1.25, reversed 0.25, so 1.25 / 1.5 = 5/6 (the three label
  sets with a churner, equally likely, give AUC 1, 1 and 1/2).
"""

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from churnlab.contract.tables import month_number
from churnlab.model.metrics import expected_calibration_error


def expected_auc(s, q=None) -> float:
    """The ROC-AUC of ranking by `s` expected when label i is Bernoulli(q_i); q = s when omitted (module docstring)."""
    s = np.asarray(s, float)
    q = s if q is None else np.asarray(q, float)
    if len(s) < 2:
        return float("nan")
    _, inverse = np.unique(s, return_inverse=True)  # ascending; ties are one group
    pos = np.bincount(inverse, weights=q)        # expected churners per distinct score
    neg = np.bincount(inverse, weights=1 - q)    # expected stayers per distinct score
    below = np.cumsum(neg) - neg                 # expected stayers strictly below each score
    within = pos * neg - np.bincount(inverse, weights=q * (1 - q))  # pairs i != j inside a tie group
    numerator = (pos * below).sum() + 0.5 * within.sum()
    denominator = q.sum() * (1 - q).sum() - (q * (1 - q)).sum()
    return float(numerator / denominator) if denominator > 0 else float("nan")


def recalibration(p, y) -> IsotonicRegression | None:
    """Isotonic map from score to churn rate fitted on labelled rows (p, y); None without both churners and stayers."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    if not 0 < y.sum() < len(y):
        return None
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)


def recalibrated_auc(p, y) -> float:
    """Expected AUC of labelled rows under their own isotonic map (the reference period's value; q = p if one class)."""
    p = np.asarray(p, float)
    fitted = recalibration(p, y)
    return expected_auc(p, None if fitted is None else fitted.predict(p))


def recalibration_rows(labelled: pd.DataFrame, history: pd.DataFrame | None, month, *, horizon_months: int,
                       months: int) -> pd.DataFrame:
    """The labelled rows known at the end of `month` that calibrate its estimate (empty frame when none).

    Known: rows of months m with m + H <= `month`. The latest `months` such monitored months of `labelled`
    (out of time); only while there is none, the latest `months` such cutoffs of `history` (the training
    reference, in-sample for the model). Both frames hold month, p_churn and label (NA where unknown).
    """
    latest = month_number(pd.Timestamp(month)) - horizon_months
    for frame in (labelled, history):
        if frame is None or frame.empty:
            continue
        known = frame[frame["label"].notna() & (month_number(pd.to_datetime(frame["month"])) <= latest)]
        if not known.empty:
            keep = np.sort(known["month"].unique())[-months:]
            return known[known["month"].isin(keep)]
    return labelled.iloc[:0]


def simulated_auc(s, q, *, draws: int, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """ROC-AUC of ranking by `s` on `draws` label sets drawn as Bernoulli(q): the realised AUC's sampling spread.

    A month of at most `max_rows` rows is drawn on every row. A larger one is drawn on a sample of `max_rows` rows
    (picked by `rng` before the labels: one ROC-AUC over every row of a month, `draws` times, is the stage's cost at
    scale), and each draw is mapped back to the month's size: its deviation from the sample's expected AUC, times
    sqrt(max_rows / rows), around the month's own expected AUC. The realised AUC is asymptotically a mean over rows,
    so its spread from label noise falls as 1 / sqrt(rows) (measured: 0.8 / sqrt(rows) at a churn rate of 8 %):
    the sample sets the band's width, every row its centre.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows (params monitor.auc_band_rows) must be at least 1, got {max_rows}")
    s, q = np.asarray(s, float), np.asarray(q, float)
    if len(s) <= max_rows:
        return label_draws_auc(s, q, draws=draws, rng=rng)
    pick = rng.choice(len(s), size=max_rows, replace=False)
    spread = label_draws_auc(s[pick], q[pick], draws=draws, rng=rng) - expected_auc(s[pick], q[pick])
    return expected_auc(s, q) + np.sqrt(max_rows / len(s)) * spread


def label_draws_auc(s, q, *, draws: int, rng: np.random.Generator) -> np.ndarray:
    """ROC-AUC of ranking by `s` on each of `draws` label sets drawn as Bernoulli(q) (NaN for a draw of one class)."""
    out = np.full(draws, np.nan)
    for k in range(draws):
        y = rng.random(len(s)) < q
        if 0 < y.sum() < len(y):
            out[k] = roc_auc_score(y, s)
    return out


def estimate_performance(p, *, q=None, draws: int, max_rows: int, rng: np.random.Generator,
                         level: float = 0.9) -> dict[str, float]:
    """Label-free estimate for one month scored `p`: expected churn rate and AUC under labels ~ Bernoulli(q).

    `q` is the recalibrated probability (q = p when omitted: calibration assumed). The `level` band covers the
    sampling noise of the realised AUC around the estimate, not an error of the calibration map; its `draws` are
    made on at most `max_rows` rows (`simulated_auc`).
    """
    p = np.asarray(p, float)
    q = p if q is None else np.asarray(q, float)
    spread = simulated_auc(p, q, draws=draws, max_rows=max_rows, rng=rng) if draws else np.array([np.nan])
    lo, hi = np.nanquantile(spread, [(1 - level) / 2, (1 + level) / 2]) if np.isfinite(spread).any() \
        else (np.nan, np.nan)
    return {"expected_churn_rate": float(q.mean()), "expected_auc": expected_auc(p, q),
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


def backtest(scores: pd.DataFrame, *, history: pd.DataFrame | None = None, horizon_months: int,
             recalibration_months: int, draws: int, max_rows: int, ece_bins: int, seed: int) -> pd.DataFrame:
    """Per month of `scores` (month, p_churn, label, complete): the estimate and, where complete, the realised.

    Each month's estimate is recalibrated on the rows `recalibration_rows` picks from `scores` and `history`
    (the training reference: month = cutoff, p_churn, label), so it uses only labels known at its scoring time;
    `recalibrated_on` is the latest month those rows come from (NaT: none, q = p). `complete` marks months
    whose every label has arrived (t + H <= the last data month); their realised metrics use all rows. The band's
    `draws` are made on at most `max_rows` rows of a month (`simulated_auc`), picked from the month's seed.
    Columns end in `_error` for estimate minus realised.
    """
    labelled = scores.loc[scores["label"].notna(), ["month", "p_churn", "label"]]
    rows = []
    for month, group in scores.groupby("month", sort=True):
        rng = np.random.default_rng([seed, int(pd.Timestamp(month).strftime("%Y%m"))])
        calibration = recalibration_rows(labelled, history, month, horizon_months=horizon_months,
                                         months=recalibration_months)
        fitted = recalibration(calibration["p_churn"], calibration["label"].astype(int))
        p = group["p_churn"].to_numpy(float)
        q = None if fitted is None else fitted.predict(p)
        row = {"month": month, "rows": len(group),
               **estimate_performance(p, q=q, draws=draws, max_rows=max_rows, rng=rng),
               "recalibrated_on": pd.NaT if fitted is None else pd.Timestamp(calibration["month"].max())}
        if bool(group["complete"].all()):
            row.update(realised_performance(group["label"].astype(int), p, ece_bins=ece_bins))
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("auc", "churn_rate"):
        if column not in table:
            table[column] = np.nan
    table["auc_error"] = table["expected_auc"] - table["auc"]
    table["churn_rate_error"] = table["expected_churn_rate"] - table["churn_rate"]
    return table
