"""Cox proportional hazards with delayed entry on integer (month) time, fast enough for a million customers.

lifelines fits a Cox model with `entry_col` by looping over event times and slicing the risk set each time
(its time-varying code path): about 2.5 minutes for 35,000 customers here, hours for a million. Tenure in
months has only a few hundred distinct values, so every risk-set sum can come from cumulative sums over
time bins instead: the risk set at t is {entry < t <= stop} = {stop >= t} minus {entry >= t}, and the
sums of exp(x'b), exp(x'b) x and exp(x'b) x x' over each side are reverse cumulative sums of per-month
totals. One Newton step then costs O(n d^2) with no per-customer Python loop.

The likelihood is the same as lifelines' CoxPHFitter: Efron's tie correction, covariates standardised
before fitting, a ridge penalty n * penalizer / 2 * |b|^2 on the standardised scale (lifelines' penalty
with l1_ratio = 0), and strata with their own baseline hazard. tests/survival/test_cox.py checks the
coefficients and standard errors against lifelines. The baseline hazard is Breslow's, with delayed entry.

Newton-Raphson needs the customers only through those per-month sums (`StratumSums`), so they come from a
source: `MemorySums` (numpy, customers in memory) or `churnlab.survival.cox_spark.SparkSums` (each partition's
sums computed where the partition lies, added up on the driver with `combine`). The cumulative sums, the Efron
terms and the Newton update stay here, on the driver, whatever the source.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ENTRY_ERROR = "every duration must exceed its entry time"


def _bin_sums(x: np.ndarray, w: np.ndarray, bins: np.ndarray, n_bins: int):
    """Per-bin sums of w, w x and w x x' for rows grouped by integer `bins` (0..n_bins-1)."""
    order = np.argsort(bins, kind="stable")
    edges = np.searchsorted(bins[order], np.arange(n_bins + 1))
    xs, ws = x[order], w[order]
    s0 = np.bincount(bins, w, minlength=n_bins)
    s1 = np.zeros((n_bins, x.shape[1]))
    s2 = np.zeros((n_bins, x.shape[1], x.shape[1]))
    for b in np.flatnonzero(np.diff(edges)):
        part, weight = xs[edges[b]:edges[b + 1]], ws[edges[b]:edges[b + 1]]
        s1[b] = weight @ part
        s2[b] = part.T @ (weight[:, None] * part)
    return s0, s1, s2


@dataclass
class StratumSums:
    """One stratum's sums at one b, by month t = 0..T-1, each customer weighted by w = exp(x'b - top).

    `risk`: sums of w, w x and w x x' over the risk set at t (entry < t <= stop); `dead`: the same over the
    customers who churn at t; `counts`: churners at t; `x_dead`: the sum of their x. `top` is the shift that keeps
    exp in range (the largest x'b of the customers summed); every Efron term is invariant to it.
    """

    risk: tuple[np.ndarray, np.ndarray, np.ndarray]
    dead: tuple[np.ndarray, np.ndarray, np.ndarray]
    counts: np.ndarray
    x_dead: np.ndarray
    top: float


def stratum_sums(x, eta, stop, entry, event, n_times) -> StratumSums:
    """The sums of one stratum's customers (x standardised, eta = x'b) with the shift top = max(eta)."""
    top = eta.max()
    phi = np.exp(eta - top)
    a0, a1, a2 = _bin_sums(x, phi, stop, n_times)
    b0, b1, b2 = _bin_sums(x, phi, entry, n_times)

    def tail(s):  # sum over bins >= t
        return np.cumsum(s[::-1], axis=0)[::-1]

    risk = tuple(tail(a) - tail(b) for a, b in ((a0, b0), (a1, b1), (a2, b2)))
    dead = _bin_sums(x[event], phi[event], stop[event], n_times)
    counts = np.bincount(stop[event], minlength=n_times)
    x_dead = _bin_sums(x[event], np.ones(int(event.sum())), stop[event], n_times)[1]
    return StratumSums(risk, dead, counts, x_dead, top)


