"""Scores of churn probabilities: ranking, probability quality, campaign lift, and expected maximum profit.

y is 1 for a churner (churned within the horizon) and 0 for a stayer; p is the predicted churn probability.

EMPC, the expected maximum profit measure for customer churn (Verbraken, Verbeke and Baesens 2013, IEEE
TKDE 25(5), "A novel profit maximizing metric for measuring classification performance of customer churn
prediction models"), written here with churners as the positive class and the highest scores contacted.
A retention campaign contacts the share eta of customers with the highest scores and offers each an
incentive worth d (EUR); each contact costs f. A contacted churner accepts with probability gamma and
stays, worth CLV - d - f, or leaves anyway, costing f; a contacted stayer takes the incentive, costing
d + f. With delta = d / CLV, phi = f / CLV, churn rate pi1, and the ROC point (FPR, TPR) of the cut that
contacts share eta = pi1 TPR + (1 - pi1) FPR, the profit per customer of the base is

    P(eta; gamma) = CLV (gamma (1 - delta) - phi) pi1 TPR  -  CLV (delta + phi) (1 - pi1) FPR.

For fixed gamma the bank contacts the share maximising P. The acceptance rate gamma is uncertain, with a
Beta(alpha, beta) distribution h, so

    EMPC = integral over gamma of  max_eta P(eta; gamma) h(gamma) dgamma,

and the profit-optimal share is the expected maximising eta. For each cut, P is a line a + b gamma in
gamma, so max_eta P is the upper envelope of the lines: piecewise linear with breakpoints g_k. On a piece
[g_k, g_k+1] the integral is exact with the Beta CDF I_x(alpha, beta), because gamma h_(alpha, beta)(gamma)
= alpha / (alpha + beta) h_(alpha + 1, beta)(gamma):

    integral of (a + b gamma) h = a [I(alpha, beta)]_g_k^g_k+1 + b alpha/(alpha+beta) [I(alpha+1, beta)]_g_k^g_k+1.

No grid and no Monte Carlo: the result is exact up to floating point. The cuts include contacting nobody
(profit 0), so EMPC >= 0. Worked example (tests/test_metrics.py): four customers with scores 0.9, 0.8,
0.3, 0.1 and labels 1, 0, 1, 0, CLV 200, d 10, f 1, gamma ~ Beta(1, 1). The cuts give the lines 0,
47.5 gamma - 0.25 (contact 1), 47.5 gamma - 3 (2), 95 gamma - 3.25 (3) and 95 gamma - 6 (4); the envelope
is 0 up to gamma = 1/190, then contact 1 up to 6/95, then contact 3. So
EMPC = [23.75 g^2 - 0.25 g] from 1/190 to 12/190 + [47.5 g^2 - 3.25 g] from 12/190 to 1
     = (23.75 * 143 / 36100 - 0.25 * 11 / 190) + (47.5 * (36100 - 144) / 36100 - 3.25 * 178 / 190)
     = 0.0796053 + 44.2657895 = 44.3453947 EUR per customer,
and the profit-optimal share is 0.25 * 11/190 + 0.75 * 178/190 = 136.25 / 190 = 0.7171053.
"""

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve


def expected_calibration_error(y, p, *, bins: int, strategy: str = "quantile") -> float:
    """ECE = sum over bins of (rows in bin / rows) * |churn rate in bin - mean probability in bin|.

    `quantile` bins hold equal numbers of rows (churn probabilities crowd near 0, where equal-width bins
    would put almost every row in the first bin); `uniform` bins have equal width on [0, 1] (Guo et al. 2017).
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    if strategy == "quantile":
        order = np.argsort(p, kind="stable")
        groups = [g for g in np.array_split(order, bins) if len(g)]
    elif strategy == "uniform":
        index = np.minimum((p * bins).astype(int), bins - 1)
        groups = [np.flatnonzero(index == b) for b in range(bins)]
        groups = [g for g in groups if len(g)]
    else:
        raise ValueError(f"ECE strategy must be 'quantile' or 'uniform', not {strategy!r}")
    return float(sum(len(g) * abs(y[g].mean() - p[g].mean()) for g in groups) / len(y))


def top_share(y, p, *, share: float) -> tuple[float, float]:
    """(lift, recall) when contacting the `share` of rows with the highest p: churn rate there / overall
    churn rate, and the share of all churners caught. Ties at the cut are broken by row order."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    k = max(1, int(np.ceil(share * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean()), float(y[top].sum() / y.sum())


