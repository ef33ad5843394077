"""The Cox model with delayed entry and Efron's ties, fitted exactly from per-month counts by covariate pattern.

With a few categorical covariates, customers fall into K patterns (segment x region: 6 cells), and the Cox
partial likelihood depends on them only through, for each pattern p and month t, n_pt customers at risk
(entry < t <= exit) and d_pt events: the `at_risk` and `events` of `aggregated.month_counts` with the pattern as
the level. The engine sums those counts over all partitions (`pattern_counting`), so the fit uses every customer,
not a sample; the table has K x (months) rows, whatever the number of customers.

Efron's partial log-likelihood (the tie handling of lifelines' CoxPHFitter): with r_p = exp(x_p b), at each month
t with D events,

    l(b) = sum_t [ sum_p d_pt x_p b  -  sum_{l=0}^{D-1} log(S0_t - (l / D) T0_t) ],
    S0_t = sum_p n_pt r_p  (the risk set),  T0_t = sum_p d_pt r_p  (the month's events);

its gradient and Hessian use the same sums weighted by x_p and x_p x_p'. Newton-Raphson from b = 0, halving a step
that lowers l, until the step is below `tolerance`; standard errors from the inverse of -Hessian. Covariates are
coded as indicators, the first level (in text order) the reference, named `<covariate>_<level>` as
pandas.get_dummies names them, so the coefficients are lifelines' on those columns (tests check 1e-6).
"""

import numpy as np
import pandas as pd
from scipy import stats

from churnlab.survival.aggregated import Counting, at_risk_at

SEPARATOR = "|"  # between the levels in a pattern; no level may contain it


def pattern_counting(covariates: list[str], *, entry: str, exit: str, event: str) -> Counting:
    """What to count for the Cox fit: the months as `Counting` (SQL expressions), the level the covariate pattern
    (the columns' values joined by SEPARATOR; a customer with a missing covariate is left out)."""
    level = f" || '{SEPARATOR}' || ".join(f'CAST("{c}" AS VARCHAR)' for c in covariates)
    return Counting(entry=entry, exit=exit, event=event, level=level)


def design(patterns: list[str], covariates: list[str]) -> pd.DataFrame:
    """Indicator coding of the `patterns` (rows) of `covariates`: one column `<covariate>_<level>` per level but
    the first in text order (the reference)."""
    split = [p.split(SEPARATOR) for p in patterns]
    if any(len(levels) != len(covariates) for levels in split):
        raise ValueError(f"a pattern has not {len(covariates)} levels: does a level contain {SEPARATOR!r}?")
    levels = pd.DataFrame(split, columns=covariates, index=patterns)
    columns = {f"{c}_{level}": (levels[c] == level).astype(float)
               for c in covariates for level in sorted(levels[c].unique())[1:]}
    return pd.DataFrame(columns, index=patterns)


def risk_sets(counts: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The patterns, and for each month with an event (rows) and pattern (columns) the customers at risk and the
    events, from one grouping's counts."""
    parts = dict(tuple(counts.groupby("level", sort=True)))
    times = np.unique(counts.loc[counts["events"] > 0, "time"])
    at_risk = np.column_stack([at_risk_at(part, times) for part in parts.values()]).astype(float)
    events = np.column_stack([part.set_index("time")["events"].reindex(times, fill_value=0).to_numpy()
                              for part in parts.values()]).astype(float)
    return list(parts), at_risk, events


def efron(x: np.ndarray, at_risk: np.ndarray, events: np.ndarray, beta: np.ndarray) -> tuple[float, np.ndarray,
                                                                                              np.ndarray]:
    """Efron's partial log-likelihood, its gradient and Hessian at `beta`; `x` is patterns x coefficients,
    `at_risk` and `events` months x patterns (`risk_sets`)."""
    r = np.exp(x @ beta)
    xx = np.einsum("ka,kb->kab", x, x)
    s0, s1, s2 = at_risk @ r, (at_risk * r) @ x, np.einsum("tk,kab->tab", at_risk * r, xx)
    t0, t1, t2 = events @ r, (events * r) @ x, np.einsum("tk,kab->tab", events * r, xx)
    loglik = float((events @ (x @ beta)).sum())
    gradient = (events @ x).sum(axis=0)
    hessian = np.zeros((len(beta), len(beta)))
    for t, deaths in enumerate(events.sum(axis=1)):
        share = np.arange(int(round(deaths))) / deaths
        denom = s0[t] - share * t0[t]
        numer = s1[t] - np.outer(share, t1[t])
        loglik -= float(np.log(denom).sum())
        gradient -= (numer / denom[:, None]).sum(axis=0)
        second = (s2[t] * (1 / denom).sum() - t2[t] * (share / denom).sum())
        hessian -= second - np.einsum("la,lb->ab", numer / denom[:, None], numer / denom[:, None])
    return loglik, gradient, hessian


def fit_cox(counts: pd.DataFrame, covariates: list[str], *, tolerance: float = 1e-10,
            max_steps: int = 100) -> pd.DataFrame:
    """Cox PH coefficients from one grouping's counts by covariate pattern (`pattern_counting`): a row per
    indicator with coef (log hazard ratio against the reference level), hazard_ratio, se, z and p (Wald); the
    attribute `log_likelihood` holds Efron's partial log-likelihood at the fit. ArithmeticError if Newton does
    not converge in `max_steps` (a level with no events gives an infinite coefficient)."""
    patterns, at_risk, events = risk_sets(counts)
    x_frame = design(patterns, covariates)
    x = x_frame.to_numpy()
    beta = np.zeros(x.shape[1])
    loglik, gradient, hessian = efron(x, at_risk, events, beta)
    for _ in range(max_steps):
        step = np.linalg.solve(hessian, gradient)
        candidate = beta - step
        new = efron(x, at_risk, events, candidate)
        while new[0] < loglik - 1e-12 and np.abs(step).max() > tolerance:  # overshot: halve the step
            step = step / 2
            candidate = beta - step
            new = efron(x, at_risk, events, candidate)
        beta, (loglik, gradient, hessian) = candidate, new
        if np.abs(step).max() < tolerance:
            break
    else:
        raise ArithmeticError(f"Cox fit did not converge in {max_steps} Newton steps (a level without events?)")
    se = np.sqrt(np.diag(np.linalg.inv(-hessian)))
    table = pd.DataFrame({"coef": beta, "hazard_ratio": np.exp(beta), "se": se, "z": beta / se,
                          "p": 2 * stats.norm.sf(np.abs(beta / se))}, index=pd.Index(x_frame.columns, name="covariate"))
    table.attrs["log_likelihood"] = loglik
    return table
