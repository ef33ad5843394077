"""One month against the training reference: score PSI, CSI and KS per feature, and the market series check.

The reference is the training period (the rows at every training cutoff of `churnlab.model.split`), scored by
the champion. Bins and bin counts are fixed on it once (`fit_reference`); each later month is compared with
it by `compare_month` using the no-drift thresholds of `churnlab.monitor.drift`:

- the score: PSI against the (1 - alpha) no-drift quantile, and at least the materiality floor `min_psi`;
- customer and banking features: CSI against the (1 - alpha / k) quantile for k such features (Bonferroni),
  and at least the materiality floor `min_csi`; numeric ones also get the KS statistic and p-value;
- market features (one value per month): the month's value against the reference months' values
  (`drift.series_alarm`) at alpha / m for m market features.

A month reaches the comparison as a `MonthSample`: its rows per bin, KS statistics and market values, counted in
numpy from a pandas frame (`sample_month`, the local engine) or by Spark where the month lies
(`churnlab.monitor.spark_months`).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.monitor.drift import Binning, fit_binning, ks_test, psi_from_counts, psi_threshold, series_alarm

SCORE = "p_churn"


@dataclass
class Reference:
    """The training reference: bins and counts per column, and the reference months' market values."""

    rows: int
    binnings: dict[str, Binning]
    counts: dict[str, np.ndarray]
    numeric: dict[str, np.ndarray | None] = field(repr=False)  # sorted non-missing values, for KS (None: on Spark)
    market: dict[str, np.ndarray]
    groups: dict[str, str]


def bin_counts_of(rows: pd.DataFrame, binnings: dict[str, Binning]) -> dict[str, np.ndarray]:
    """Rows per bin of each column of `binnings` in `rows`."""
    return {c: binning.counts(rows[c]) for c, binning in binnings.items()}


def fit_reference(reference: pd.DataFrame, *, groups: dict[str, str], market_history: pd.DataFrame,
                  numeric: list[str], bins: int) -> Reference:
    """Fix bins on `reference` (features and the score); `groups` maps feature -> customer/banking/market.

    `market_history` holds one row per reference month with the market features' values. The bins' edges and
    levels and the rows per bin are fixed here, on the driver.
    """
    profiled = [SCORE, *[f for f, g in groups.items() if g != "market"]]
    binnings = {c: fit_binning(reference[c], bins=bins) for c in profiled}
    counts = bin_counts_of(reference, binnings)
    values = {c: np.sort(reference[c].dropna().to_numpy(float)) for c in numeric if c in reference}
    market = {f: market_history[f].to_numpy(float) for f, g in groups.items() if g == "market"}
    return Reference(len(reference), binnings, counts, values, market, dict(groups))


@dataclass(frozen=True)
class MonthSample:
    """What the comparison needs of one scored month: its rows and mean score, the rows per reference bin of every
    profiled column (the score's included), (KS statistic, p-value) of every numeric feature, and each market
    feature's value. Taken from a pandas frame by `sample_month`, or where the month lies on Spark
    (`churnlab.monitor.spark_months`): the same numbers."""

    rows: int
    mean_score: float
    counts: dict[str, np.ndarray]
    ks: dict[str, tuple[float, float]]
    market: dict[str, float]


def sample_month(reference: Reference, current: pd.DataFrame) -> MonthSample:
    """The `MonthSample` of the scored snapshot `current` (a pandas frame with `SCORE`), against `reference`'s bins."""
    market = [f for f, g in reference.groups.items() if g == "market"]
    return MonthSample(
        rows=len(current), mean_score=float(current[SCORE].mean()),
        counts=bin_counts_of(current, reference.binnings),
        ks={f: ks_test(values, current[f]) for f, values in reference.numeric.items()},
        market={f: float(current[f].median()) for f in market})  # one value per month; the median ignores a stray row


def compare_month(reference: Reference, month: MonthSample, *, alpha: float, draws: int, min_psi: float,
                  min_csi: float, rng: np.random.Generator) -> tuple[dict, pd.DataFrame]:
    """(score summary, per-feature table) of one scored month (`MonthSample`) against `reference`.

    Each line is the larger of the no-drift quantile (statistical: more than sampling noise?) and the
    materiality floor `min_psi` / `min_csi` (practical: large enough to act on?). On small samples the
    quantile decides, on large ones the floor: at 30,000 rows a PSI of 0.001 is already "significant".
    The per-feature table has feature, group, statistic (CSI, or z for market features), null_quantile,
    threshold, drifting, ks and ks_pvalue.
    """
    n = month.rows
    score_counts = month.counts[SCORE]
    null = psi_threshold(reference.counts[SCORE], n_current=n, alpha=alpha, draws=draws, rng=rng)
    score = {"rows": n, "score_psi": float(psi_from_counts(reference.counts[SCORE], score_counts)),
             "score_null_quantile": null, "score_threshold": max(null, min_psi), "mean_score": month.mean_score}
    profiled = [f for f, g in reference.groups.items() if g != "market"]
    market = [f for f, g in reference.groups.items() if g == "market"]
    feature_alpha = alpha / max(len(profiled), 1)
    rows = []
    for feature in profiled:
        counts = month.counts[feature]
        csi = float(psi_from_counts(reference.counts[feature], counts))
        null = psi_threshold(reference.counts[feature], n_current=n, alpha=feature_alpha, draws=draws, rng=rng)
        line = max(null, min_csi)
        ks, ks_p = month.ks.get(feature, (np.nan, np.nan))
        rows.append({"feature": feature, "group": reference.groups[feature], "statistic": csi, "null_quantile": null,
                     "threshold": line,
                     "drifting": csi > line, "ks": ks, "ks_pvalue": ks_p})
    for feature in market:
        value = month.market[feature]
        z, line = series_alarm(reference.market[feature], value, alpha=alpha / max(len(market), 1))
        rows.append({"feature": feature, "group": "market", "statistic": z, "null_quantile": line, "threshold": line,
                     "drifting": bool(z > line), "ks": np.nan, "ks_pvalue": np.nan, "value": value})
    return score, pd.DataFrame(rows)