def combine(parts: list[StratumSums]) -> StratumSums:
    """The sums over disjoint groups of customers (partitions) as one: each group's weighted sums rescaled from
    its own shift to the largest, exp(top_g - top) <= 1, so nothing overflows; counts and x_dead simply add."""
    top = max(p.top for p in parts)
    scale = [np.exp(p.top - top) for p in parts]

    def total(pick):
        return tuple(sum(s * pick(p)[k] for s, p in zip(scale, parts, strict=True)) for k in range(3))

    return StratumSums(total(lambda p: p.risk), total(lambda p: p.dead), sum(p.counts for p in parts),
                       sum(p.x_dead for p in parts), top)


def _efron(sums: StratumSums, beta):
    """Log partial likelihood (Efron ties), gradient and Hessian of one stratum from its sums at beta."""
    (s0, s1, s2), (t0, t1, t2), counts, x_dead, top = sums.risk, sums.dead, sums.counts, sums.x_dead, sums.top
    ll, grad, hess = 0.0, np.zeros(len(beta)), np.zeros((len(beta), len(beta)))
    for t in np.flatnonzero(counts):
        share = np.arange(counts[t]) / counts[t]
        denom = s0[t] - share * t0[t]
        c1, c2 = (1 / denom).sum(), (share / denom).sum()
        e1, e2, e3 = (1 / denom**2).sum(), (share / denom**2).sum(), (share**2 / denom**2).sum()
        ll += x_dead[t] @ beta - np.log(denom).sum() - counts[t] * top
        grad += x_dead[t] - (s1[t] * c1 - t1[t] * c2)
        cross = np.outer(s1[t], t1[t])
        hess -= (s2[t] * c1 - t2[t] * c2) - (np.outer(s1[t], s1[t]) * e1 - (cross + cross.T) * e2
                                              + np.outer(t1[t], t1[t]) * e3)
    return ll, grad, hess


def _breslow(sums: StratumSums) -> np.ndarray:
    """Baseline cumulative hazard H0(t), t = 0..T-1: sum over s <= t of deaths(s) / sum_risk exp(x'b)."""
    s0, counts = sums.risk[0], sums.counts
    hazard = np.divide(counts, s0 * np.exp(sums.top), out=np.zeros(len(counts)), where=s0 > 0)
    return np.cumsum(hazard)


def standardise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Means and standard deviations (ddof=1, as lifelines via pandas, so the penalty matches; 1 where a column is
    constant or there is one customer)."""
    mean = values.mean(axis=0)
    spread = values.std(axis=0, ddof=1) if len(values) > 1 else np.ones(values.shape[1])
    return mean, np.where(spread > 0, spread, 1.0)


class MemorySums:
    """The sums from customers in memory (numpy): covariates `x` (customers x columns), integer months `stop` and
    `entry` (at risk in entry < t <= stop), `event` (1: churned at stop, 0: censored), optional `strata`."""

    def __init__(self, x: pd.DataFrame, stop, event, entry, strata: pd.Series | None = None):
        stop, entry = np.asarray(stop).astype(np.int64), np.asarray(entry).astype(np.int64)
        event = np.asarray(event).astype(bool)
        if (stop <= entry).any():
            raise ValueError(ENTRY_ERROR)
        self.columns = list(x.columns)
        values = x.to_numpy(float)
        self.mean, self.std = standardise(values)
        z = (values - self.mean) / self.std
        labels = np.zeros(len(z), dtype=int) if strata is None else pd.factorize(np.asarray(strata))[0]
        self.strata = None if strata is None else list(pd.unique(np.asarray(strata)))
        self.n, self.n_times = len(z), int(stop.max()) + 1
        self._groups = [(z[rows], stop[rows], entry[rows], event[rows])
                        for rows in (np.flatnonzero(labels == g) for g in range(labels.max() + 1))]

    def at(self, beta: np.ndarray) -> list[StratumSums]:
        """Each stratum's sums at beta (standardised scale), in the order of `strata`."""
        return [stratum_sums(z, z @ beta, stop, entry, event, self.n_times) for z, stop, entry, event in self._groups]


