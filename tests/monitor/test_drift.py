"""PSI / CSI against a hand-worked example, the no-drift threshold's false-alarm rate, and shock detection."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from churnlab.monitor.alerts import binomial_band
from churnlab.monitor.drift import Binning, fit_binning, ks_test, psi, psi_threshold, series_alarm


def test_psi_matches_the_worked_example():
    """Docstring of churnlab.monitor.drift: shares 0.5/0.3/0.2 against 0.3/0.4/0.3 give 0.171480."""
    reference = pd.Series([1, 1, 1, 1, 1, 2, 2, 2, 3, 3], dtype=float)
    current = pd.Series([1, 1, 1, 2, 2, 2, 2, 3, 3, 3], dtype=float)
    assert psi(reference, current, binning=Binning(edges=(1.5, 2.5))) == pytest.approx(0.171480, abs=1e-6)
    assert psi(reference, reference, binning=Binning(edges=(1.5, 2.5))) == 0.0


def test_csi_of_a_categorical_feature_counts_unseen_and_missing_levels():
    """Reference a,a,b,b; current a,b,c,None: shares (0.5, 0.5, 0, 0) vs (0.25, 0.25, 0.25, 0.25).

    CSI = 2 * (0.25 - 0.5) ln(0.25 / 0.5) + 2 * (0.25 - 1e-4) ln(0.25 / 1e-4) (empty bins floored at 1e-4).
    """
    reference = pd.Series(["a", "a", "b", "b"], dtype="category")
    current = pd.Series(["a", "b", "c", None])
    binning = fit_binning(reference, bins=10)
    assert binning.levels == ("a", "b")
    assert list(binning.counts(current)) == [1, 1, 1, 1]
    expected = 2 * (-0.25) * np.log(0.5) + 2 * (0.25 - 1e-4) * np.log(0.25 / 1e-4)
    assert psi(reference, current, bins=10) == pytest.approx(expected)


def test_quantile_bins_collapse_on_ties_and_keep_missing_apart():
    reference = pd.Series([0.0] * 80 + [1.0] * 10 + [2.0] * 10 + [np.nan] * 5)
    binning = fit_binning(reference, bins=10)
    assert binning.edges == (0.0, 1.0)  # deciles 0,...,0,1 collapse: bins (-inf,0], (0,1], (1,inf)
    assert list(binning.counts(reference)) == [80, 10, 10, 5]


@pytest.mark.parametrize("n_current", [50, 400])
def test_no_drift_threshold_fires_at_its_nominal_rate(n_current):
    """200 no-drift pairs: the alarm share lies within 3 binomial standard errors of alpha.

    At n = 50 the fixed rule "PSI > 0.1" fires on most of the same pairs (PSI's null mean is about
    9 (1/2000 + 1/50) = 0.18 for ten bins), which is what the null-calibrated threshold corrects.
    """
    rng, alpha, pairs = np.random.default_rng(1), 0.1, 200
    alarms = fixed = 0
    for _ in range(pairs):
        reference, current = pd.Series(rng.normal(size=2000)), pd.Series(rng.normal(size=n_current))
        binning = fit_binning(reference, bins=10)
        value = psi(reference, current, binning=binning)
        line = psi_threshold(binning.counts(reference), n_current=n_current, alpha=alpha, draws=1000, rng=rng)
        alarms += value > line
        fixed += value > 0.1
    low, high = binomial_band(pairs, alpha)
    assert low <= alarms / pairs <= high
    if n_current == 50:
        assert fixed / pairs > 0.5


def test_a_shifted_sample_is_flagged():
    rng = np.random.default_rng(2)
    reference, shifted = pd.Series(rng.normal(size=5000)), pd.Series(rng.normal(0.4, 1.0, size=500))
    binning = fit_binning(reference, bins=10)
    line = psi_threshold(binning.counts(reference), n_current=500, alpha=0.01, draws=2000, rng=rng)
    assert psi(reference, shifted, binning=binning) > line
    assert ks_test(reference, shifted)[1] < 1e-6
    assert ks_test(reference, pd.Series(rng.normal(size=500)))[1] > 1e-3


@pytest.mark.parametrize("case", ["ties", "continuous", "disjoint", "current_below", "one_value", "tiny"])
def test_ks_test_gives_scipys_numbers_bit_for_bit(case):
    """ks_test looks only the current's distinct values up in the reference: the statistic and p-value must be
    exactly scipy's ks_2samp(method="asymp") on the same non-missing values, reference sorted or not."""
    rng = np.random.default_rng(len(case))
    reference, current = {
        "ties": (rng.poisson(3, 4000), rng.poisson(3.3, 700)),  # few distinct values, shared by both samples
        "continuous": (rng.lognormal(6, 1.5, 3000), rng.lognormal(6.1, 1.5, 900)),
        "disjoint": (rng.normal(0, 1, 300), rng.normal(10, 1, 200)),  # every current value above the reference
        "current_below": (rng.normal(10, 1, 300), rng.normal(0, 1, 200)),
        "one_value": (np.round(rng.normal(0, 1, 500)), np.full(50, 0.0)),
        "tiny": (np.array([1.0, 2.0, 2.0]), np.array([2.0])),
    }[case]
    reference = pd.Series(reference, dtype=float).mask(rng.random(len(reference)) < 0.05)  # missing values
    expected = stats.ks_2samp(reference.dropna(), pd.Series(current).dropna(), method="asymp")
    for given in (reference, np.sort(reference.dropna().to_numpy())):
        assert ks_test(given, current) == (float(expected.statistic), float(expected.pvalue))
    assert all(np.isnan(ks_test(reference, [np.nan])))


