"""The label-free AUC and churn-rate estimate: worked examples, an exact enumeration, labels drawn from known
probabilities, and the recalibrated estimate on a simulated bank whose scores are squeezed like the champion's."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnlab.monitor.estimate import (
    backtest,
    estimate_performance,
    expected_auc,
    realised_performance,
    recalibrated_auc,
    recalibration,
    recalibration_rows,
    simulated_auc,
)


def test_expected_auc_matches_the_worked_example():
    """Docstring of churnlab.monitor.estimate: p = (0.8, 0.5, 0.1) gives 1.57 / 1.74."""
    assert expected_auc([0.8, 0.5, 0.1]) == pytest.approx(1.57 / 1.74)
    assert expected_auc([0.1, 0.8, 0.5]) == pytest.approx(1.57 / 1.74)  # order of rows is irrelevant


def test_expected_auc_of_a_score_under_other_probabilities_matches_the_worked_example():
    """Docstring: ranked by s = (0.8, 0.5, 0.1) with q = (0.5, 0.5, 0), the label sets with a churner are
    (1, 0, 0), (0, 1, 0) and (1, 1, 0), equally likely, with AUC 1, 1/2 and 1: E = 1.25 / 1.5 = 5/6."""
    assert expected_auc([0.8, 0.5, 0.1], [0.5, 0.5, 0.0]) == pytest.approx(5 / 6)
    assert expected_auc([0.8, 0.5, 0.1], [0.8, 0.5, 0.1]) == pytest.approx(expected_auc([0.8, 0.5, 0.1]))


def test_expected_auc_is_the_ratio_of_expected_pair_counts_over_every_label_set():
    """Independent computation: enumerate all 2^8 label sets with their probabilities under q and take
    E[churner-stayer pairs ranked right (ties 1/2)] / E[churner-stayer pairs], ranking by a different score s."""
    rng = np.random.default_rng(3)
    s = np.round(rng.random(8), 1)  # rounded: ties
    q = rng.uniform(0.05, 0.6, 8)
    right = pairs = 0.0
    for labels in itertools.product((0, 1), repeat=8):
        y = np.array(labels)
        weight = np.prod(np.where(y == 1, q, 1 - q))
        pos, neg = s[y == 1], s[y == 0]
        right += weight * ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
        pairs += weight * len(pos) * len(neg)
    assert expected_auc(s, q) == pytest.approx(right / pairs)


def test_ties_count_one_half():
    """Two rows with the same p: every pair is a tie, so the expected AUC is exactly 0.5."""
    assert expected_auc([0.3, 0.3]) == pytest.approx(0.5)
    assert expected_auc([0.2, 0.2, 0.2, 0.2]) == pytest.approx(0.5)


def test_expected_auc_agrees_with_brute_force_over_pairs():
    rng = np.random.default_rng(0)
    p = np.round(rng.beta(1, 6, 60), 2)  # rounded: many ties, as after isotonic calibration
    num = den = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j:
                w = p[i] * (1 - p[j])
                den += w
                num += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    assert expected_auc(p) == pytest.approx(num / den)


def test_estimate_is_within_tolerance_of_the_realised_auc_when_labels_are_drawn_from_p():
    """Labels ~ Bernoulli(p) on 5,000 customers (~450 churners): the realised AUC's standard deviation is about
    0.013, so the estimate must be within 0.04 (3 sd) of each of 20 realised AUCs; their mean within 0.01."""
    rng = np.random.default_rng(1)
    p = rng.beta(1, 10, 5000)
    estimate = expected_auc(p)
    realised = [roc_auc_score(rng.random(len(p)) < p, p) for _ in range(20)]
    assert max(abs(estimate - r) for r in realised) < 0.04
    assert np.mean(realised) == pytest.approx(estimate, abs=0.01)
    summary = estimate_performance(p, draws=100, max_rows=len(p), rng=rng)
    assert summary["expected_auc_low"] < estimate < summary["expected_auc_high"]
    assert summary["expected_churn_rate"] == pytest.approx(p.mean())


# ---- the band: label draws on at most `max_rows` rows ----------------------------------------------------------------

def synthetic_month(rows: int, seed: int) -> np.ndarray:
    """True churn probabilities q = sigmoid(-3 + 1.2 x), x ~ N(0, 1): churn ~8 %, expected AUC of ranking by q ~0.79."""
    return 1 / (1 + np.exp(3.0 - 1.2 * np.random.default_rng(seed).normal(0, 1, rows)))


def test_a_month_no_larger_than_the_cap_is_drawn_on_every_row_as_before():
    """Known answer: with max_rows >= rows the draws are the ROC-AUCs of labels drawn row by row from the same
    generator, exactly (no sample is picked, so the generator's stream is unchanged)."""
    s, q = np.linspace(0.01, 0.9, 500), synthetic_month(500, 1)
    rng = np.random.default_rng(4)
    by_hand = [roc_auc_score(rng.random(500) < q, s) for _ in range(30)]
    for max_rows in (500, 10**6):
        assert np.array_equal(simulated_auc(s, q, draws=30, max_rows=max_rows, rng=np.random.default_rng(4)),
                              by_hand)


def test_a_capped_band_is_reproducible_and_agrees_with_the_band_on_every_row():
    """10,000 rows, bands of 200 draws on all of them and on 1,000 (a tenth); tolerances from the sample sizes.

    Label noise moves the AUC by sd ~ the Hanley-McNeil standard error at 10,000 rows and this churn rate (an
    upper bound when the scores are fixed). Each edge of a 90 % band of 200 draws is a 5 % / 95 % quantile, off by
    sqrt(0.05 * 0.95 / 200) / phi(1.645) = 0.15 sd (Monte Carlo); a centre (mean of the edges) by at most that
    and a half-width by 0.15 / sqrt(2) = 0.11 sd. The capped band's centre is every row's expected AUC plus its
    scaled draws' mean deviation, so two bands' centres differ by less than 4 * sqrt(2) * 0.15 sd and their
    half-widths by less than 4 * sqrt(2) * 0.11 sd. Unscaled, the capped band would be sqrt(10) = 3.2 times as wide.
    """
    rows, cap = 10_000, 1_000
    q = synthetic_month(rows, 2)
    auc, rate = expected_auc(q), q.mean()
    positives, negatives = rows * rate, rows * (1 - rate)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    sd = np.sqrt((auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2))
                 / (positives * negatives))

    def band(max_rows, seed):
        summary = estimate_performance(q, draws=200, max_rows=max_rows, rng=np.random.default_rng(seed))
        low, high = summary["expected_auc_low"], summary["expected_auc_high"]
        return (low + high) / 2, (high - low) / 2

    full, capped = band(rows, 0), band(cap, 1)
    assert band(cap, 1) == capped and band(cap, 2) != capped  # the seed decides the rows and the labels
    assert abs(capped[0] - full[0]) < 4 * np.sqrt(2) * 0.15 * sd
    assert abs(capped[1] - full[1]) < 4 * np.sqrt(2) * 0.11 * sd


