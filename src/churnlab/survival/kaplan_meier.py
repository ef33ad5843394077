"""Descriptive survival: Kaplan-Meier curves with left truncation, log-rank tests, competing-risk incidence.

Kaplan-Meier with delayed entry: S(t) = prod over event times s <= t of (1 - d_s / n_s), where the risk set
n_s counts customers with entry < s <= duration. A customer who opened before the data window is in the
risk set only from the tenure at which the window first sees them; counting them from tenure 0 would
credit them with months nobody observed (survivor bias: customers who left earlier are never seen).
"""

import logging

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy import stats

log = logging.getLogger(__name__)

LOGRANK_COLUMNS = ["group", "levels", "test_statistic", "p_value", "degrees_of_freedom"]


def fit_km(durations, events, entry=None, *, label: str = "KM") -> KaplanMeierFitter:
    """Kaplan-Meier fit with optional delayed entry (lifelines' `entry`) and 95 % Greenwood bands."""
    return KaplanMeierFitter(label=label).fit(durations, event_observed=events, entry=entry)


def _step(frame: pd.DataFrame, times) -> np.ndarray:
    """Right-continuous step function `frame` (index: time) evaluated at `times`; NaN after its last time.

    A Kaplan-Meier curve is known only up to the longest follow-up: carried flat beyond it, a curve since entry
    would claim survival for months no customer has been followed (a 48-month window drawn out to 120 months).
    """
    index = frame.index.to_numpy()
    times = np.asarray(times, dtype=float)
    pos = np.searchsorted(index, times, side="right") - 1
    values = frame.to_numpy()[np.clip(pos, 0, None)].astype(float)
    values[pos < 0] = 1.0
    values[times > index[-1]] = np.nan
    return values


def km_summary(kmf: KaplanMeierFitter, *, times: list[int]) -> dict:
    """Median lifetime (months; inf when the curve never reaches 0.5) and S(t) with 95 % bands at `times`."""
    median = float(kmf.median_survival_time_)
    bands = median_survival_times(kmf.confidence_interval_)
    out = {"n": int(kmf.event_observed.size), "events": int(kmf.event_observed.sum()), "median_months": median,
           "median_lower": float(bands.iloc[0, 0]), "median_upper": float(bands.iloc[0, 1])}
    surv = _step(kmf.survival_function_, times)[:, 0]
    band = _step(kmf.confidence_interval_survival_function_, times)
    for t, s, (lo, hi) in zip(times, surv, band, strict=True):
        out |= {f"survival_{t}m": float(s), f"survival_{t}m_lower": float(lo), f"survival_{t}m_upper": float(hi)}
    return out