def test_series_alarm_flags_a_market_shock_but_not_an_ordinary_month():
    rng = np.random.default_rng(3)
    months = 0.3 + rng.normal(0, 0.05, 19)
    z, line = series_alarm(months, 0.32, alpha=0.01)
    assert z < line
    z, line = series_alarm(months, 0.3 + 1.2, alpha=0.01)  # the promotion's +1.2 pp spread
    assert z > line


def test_bad_alpha_is_a_clear_error():
    with pytest.raises(ValueError, match="alpha"):
        psi_threshold(np.array([5, 5]), n_current=10, alpha=1.5, draws=10, rng=np.random.default_rng(0))


def test_far_tail_threshold_matches_a_long_simulation():
    """At alpha = 0.0005, 2,000 draws hold one draw beyond the quantile. With full bins (every bin expects >= 5
    current rows) the moment-matched chi-square must agree with the empirical quantile of 200,000 draws within
    5 %; with a sparse bin the function draws enough for the empirical quantile itself."""
    rng = np.random.default_rng(4)
    full = np.array([3000, 2500, 2000, 1500, 600, 300, 100])
    fitted = psi_threshold(full, n_current=1000, alpha=0.0005, draws=2000, rng=rng)
    long_run = psi_threshold(full, n_current=1000, alpha=0.0005, draws=200_000, rng=rng)
    assert fitted == pytest.approx(long_run, rel=0.05)
    sparse = np.array([300, 250, 200, 150, 60, 30, 10])
    short = psi_threshold(sparse, n_current=200, alpha=0.0005, draws=2000, rng=rng)
    long_run = psi_threshold(sparse, n_current=200, alpha=0.0005, draws=200_000, rng=rng)
    assert short == pytest.approx(long_run, rel=0.05)


def test_a_boolean_feature_falls_in_its_levels_not_in_unseen():
    """fit_binning makes a flag's levels its text ("False", "True"); its values must be counted there."""
    reference = pd.Series([True, True, False, True])
    current = pd.Series([True, False, False, None], dtype=object)
    binning = fit_binning(reference, bins=10)
    assert binning.levels == ("False", "True")
    assert list(binning.counts(reference)) == [1, 3, 0, 0]
    assert list(binning.counts(current)) == [2, 1, 0, 1]
