"""Stability statistics with honest thresholds: PSI / CSI, the KS test, and a check for market series.

The population stability index of a current sample against a reference, over bins b with shares r_b
(reference) and c_b (current), is

    PSI = sum over b of (c_b - r_b) ln(c_b / r_b),

a symmetrised Kullback-Leibler divergence (Siddiqi 2006, "Credit Risk Scorecards", ch. 8). On the model
score it is the PSI; on a feature the same number is called the characteristic stability index (CSI).
Bins are fixed on the reference, as in production: deciles of a numeric column (fewer when values tie),
the levels of a categorical one, plus a bin for missing values and one for levels the reference never saw
when either sample has them. An empty bin would make the log infinite, so shares are floored at `FLOOR`.

Worked example (tests/monitor/test_drift.py): edges (1.5, 2.5) give three bins; the reference 1,1,1,1,1,2,2,2,3,3
has shares 0.5, 0.3, 0.2 and the current sample 1,1,1,2,2,2,2,3,3,3 has 0.3, 0.4, 0.3, so

    PSI = (0.3 - 0.5) ln(0.3/0.5) + (0.4 - 0.3) ln(0.4/0.3) + (0.3 - 0.2) ln(0.3/0.2)
        = 0.102165 + 0.028768 + 0.040547 = 0.171480.

Honest thresholds. Under no drift PSI is still positive, by sampling noise alone, and its size depends on
the sample sizes: about (B - 1) (1/n_ref + 1/n_cur) for B bins (it is asymptotically chi-square). A fixed
rule such as "PSI > 0.1" therefore fires on small samples, and misses real shifts on large ones. Here each
threshold is the (1 - alpha) quantile of PSI under no drift at the compared sizes: draw both samples from
the reference's own bin shares (a multinomial parametric bootstrap: binning is fixed, so PSI depends only
on the bin counts) and recompute PSI `draws` times (`psi_threshold` says how far-out quantiles are taken).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_TAIL = 20  # draws beyond an empirical quantile for it to be usable; further out, a fitted chi-square
FLOOR = 1e-4  # share given to an empty bin: 1 row in 10,000, so one unseen level cannot dominate the sum
MISSING = "<missing>"
UNSEEN = "<unseen>"


@dataclass(frozen=True)
class Binning:
    """Bins fixed on a reference: right-closed numeric `edges`, or categorical `levels` (never both)."""

    edges: tuple[float, ...] | None = None
    levels: tuple[str, ...] | None = None

    @property
    def labels(self) -> list[str]:
        if self.levels is not None:
            return [*self.levels, UNSEEN, MISSING]
        bounds = [-np.inf, *self.edges, np.inf]
        return [f"({lo:.4g}, {hi:.4g}]" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)] + [MISSING]

    def counts(self, values: pd.Series) -> np.ndarray:
        """Rows per bin (the last two bins of a categorical binning are unseen and missing; numeric: missing).

        A level is a value's text, as `fit_binning` makes it (True -> "True"): `bin_counts` counts the same in SQL.
        """
        values = pd.Series(values)
        missing = values.isna().to_numpy()
        if self.levels is not None:
            codes = pd.Categorical(values.astype(str), categories=list(self.levels)).codes.astype(np.int64)
            codes = np.where(codes < 0, len(self.levels), codes)  # unseen level
            codes = np.where(missing, len(self.levels) + 1, codes)
            return np.bincount(codes, minlength=len(self.levels) + 2)
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        codes = np.searchsorted(np.asarray(self.edges, float), numbers, side="left")
        codes = np.where(missing, len(self.edges) + 1, codes)
        return np.bincount(codes, minlength=len(self.edges) + 2)


def fit_binning(reference: pd.Series, *, bins: int) -> Binning:
    """Bins of `reference`: its levels if categorical, text or boolean, else its quantiles (`bins` at most)."""
    reference = pd.Series(reference)
    if isinstance(reference.dtype, pd.CategoricalDtype) or reference.dtype == object or \
            pd.api.types.is_bool_dtype(reference):
        levels = sorted(reference.dropna().astype(str).unique())
        return Binning(levels=tuple(levels))
    values = reference.dropna().to_numpy(float)
    if len(values) == 0:
        return Binning(edges=())
    inner = np.quantile(values, np.arange(1, bins) / bins, method="lower")
    return Binning(edges=tuple(np.unique(inner)))


def psi_from_counts(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """PSI of count vectors over the last axis (broadcasts, so one call scores many bootstrap draws)."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    r = np.maximum(reference / reference.sum(axis=-1, keepdims=True), FLOOR)
    c = np.maximum(current / current.sum(axis=-1, keepdims=True), FLOOR)
    used = (reference + current) > 0  # a bin both samples leave empty adds nothing
    return np.where(used, (c - r) * np.log(c / r), 0.0).sum(axis=-1)


def psi(reference: pd.Series, current: pd.Series, *, bins: int = 10, binning: Binning | None = None) -> float:
    """PSI (CSI on a feature) of `current` against `reference`, on bins fixed by `reference`."""
    binning = binning or fit_binning(reference, bins=bins)
    return float(psi_from_counts(binning.counts(reference), binning.counts(current)))