class DelayedEntryCox:
    """Penalised Cox PH with delayed entry and optional strata on integer times (see the module doc)."""

    def __init__(self, *, penalizer: float = 0.0, max_steps: int = 50, tolerance: float = 1e-9):
        self.penalizer, self.max_steps, self.tolerance = penalizer, max_steps, tolerance

    def fit(self, x: pd.DataFrame, stop, event, entry, strata: pd.Series | None = None) -> "DelayedEntryCox":
        """Fit on customers in memory (`MemorySums` says what the arguments mean)."""
        return self.fit_sums(MemorySums(x, stop, event, entry, strata))

    def fit_sums(self, source) -> "DelayedEntryCox":
        """Fit from a source of per-month sums: `MemorySums`, or `cox_spark.SparkSums` (the same sums from Spark).

        A source has `columns`, `mean`, `std` (the standardisation), `n` (customers), `n_times` (months 0..T-1),
        `strata` (the stratum keys, None unstratified) and `at(beta)`: each stratum's `StratumSums`.
        """
        self.columns_, self.mean_, self.std_, self.strata_ = source.columns, source.mean, source.std, source.strata
        self.n_times_ = source.n_times
        n, ridge = source.n, source.n * self.penalizer
        latest, self.evaluations_ = {}, 0  # evaluations: passes over the customers (Newton steps and halvings)

        def objective(beta):
            latest["sums"] = source.at(beta)
            self.evaluations_ += 1
            total = [0.0, np.zeros(len(beta)), np.zeros((len(beta), len(beta)))]
            for sums in latest["sums"]:
                for k, part in enumerate(_efron(sums, beta)):
                    total[k] = total[k] + part
            ll, grad, hess = total
            return ll - ridge / 2 * beta @ beta, grad - ridge * beta, hess - ridge * np.eye(len(beta))

        beta = np.zeros(len(self.columns_))
        ll, grad, hess = objective(beta)
        for _ in range(self.max_steps):
            step = np.linalg.solve(-hess, grad)
            if grad @ step / 2 < self.tolerance:  # Newton decrement: the likelihood gain a full step promises
                break
            size, previous = 1.0, ll
            while True:  # halve the step until the penalised likelihood improves
                candidate = objective(beta + size * step)
                if candidate[0] >= ll or size < 1e-6:
                    break
                size /= 2
            beta, (ll, grad, hess) = beta + size * step, candidate
            if abs(ll - previous) <= self.tolerance * abs(previous):
                break
        self.log_likelihood_, self.n_ = ll, n
        self.params_ = pd.Series(beta / self.std_, index=self.columns_)
        self.variance_matrix_ = pd.DataFrame(np.linalg.inv(-hess) / np.outer(self.std_, self.std_),
                                             index=self.columns_, columns=self.columns_)
        # the last sums evaluated are at the final beta (an accepted step, or the start when no step was taken)
        keys = [0] if self.strata_ is None else self.strata_
        self.baseline_ = {key: _breslow(sums) for key, sums in zip(keys, latest["sums"], strict=True)}
        return self

    @property
    def summary(self) -> pd.DataFrame:
        """coef, se, z, p, exp(coef) and its 95 % interval per covariate (lifelines' column names)."""
        se = np.sqrt(np.diag(self.variance_matrix_))
        coef = self.params_.to_numpy()
        q = stats.norm.ppf(0.975)
        return pd.DataFrame({"coef": coef, "se(coef)": se, "z": coef / se, "p": 2 * stats.norm.sf(np.abs(coef / se)),
                             "exp(coef)": np.exp(coef), "exp(coef) lower 95%": np.exp(coef - q * se),
                             "exp(coef) upper 95%": np.exp(coef + q * se)}, index=self.columns_)

    def cumulative_hazard(self, x: pd.DataFrame, times: np.ndarray, strata: pd.Series | None = None) -> np.ndarray:
        """H(t | x) = H0_stratum(t) exp((x - mean)'b), customers x times; held at the last value past the data."""
        lp = np.exp((x[self.columns_].to_numpy(float) - self.mean_) @ self.params_.to_numpy())
        at = np.clip(np.asarray(times, dtype=int), 0, self.n_times_ - 1)
        keys = np.zeros(len(x), dtype=object) if strata is None else np.asarray(strata, dtype=object)
        out = np.empty((len(x), len(at)))
        for key in pd.unique(keys):
            rows = keys == key
            if key not in self.baseline_:
                raise ValueError(f"stratum {key!r} was not seen in training")
            out[rows] = self.baseline_[key][at][None, :] * lp[rows, None]
        return out