@pytest.mark.parametrize("max_rows", [0, -5])
def test_a_cap_below_one_row_is_an_error_naming_the_param(max_rows):
    with pytest.raises(ValueError, match=r"monitor\.auc_band_rows.*got " + str(max_rows)):
        simulated_auc([0.8, 0.5, 0.1], [0.8, 0.5, 0.1], draws=5, max_rows=max_rows, rng=np.random.default_rng(0))


# ---- recalibration on the latest labelled month -------------------------------------------------------------------

def squeezed_bank(seed: int, *, customers: int = 6000, n_months: int = 8) -> pd.DataFrame:
    """A simulated bank whose true churn probabilities are known and whose scores are miscalibrated in shape.

    Month t: risk x ~ N(0.1 t, 1 + 0.05 t) (covariate shift: the book grows riskier and more varied, so the true
    AUC moves between months), true probability q = sigmoid(-3 + 1.2 x), label ~ Bernoulli(q). The score ranks
    by q but is squeezed towards the mean, p = sigmoid(0.55 (-3 + 1.2 x) - 1.1): like the default champion,
    whose Platt step crowds the bulk of customers into a narrow band, so q = p underestimates the AUC.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n_months):
        z = -3.0 + 1.2 * rng.normal(0.1 * t, 1 + 0.05 * t, customers)
        q = 1 / (1 + np.exp(-z))
        frames.append(pd.DataFrame({"month": pd.Timestamp("2024-01-31") + pd.offsets.MonthEnd(t),
                                    "p_churn": 1 / (1 + np.exp(-(0.55 * z - 1.1))),
                                    "label": pd.array(rng.random(customers) < q, dtype="Int8"), "complete": True}))
    return pd.concat(frames, ignore_index=True)


def test_recalibrated_estimate_is_within_tolerance_of_the_realised_auc_on_a_simulated_bank():
    """Horizon 2: month t is recalibrated on month t - 2 (6,000 customers, ~600 churners each).

    Tolerance: the realised AUC's sampling sd here is ~0.008 and the map, fitted on another month of the same size,
    adds about as much; over 60 seeds (360 months) the error's sd was 0.011 and its largest value 0.037. So each
    month must be within 0.045 (~4 sd) and the mean absolute error within 0.025 (the worst seed's was 0.019).
    The estimate that assumes p calibrated (q = p) is off by more than 0.09 in every month of the same banks.
    """
    scores = squeezed_bank(11)
    table = backtest(scores, horizon_months=2, recalibration_months=1, draws=0, max_rows=1000, ece_bins=10,
                     seed=0)
    recalibrated = table[table["recalibrated_on"].notna()]
    assert len(recalibrated) == 6 and table["recalibrated_on"].iloc[:2].isna().all()
    assert (recalibrated["recalibrated_on"] == recalibrated["month"] - pd.offsets.MonthEnd(2)).all()
    assert recalibrated["auc_error"].abs().max() < 0.045
    assert recalibrated["auc_error"].abs().mean() < 0.025
    assert recalibrated["churn_rate_error"].abs().max() < 0.03  # mean of the recalibrated q
    assert table["auc"].max() - table["auc"].min() > 0.03  # the covariate shift moves the AUC ...
    assert recalibrated["expected_auc"].iloc[-1] - recalibrated["expected_auc"].iloc[0] > 0.015  # ... and the estimate
    naive = np.array([expected_auc(g["p_churn"]) for _, g in scores.groupby("month")])
    assert (table["auc"].to_numpy() - naive > 0.09).all()
    assert table["auc_error"].iloc[:2].to_numpy() == pytest.approx(naive[:2] - table["auc"].iloc[:2].to_numpy())


def test_recalibration_rows_use_only_labels_known_at_scoring_time():
    """Monitored months 1..5 (month-ends of 2024), horizon 2; the reference has cutoffs in 2023-09 and 2023-12.

    At 2024-02 no monitored month is known (2024-01 + 2 > 2024-02): the latest reference cutoff known is 2023-12.
    At 2024-03 month 2024-01 is known, and out-of-time months win over the reference from then on.
    """
    ends = pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"])
    labelled = pd.DataFrame({"month": ends.repeat(2), "p_churn": 0.1, "label": pd.array([0, 1] * 5, dtype="Int8")})
    history = pd.DataFrame({"month": pd.to_datetime(["2023-09-30", "2023-12-31"]).repeat(2), "p_churn": 0.1,
                            "label": pd.array([0, 1, 0, pd.NA], dtype="Int8")})

    def picked(month, months=1, history=history):
        rows = recalibration_rows(labelled, history, pd.Timestamp(month), horizon_months=2, months=months)
        return sorted(str(m.date()) for m in rows["month"].unique()), len(rows)

    assert picked("2024-01-31") == (["2023-09-30"], 2)  # 2023-12 is known only from 2024-02 on
    assert picked("2024-02-29") == (["2023-12-31"], 1)  # its unknown label is left out
    assert picked("2024-02-29", months=2) == (["2023-09-30", "2023-12-31"], 3)
    assert picked("2024-03-31") == (["2024-01-31"], 2)
    assert picked("2024-05-31", months=2) == (["2024-02-29", "2024-03-31"], 4)
    assert picked("2024-01-31", history=None) == ([], 0)


def test_without_labelled_rows_or_without_both_classes_the_estimate_assumes_calibration():
    assert recalibration([0.1, 0.2], [0, 0]) is None
    assert recalibrated_auc([0.8, 0.5, 0.1], [1, 1, 1]) == pytest.approx(expected_auc([0.8, 0.5, 0.1]))
    fitted = recalibration([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    # pooled (0.1: 0, 0.2-0.3: 1/2, 0.4: 1), interpolated between the points and clipped outside them
    assert fitted.predict([0.05, 0.15, 0.35, 0.9]).tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])


def test_backtest_fills_realised_metrics_only_for_complete_months():
    rng = np.random.default_rng(2)
    p = rng.beta(1, 8, 3000)
    y = (rng.random(3000) < p).astype(int)
    scores = pd.DataFrame({"month": np.repeat(pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31"]), 1000),
                           "p_churn": p, "label": pd.array(np.where(np.arange(3000) < 2000, y, -1), dtype="Int8"),
                           "complete": np.repeat([True, True, False], 1000)})
    scores.loc[scores["label"] < 0, "label"] = pd.NA
    table = backtest(scores, horizon_months=1, recalibration_months=1, draws=20, max_rows=1000,
                     ece_bins=10, seed=0)
    assert table["auc"].notna().tolist() == [True, True, False]
    first = realised_performance(y[:1000], p[:1000], ece_bins=10)
    assert table["auc"].iloc[0] == pytest.approx(first["auc"])
    assert table["auc_error"].iloc[0] == pytest.approx(table["expected_auc"].iloc[0] - first["auc"])
    assert np.isnan(table["auc_error"].iloc[2])
    # January has no labelled month before it (q = p); February and March use the month before
    assert table["recalibrated_on"].tolist()[1:] == list(pd.to_datetime(["2024-01-31", "2024-02-29"]))
    assert pd.isna(table["recalibrated_on"].iloc[0])
    assert table["expected_auc"].iloc[0] == pytest.approx(expected_auc(p[:1000]))
    q = recalibration(p[:1000], y[:1000]).predict(p[1000:2000])
    assert table["expected_auc"].iloc[1] == pytest.approx(expected_auc(p[1000:2000], q))
    assert table["expected_churn_rate"].iloc[1] == pytest.approx(q.mean())