def null_psi(reference_counts: np.ndarray, *, n_current: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` PSI values under no drift: both samples drawn from the reference shares at the compared sizes."""
    counts = np.asarray(reference_counts, float)
    keep = counts > 0  # bins the reference never fills have share 0 under the null: no draw reaches them
    shares, n_reference = counts[keep] / counts.sum(), int(counts.sum())
    if keep.sum() < 2 or n_current < 1:
        return np.zeros(draws)
    ref = rng.multinomial(n_reference, shares, size=draws)
    cur = rng.multinomial(n_current, shares, size=draws)
    return psi_from_counts(ref, cur)


def psi_threshold(reference_counts: np.ndarray, *, n_current: int, alpha: float, draws: int,
                  rng: np.random.Generator) -> float:
    """The (1 - alpha) quantile of PSI under no drift at these sample sizes: the alarm line.

    With at least `MIN_TAIL` draws beyond the quantile (draws * alpha >= 20) it is the empirical quantile of
    the draws. Further out (a Bonferroni alpha over ~50 features would need ~100,000 draws a feature and a
    month), if every bin expects at least 5 current rows (the usual chi-square rule), the draws fix a scaled
    chi-square c * chi2(k) by their mean and variance (Satterthwaite) and its quantile is taken: PSI under no
    drift is asymptotically (1/n_ref + 1/n_cur) chi2(B - 1), and the moment match absorbs the departures from
    it. With sparser bins the tail is heavier than the chi-square's, so enough draws are made for the
    empirical quantile instead (cheap there: small samples).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    counts = np.asarray(reference_counts, float)
    sparse = n_current * counts[counts > 0].min(initial=np.inf) / max(counts.sum(), 1) < 5
    if draws * alpha < MIN_TAIL and sparse:
        draws = int(np.ceil(MIN_TAIL / alpha))
    null = null_psi(counts, n_current=n_current, draws=draws, rng=rng)
    if draws * alpha >= MIN_TAIL:
        return float(np.quantile(null, 1 - alpha))
    mean, var = null.mean(), null.var(ddof=1)
    if mean <= 0 or var <= 0:
        return float(null.max())
    return float(var / (2 * mean) * stats.chi2.ppf(1 - alpha, 2 * mean**2 / var))


def ks_test(reference, current) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value on the non-missing values (numeric features).

    The numbers of scipy's `ks_2samp(method="asymp")`, bit for bit (tests/monitor/test_drift.py), without its cost
    on a large reference: scipy sorts both samples and looks every value of both up in each, so the reference (every
    training cutoff's rows) was sorted and searched again for every feature of every month. F_ref - F_cur can only
    peak where F_cur steps: at a distinct current value v it is lowest (F_ref(v) - F_cur(v)), and just below the next
    one highest; so only the current's distinct values are looked up in the reference, which is sorted once
    (`Reference.numeric` holds it sorted: then it is only checked). The p-value is scipy's "asymp" one,
    kstwo.sf(D, round(n m / (n + m))) (the Kolmogorov distribution at the effective sample size).
    """
    ref = pd.Series(reference).dropna().to_numpy(float)
    if (ref[1:] < ref[:-1]).any():
        ref = np.sort(ref)
    cur = np.sort(pd.Series(current).dropna().to_numpy(float))
    n1, n2 = len(ref), len(cur)
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan")
    steps = np.unique(cur)
    at = np.searchsorted(cur, steps, side="right") / n2  # F_cur at each step
    lowest = np.searchsorted(ref, steps, side="right") / n1 - at
    below_next = np.searchsorted(ref, steps, side="left") / n1  # F_ref just below each step
    highest = np.concatenate([below_next[:1], below_next[1:] - at[:-1], [0.0]])  # before the first, between, after
    d = max(np.clip(-lowest.min(), 0, 1), highest.max())
    return float(d), ks_pvalue(d, n1, n2)


def ks_pvalue(d: float, n1: int, n2: int) -> float:
    """scipy's "asymp" two-sample KS p-value of the statistic `d` between samples of `n1` and `n2` values:
    kstwo.sf(d, round(n m / (n + m)))."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def series_alarm(reference: np.ndarray, value: float, *, alpha: float) -> tuple[float, float]:
    """(z, threshold) for one new value of a series against its reference values (market indicators).

    A market indicator is one number per month shared by every customer, so its "distribution" in a month
    is a point mass and PSI against a pooled reference is meaningless. Instead the month's value is judged
    against the reference months' values: z = |x - mean| / (s sqrt(1 + 1/n)), alarm when z exceeds the
    Student t quantile t(1 - alpha/2, n - 1), the exact (1 - alpha) prediction interval for a new draw of
    an i.i.d. normal series. Market series are autocorrelated, so the false-alarm rate is only approximate.
    """
    reference = np.asarray(reference, float)
    reference = reference[~np.isnan(reference)]
    n = len(reference)
    if n < 3 or np.isnan(value):
        return float("nan"), float("inf")
    spread = reference.std(ddof=1) * np.sqrt(1 + 1 / n)
    z = abs(value - reference.mean()) / spread if spread > 0 else (0.0 if value == reference.mean() else np.inf)
    return float(z), float(stats.t.ppf(1 - alpha / 2, n - 1))
