"""The same held-out numbers for every survival model, on the time since entry (months).

A model provides S(u | x) for u = 1..G months after a test customer's entry. From it:

- Harrell's C and Uno's C (IPCW, truncated at `tau`) of the risk 1 - S(risk_months | x);
- time-dependent cumulative/dynamic AUC at 6, 12, 24 months (Uno et al. 2007, IPCW);
- the integrated Brier score with IPCW (Graf et al. 1999) over months 1..`ibs_months`;
- calibration at the horizon: ICI (Austin, Harrell & van Klaveren 2020: the mean |predicted - smoothed
  observed| probability, the smoother a Cox model on a spline of the complementary log-log prediction)
  and predicted vs observed (Kaplan-Meier) by decile of the prediction.

The IPCW metrics are scikit-survival's (the censoring distribution comes from the training customers);
lifelines has no Brier score. Its Uno's C compares every pair (O(n^2): about 90 s at 300,000 customers), so the
stage scores at most `evaluation.max_customers` held-out customers (`comparison.held_out_sample`).
"""

import logging
import warnings

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import concordance_index
from sksurv.metrics import (
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

from churnlab.survival.design import survival_array

log = logging.getLogger(__name__)


def harrell_c(frame: pd.DataFrame, risk: np.ndarray) -> float:
    """Harrell's C of `risk` against the residual time and event of `frame` (tied risks count one half).

    lifelines' O(n log n) count (a higher score there means a longer life, hence -risk); scikit-survival's
    `concordance_index_censored` gives the same value but compares every pair, O(n^2): 90 s at 300,000 customers.
    """
    event = frame["churned"].to_numpy().astype(bool)
    return float(concordance_index(frame["residual"].to_numpy(float), -np.asarray(risk, float), event))


def spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted (natural) cubic spline basis (Harrell): x and one column per inner knot, linear in the tails."""
    k = np.asarray(knots, dtype=float)
    norm = (k[-1] - k[0]) ** 2
    cube = lambda u: np.clip(u, 0, None) ** 3  # noqa: E731
    columns = [x]
    for j in range(len(k) - 2):
        columns.append((cube(x - k[j]) - cube(x - k[-2]) * (k[-1] - k[j]) / (k[-1] - k[-2])
                        + cube(x - k[-1]) * (k[-2] - k[j]) / (k[-1] - k[-2])) / norm)
    return np.column_stack(columns)


def ici(time: np.ndarray, event: np.ndarray, predicted: np.ndarray, *, horizon: float) -> float:
    """Integrated calibration index of predicted P(T <= horizon) (Austin, Harrell & van Klaveren 2020).

    The observed probability is smoothed by a Cox model of the observed times on a restricted cubic spline
    (3 knots at the 10/50/90th percentiles) of cloglog(predicted), the paper's Cox-with-splines variant;
    ICI is the mean |smoothed observed - predicted|. (lifelines' survival_probability_calibration uses a
    parametric spline hazard model instead, which often fails to converge on month-level ties.)
    """
    p = np.clip(predicted, 1e-10, 1 - 1e-10)
    ccl = np.log(-np.log(1 - p))
    knots = np.unique(np.percentile(ccl, [10, 50, 90]))
    basis = spline_basis(ccl, knots) if len(knots) == 3 else ccl[:, None]
    frame = pd.DataFrame(basis, columns=[f"s{j}" for j in range(basis.shape[1])])
    frame["T"], frame["E"] = time, event.astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cox = CoxPHFitter(penalizer=1e-4).fit(frame, "T", "E")
        observed = 1 - cox.predict_survival_function(frame.drop(columns=["T", "E"]), times=[horizon]).to_numpy()
    return float(np.mean(np.abs(observed.ravel() - p)))


def calibration_by_decile(frame: pd.DataFrame, predicted: np.ndarray, *, horizon: int) -> pd.DataFrame:
    """Mean predicted P(churn by horizon) against 1 - Kaplan-Meier within each decile of the prediction."""
    decile = pd.qcut(pd.Series(predicted).rank(method="first"), 10, labels=False)
    rows = []
    for d, idx in decile.groupby(decile).groups.items():
        part = frame.iloc[np.asarray(idx)]
        kmf = KaplanMeierFitter().fit(part["residual"], part["churned"])
        rows.append({"decile": int(d) + 1, "customers": len(part), "predicted": float(predicted[idx].mean()),
                     "observed": float(1 - kmf.predict(horizon))})
    return pd.DataFrame(rows)


def evaluate(survival: np.ndarray, months: np.ndarray, train: pd.DataFrame, test: pd.DataFrame, *,
             risk_months: int, auc_months: list[int], ibs_months: int, horizon: int, tau: float) -> dict:
    """Every held-out metric of one model; `survival[i, j]` is S(months[j] | x_i) for test customer i."""
    col = {int(m): j for j, m in enumerate(months)}
    # IPCW needs a positive censoring survival at every test time: follow-up past `tau` is cut at tau + 1; no
    # metric below looks beyond tau. Everyone still followed at the last month of the window is censored there,
    # so the censoring survival is 0 at that month: the cut must fall at least one month before it.
    y_train, y_test = survival_array(train), survival_array(test)
    follow_up = y_test["time"].max()
    if tau + 1 >= follow_up:  # a short window (a ledger's 14 months, a 36-month bank): Uno's C up to a month before
        log.warning("follow-up ends at %g months: Uno's C truncated at %g, not at %g", follow_up, follow_up - 2, tau)
        tau = follow_up - 2
    late = y_test["time"] > tau + 1
    y_test["event"][late], y_test["time"][late] = False, tau + 1
    risk = 1 - survival[:, col[risk_months]]
    metrics = {"c_index_harrell": harrell_c(test, risk),
               "c_index_uno": float(concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0])}
    # IPCW needs every time inside the test follow-up: a coarse (whole-year) or short one drops some
    first, end = y_test["time"].min(), y_test["time"].max()
    inside = [m for m in auc_months if first <= m < end]
    if len(inside) < len(auc_months):
        log.warning("time-dependent AUC at %s months is outside the test follow-up (%g..%g): reported as null",
                    sorted(set(auc_months) - set(inside)), first, end)
    metrics |= {f"td_auc_{m}": None for m in auc_months}
    if inside:
        aucs, _ = cumulative_dynamic_auc(y_train, y_test, 1 - survival[:, [col[m] for m in inside]],
                                         np.asarray(inside, float))
        metrics |= {f"td_auc_{m}": float(a) for m, a in zip(inside, aucs, strict=True)}
    grid = np.arange(1, ibs_months + 1)
    grid = grid[(grid >= first) & (grid < end)]
    metrics["ibs"] = float(integrated_brier_score(y_train, y_test, survival[:, [col[m] for m in grid]], grid))
    at_horizon = 1 - survival[:, col[horizon]]
    metrics["ici"] = ici(test["residual"].to_numpy(float), test["churned"].to_numpy(), at_horizon, horizon=horizon)
    return metrics


def oracle_scores(test: pd.DataFrame, truth: pd.DataFrame, risks: dict[str, np.ndarray], *, column: str) -> dict:
    """Harrell's C of the simulator's true risk and of each model's risk on the same test customers.

    Customers without a true risk (those who churned in their entry month) are left out of both, so the
    ratio (C_model - 0.5) / (C_oracle - 0.5) compares like with like.
    """
    true_risk = test["customer_id"].map(truth.set_index("customer_id")[column]).to_numpy(float)
    keep = ~np.isnan(true_risk)
    same = test.loc[keep]
    oracle = harrell_c(same, true_risk[keep])
    out = {"oracle_c_index": oracle, "oracle_customers": int(keep.sum())}
    for name, risk in risks.items():
        c = harrell_c(same, risk[keep])
        out[name] = {"c_index_harrell_oracle_set": c, "oracle_ratio": (c - 0.5) / (oracle - 0.5)}
    return out