def km_by_group(lifetimes: pd.DataFrame, group: str, *, duration: str, entry: str | None, event: str,
                times: list[int], grid: np.ndarray, min_size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KM per level of `group`: a summary row per level and the curves on `grid` (wide: one column per level).

    Levels with fewer than `min_size` customers are left out (their curve would be noise).
    """
    rows, curves = [], {"time": grid}
    for level, part in lifetimes.groupby(group, observed=True, sort=True):
        if len(part) < min_size:
            continue
        kmf = fit_km(part[duration], part[event], part[entry] if entry else None, label=str(level))
        rows.append({"group": group, "level": str(level), **km_summary(kmf, times=times)})
        curves[str(level)] = _step(kmf.survival_function_, grid)[:, 0]
    return pd.DataFrame(rows), pd.DataFrame(curves)


def km_curve(kmf: KaplanMeierFitter, grid: np.ndarray) -> pd.DataFrame:
    """One KM curve and its 95 % band on `grid` (columns time, survival, lower, upper)."""
    band = _step(kmf.confidence_interval_survival_function_, grid)
    return pd.DataFrame({"time": grid, "survival": _step(kmf.survival_function_, grid)[:, 0],
                         "lower": band[:, 0], "upper": band[:, 1]})


def logrank_test(durations, events, groups, entry=None) -> dict:
    """Multivariate log-rank test of equal hazards across `groups`, with delayed entry.

    At each event time t the risk set of group g is n_g(t) = #{entry < t <= duration}; O - E sums
    d_g(t) - n_g(t) d(t) / n(t), and the hypergeometric covariance sums
    d (n - d) / (n - 1) * (n_g / n) (1[g = h] - n_h / n). The statistic (O - E)' V^- (O - E) over all
    but one group is chi-square with G - 1 degrees of freedom. Without `entry` it equals lifelines'
    `multivariate_logrank_test` (tests/test_survival_km.py checks this); lifelines has no delayed entry.
    """
    durations = np.asarray(durations, dtype=float)
    events = np.asarray(events).astype(bool)
    entry = np.zeros_like(durations) if entry is None else np.asarray(entry, dtype=float)
    levels, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    times = np.unique(durations[events])
    at_risk = np.empty((len(levels), len(times)))
    deaths = np.empty_like(at_risk)
    for g in range(len(levels)):
        mine = codes == g
        at_risk[g] = (np.searchsorted(np.sort(entry[mine]), times, side="left")
                      - np.searchsorted(np.sort(durations[mine]), times, side="left"))
        deaths[g] = np.bincount(np.searchsorted(times, durations[mine & events]), minlength=len(times))
    n, d = at_risk.sum(axis=0), deaths.sum(axis=0)
    observed_minus_expected = (deaths - at_risk * d / n).sum(axis=1)
    scale = np.divide(d * (n - d), n - 1, out=np.zeros_like(n), where=n > 1) / n
    share = at_risk / n
    covariance = np.diag((scale * at_risk).sum(axis=1)) - (share * scale) @ at_risk.T
    k = len(levels) - 1
    if k < 1:
        return {"test_statistic": 0.0, "p_value": 1.0, "degrees_of_freedom": 0}
    statistic = float(observed_minus_expected[:k] @ np.linalg.pinv(covariance[:k, :k]) @ observed_minus_expected[:k])
    return {"test_statistic": statistic, "p_value": float(stats.chi2.sf(statistic, k)), "degrees_of_freedom": k}


def cumulative_incidence(durations, causes, entry=None, *, grid: np.ndarray) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of each competing cause, with delayed entry, on `grid`.

    `causes` holds the cause name for events and missing for censored customers. With all-cause KM S,
    CIF_c(t) = sum over event times s <= t of S(s-) d_c(s) / n(s). Tied times are handled exactly (no
    jitter), which matters for month-level data; lifelines' AalenJohansenFitter jitters ties instead.
    """
    durations = np.asarray(durations, dtype=float)
    causes = pd.Series(causes).astype("string").to_numpy(na_value=None)
    entry = np.zeros_like(durations) if entry is None else np.asarray(entry, dtype=float)
    event = np.array([c is not None for c in causes])
    times = np.unique(durations[event])
    n = (np.searchsorted(np.sort(entry), times, side="left")
         - np.searchsorted(np.sort(durations), times, side="left")).astype(float)
    names = sorted({c for c in causes if c is not None})
    d = {c: np.bincount(np.searchsorted(times, durations[causes == c]), minlength=len(times)).astype(float)
         for c in names}
    total = sum(d.values())
    surv_before = np.concatenate([[1.0], np.cumprod(1 - total / n)[:-1]])
    out = {"time": grid}
    for c in names:
        cif = np.cumsum(surv_before * d[c] / n)
        pos = np.searchsorted(times, grid, side="right") - 1
        out[c] = np.where(pos >= 0, cif[np.clip(pos, 0, None)], 0.0)
    return pd.DataFrame(out)


def describe(lifetimes: pd.DataFrame, *, groups: dict[str, str], since_entry: list[str], times: list[int],
             grid_months: int, min_group_size: int) -> dict[str, pd.DataFrame]:
    """All descriptive tables: KM summaries, curves per grouping, log-rank tests and competing risks.

    Curves are on the tenure scale with delayed entry, except for the groupings in `since_entry` (the
    lifecycle stage at entry *is* a tenure range, so its curves run on the time since entry instead).
    A grouping whose column is missing, or has fewer than two known levels (the Berka ledger records one
    acquisition channel and no education), is skipped with a log line: it has nothing to compare.
    """
    grid = np.arange(0, grid_months + 1)
    overall = fit_km(lifetimes["duration"], lifetimes["churned"], lifetimes["entry_tenure"], label="all")
    summaries = [pd.DataFrame([{"group": "all", "level": "all", "time_scale": "tenure",
                                **km_summary(overall, times=times)}])]
    curves, tests = {"overall": km_curve(overall, grid)}, []
    for name, column in groups.items():
        if column not in lifetimes:
            log.warning("Kaplan-Meier grouping %r skipped: lifetimes have no column %r", name, column)
            continue
        levels = lifetimes[column].nunique()
        if levels < 2:
            log.warning("Kaplan-Meier grouping %r skipped: column %r has %d known level(s)", name, column, levels)
            continue
        residual = name in since_entry
        duration, entry = ("residual", None) if residual else ("duration", "entry_tenure")
        summary, curve = km_by_group(lifetimes, column, duration=duration, entry=entry, event="churned",
                                     times=times, grid=grid, min_size=min_group_size)
        summaries.append(summary.assign(group=name, time_scale="since entry" if residual else "tenure"))
        curves[name] = curve
        known = lifetimes[column].notna()
        part = lifetimes[known]
        test = logrank_test(part[duration], part["churned"], part[column].astype(str),
                            None if residual else part["entry_tenure"])
        tests.append({"group": name, "levels": int(part[column].nunique()), **test})
    cif = cumulative_incidence(lifetimes["duration"], lifetimes["churn_type"].where(lifetimes["event"] == 1),
                               lifetimes["entry_tenure"], grid=grid)
    return {"km_summary": pd.concat(summaries, ignore_index=True),
            "logrank": pd.DataFrame(tests, columns=LOGRANK_COLUMNS), "curves": curves, "cif": cif}