def gains_curve(y, p, *, points: int = 101) -> pd.DataFrame:
    """Cumulative gains and lift: share contacted (highest p first), share of churners caught, lift."""
    y = np.asarray(y, float)[np.argsort(-np.asarray(p, float), kind="stable")]
    caught = np.cumsum(y) / y.sum()
    shares = np.linspace(0.01, 1.0, points - 1)
    k = np.maximum(1, np.ceil(shares * len(y)).astype(int))
    return pd.DataFrame({"contacted": np.r_[0.0, shares], "churners_caught": np.r_[0.0, caught[k - 1]],
                         "lift": np.r_[np.nan, caught[k - 1] / (k / len(y))]})


def _upper_envelope(intercept: np.ndarray, slope: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Lines on the upper envelope of a + b x (by increasing slope) and the x where each hands over."""
    order = np.lexsort((intercept, slope))
    hull: list[int] = []
    for i in order:
        while hull and slope[hull[-1]] == slope[i]:
            hull.pop()  # same slope: the later one has the larger intercept
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            # k is useless if line i overtakes j no later than k does
            if (intercept[j] - intercept[i]) * (slope[k] - slope[j]) <= \
                    (intercept[j] - intercept[k]) * (slope[i] - slope[j]):
                hull.pop()
            else:
                break
        hull.append(int(i))
    a, b = intercept[hull], slope[hull]
    return hull, (a[:-1] - a[1:]) / (b[1:] - b[:-1])


def empc(y, p, *, clv: float, incentive_cost: float, contact_cost: float, acceptance_alpha: float,
         acceptance_beta: float) -> tuple[float, float]:
    """(EMPC in EUR per customer, profit-optimal share of customers to contact); see the module docstring."""
    y = np.asarray(y, int)
    pi1 = y.mean()
    fpr, tpr, _ = roc_curve(y, np.asarray(p, float), drop_intermediate=False)
    delta, phi = incentive_cost / clv, contact_cost / clv
    slope = clv * (1 - delta) * pi1 * tpr
    intercept = -clv * phi * pi1 * tpr - clv * (delta + phi) * (1 - pi1) * fpr
    share = pi1 * tpr + (1 - pi1) * fpr
    hull, breaks = _upper_envelope(intercept, slope)
    edges = np.clip(np.r_[0.0, breaks, 1.0], 0.0, 1.0)
    edges = np.maximum.accumulate(edges)
    mass = np.diff(beta_dist.cdf(edges, acceptance_alpha, acceptance_beta))
    mean = acceptance_alpha / (acceptance_alpha + acceptance_beta)
    first_moment = mean * np.diff(beta_dist.cdf(edges, acceptance_alpha + 1, acceptance_beta))
    value = float(np.sum(intercept[hull] * mass + slope[hull] * first_moment))
    return value, float(np.sum(share[hull] * mass))


def score_probabilities(y, p, *, ece_bins: int, ece_strategy: str, top: float, profit: dict) -> dict[str, float]:
    """Every test metric of one model's churn probabilities `p` against labels `y`."""
    y, p = np.asarray(y, int), np.clip(np.asarray(p, float), 1e-7, 1 - 1e-7)
    lift, recall = top_share(y, p, share=top)
    value, share = empc(y, p, **profit)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p, bins=ece_bins, strategy=ece_strategy),
        "lift_top_decile": lift,
        "recall_top_decile": recall,
        "empc": value,
        "empc_share": share,
        "churn_rate": float(y.mean()),
        "rows": float(len(y)),
    }
