"""Held-out survival metrics: known orderings, the oracle ratio, calibration of a true model."""

import numpy as np
import pandas as pd
import pytest

from churnlab.survival.metrics import calibration_by_decile, evaluate, harrell_c, ici, oracle_scores


def exponential_customers(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Residual times with a known monthly hazard per customer, censored uniformly up to 48 months."""
    rng = np.random.default_rng(seed)
    hazard = rng.choice([0.01, 0.03, 0.08], n)
    t = np.ceil(rng.exponential(1 / hazard))
    censor = rng.integers(1, 49, n)
    frame = pd.DataFrame({"customer_id": [f"C{seed}-{i}" for i in range(n)], "residual": np.minimum(t, censor),
                          "churned": (t <= censor).astype(int)})
    return frame, hazard


def true_survival(hazard: np.ndarray, months: np.ndarray) -> np.ndarray:
    return np.exp(-hazard[:, None] * months[None, :])


def test_true_model_scores_well_and_a_reversed_one_badly():
    train, _ = exponential_customers(3000, 0)
    test, hazard = exponential_customers(3000, 1)
    months = np.arange(1, 37)
    kw = dict(risk_months=24, auc_months=[6, 12, 24], ibs_months=36, horizon=6, tau=36)
    good = evaluate(true_survival(hazard, months), months, train, test, **kw)
    bad = evaluate(true_survival(hazard[::-1].copy(), months), months, train, test, **kw)
    flipped = evaluate(true_survival(0.12 - hazard, months), months, train, test, **kw)
    assert good["c_index_harrell"] > 0.6 and good["c_index_uno"] > 0.6 and good["td_auc_12"] > 0.6
    assert flipped["c_index_harrell"] < 0.4
    assert good["ibs"] < bad["ibs"]
    assert good["ici"] < 0.02
    assert set(good) == {"c_index_harrell", "c_index_uno", "td_auc_6", "td_auc_12", "td_auc_24", "ibs", "ici"}


def test_harrell_c_on_a_hand_worked_example():
    # Comparable pairs (the earlier time is an event): (1,2), (1,3), (1,4), (3,4); customer 2 is censored
    # at 2, so (2, x) pairs are not comparable. Risks order (1,2), (1,3), (1,4) right and (3,4) wrong: C = 3/4.
    frame = pd.DataFrame({"residual": [1.0, 2.0, 3.0, 4.0], "churned": [1, 0, 1, 1]})
    assert harrell_c(frame, np.array([0.9, 0.1, 0.2, 0.5])) == pytest.approx(3 / 4)


def test_harrell_c_equals_scikit_survivals_pairwise_count_with_tied_times_and_risks():
    """lifelines' O(n log n) count against scikit-survival's every-pair one (an independent implementation)."""
    from sksurv.metrics import concordance_index_censored

    frame, hazard = exponential_customers(3000, 6)
    risk = np.round(hazard + np.random.default_rng(6).normal(0, 0.02, len(hazard)), 2)  # many tied risks
    expected = concordance_index_censored(frame["churned"].astype(bool).to_numpy(), frame["residual"].to_numpy(float),
                                          risk)[0]
    assert harrell_c(frame, risk) == pytest.approx(expected, abs=1e-12)


def test_oracle_ratio_is_one_for_the_oracle_itself():
    test, hazard = exponential_customers(500, 2)
    truth = pd.DataFrame({"customer_id": test["customer_id"], "p24": 1 - np.exp(-24 * hazard)})
    truth.loc[0, "p24"] = np.nan  # churned in the entry month: no true risk, left out of both
    out = oracle_scores(test, truth, {"oracle_copy": truth["p24"].to_numpy()}, column="p24")
    assert out["oracle_customers"] == 499
    assert out["oracle_copy"]["oracle_ratio"] == pytest.approx(1.0)


def test_calibration_deciles_and_ici_of_a_miscalibrated_model():
    test, hazard = exponential_customers(4000, 3)
    predicted = 1 - np.exp(-6 * hazard)
    deciles = calibration_by_decile(test, predicted, horizon=6)
    assert len(deciles) == 10 and deciles["customers"].sum() == 4000
    assert np.abs(deciles["predicted"] - deciles["observed"]).max() < 0.05
    time, event = test["residual"].to_numpy(float), test["churned"].to_numpy()
    assert ici(time, event, np.clip(predicted * 2, 0, 0.99), horizon=6) > 3 * ici(time, event, predicted, horizon=6)


def test_a_window_that_ends_at_tau_is_cut_a_month_before_its_end():
    """36 months of data and tau = 36: everyone still followed at month 36 is censored there, so the censoring
    survival is 0 at 36 and IPCW cannot weight it; the metrics are cut at 35 instead of failing."""
    frames = []
    for seed in (4, 5):
        frame, hazard = exponential_customers(2000, seed)
        t = np.ceil(np.random.default_rng(seed + 10).exponential(1 / hazard))
        censor = np.where(np.random.default_rng(seed + 20).random(len(t)) < 0.3,
                          np.random.default_rng(seed + 30).integers(1, 36, len(t)), 36)
        frame["residual"], frame["churned"] = np.minimum(t, censor), (t <= censor).astype(int)
        frames.append((frame, hazard))
    (train, _), (test, hazard) = frames
    months = np.arange(1, 37)
    out = evaluate(true_survival(hazard, months), months, train, test, risk_months=24, auc_months=[6, 12, 24],
                   ibs_months=36, horizon=6, tau=36)
    assert out["c_index_uno"] > 0.6 and 0 < out["ibs"] < 0.25
