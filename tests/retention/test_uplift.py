"""Uplift metrics on a hand-worked case, and the T- and X-learners on a synthetic campaign with a known effect."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.checks import ColumnError
from churnlab.retention.uplift import (
    TLearner,
    XLearner,
    auuc,
    evaluate_uplift,
    fit_learners,
    qini_coefficient,
    uplift_at,
    uplift_curves,
)

# Eight customers, already in score order (scores 8..1): treated T or control C, retained 1 or churned 0.
#   order:     T1 C1 T2 C2 T3 C3 T4 C4
#   retained:   1  0  1  0  0  1  0  1
SCORE = np.arange(8, 0, -1, dtype=float)
TREATED = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
CHURNED = 1 - np.array([1, 0, 1, 0, 0, 1, 0, 1])


def test_qini_curve_auuc_and_uplift_at_k_match_the_hand_worked_case():
    """Q(k) = R_T - R_C N_T / N_C:
        k=1: R_T=1, N_C=0            -> 1        k=5: N_T=3 R_T=2 N_C=2 R_C=0 -> 2
        k=2: N_T=1 R_T=1 N_C=1 R_C=0 -> 1        k=6: N_T=3 R_T=2 N_C=3 R_C=1 -> 2 - 1 = 1
        k=3: N_T=2 R_T=2 N_C=1 R_C=0 -> 2        k=7: N_T=4 R_T=2 N_C=3 R_C=1 -> 2 - 4/3 = 2/3
        k=4: N_T=2 R_T=2 N_C=2 R_C=0 -> 2        k=8: N_T=4 R_T=2 N_C=4 R_C=2 -> 0
    Q(n) = 0, so the random line is 0 and the Qini coefficient is sum Q / n^2 = (29/3) / 64.
    G(k) = (R_T/N_T - R_C/N_C) k: 0 (no control yet), 2, 3, 4, (2/3) 5, (1/3) 6, (1/2 - 1/3) 7, 0;
    the sum is 15.5, so AUUC = 15.5 / 64.
    Uplift at the top 25 % (k=2): 1/1 - 0/1 = 1; at the top 50 % (k=4): 2/2 - 0/2 = 1; at 100 %: 2/4 - 2/4 = 0.
    """
    curve = uplift_curves(SCORE, TREATED, CHURNED)
    np.testing.assert_allclose(curve["qini"], [1, 1, 2, 2, 2, 1, 2 / 3, 0])
    np.testing.assert_allclose(curve["gain"], [0, 2, 3, 4, 10 / 3, 2, 7 / 6, 0])
    assert qini_coefficient(curve) == pytest.approx((29 / 3) / 64)
    assert auuc(curve) == pytest.approx(15.5 / 64)
    assert uplift_at(SCORE, TREATED, CHURNED, share=0.25) == pytest.approx(1.0)
    assert uplift_at(SCORE, TREATED, CHURNED, share=0.5) == pytest.approx(1.0)
    assert uplift_at(SCORE, TREATED, CHURNED, share=1.0) == pytest.approx(0.0)


def test_reversing_the_ranking_flips_the_qini_sign_and_ties_follow_row_order():
    """Worst-first ranking: Q(k) for the reversed order is below the random line, so the coefficient is < 0."""
    reversed_curve = uplift_curves(-SCORE, TREATED, CHURNED)
    assert qini_coefficient(reversed_curve) < 0
    tied = uplift_curves(np.zeros(8), TREATED, CHURNED)  # stable sort keeps the row order
    np.testing.assert_allclose(tied["qini"], uplift_curves(SCORE, TREATED, CHURNED)["qini"])


def test_evaluate_uplift_reports_each_score_with_a_bootstrap_interval():
    metrics, curves = evaluate_uplift({"model": SCORE, "flat": np.zeros(8)}, TREATED, CHURNED,
                                      top_shares=[0.25, 0.5], curve_points=5, n_boot=20, seed=1)
    assert metrics["model"]["qini"] == pytest.approx((29 / 3) / 64)
    assert metrics["model"]["uplift_at_25"] == pytest.approx(1.0)
    assert metrics["model"]["qini_lo"] <= metrics["model"]["qini_hi"]
    assert set(curves["model"]) == {"model", "flat"} and len(curves) == 10


def test_uplift_inputs_of_different_lengths_are_an_error():
    with pytest.raises(ValueError, match="same length"):
        uplift_curves(SCORE[:5], TREATED, CHURNED)


def synthetic_campaign(n: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """Churn 30 %; the offer removes 20 points of churn for price-sensitive customers (x > 0) and none otherwise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=n), "noise": rng.normal(size=n),
                          "segment": pd.Categorical(rng.choice(["mass", "affluent"], n))})
    frame["treated"] = rng.random(n) < 0.5
    p = 0.3 - 0.2 * (frame["x"] > 0) * frame["treated"]
    frame["churned"] = (rng.random(n) < p).astype(int)
    return frame, {"categorical": ["segment"], "flag": [], "numeric": ["x", "noise"]}


@pytest.mark.parametrize("learner", [TLearner, XLearner])
def test_learners_find_who_the_offer_helps(learner):
    frame, kinds = synthetic_campaign(4000, seed=3)
    model = learner(kinds, seed=0, n_estimators=60, max_depth=2, learning_rate=0.1, min_child_weight=5)
    model.fit(frame, frame["treated"], frame["churned"])
    grid = pd.DataFrame({"x": [-1.5, 1.5], "noise": [0.0, 0.0], "segment": pd.Categorical(["mass", "mass"])})
    helped, unaffected = model.predict(grid)[::-1]
    assert helped > 0.1 and abs(unaffected) < 0.08
    assert helped > unaffected + 0.1


def test_fit_learners_rejects_unknown_names_and_a_missing_feature_column():
    frame, kinds = synthetic_campaign(400, seed=4)
    with pytest.raises(ValueError, match="unknown uplift learner"):
        fit_learners(frame, frame["treated"], frame["churned"], kinds, names=["s_learner"], seed=0, n_jobs=1,
                     xgboost={})
    model = TLearner(kinds, seed=0, n_estimators=5).fit(frame, frame["treated"], frame["churned"])
    with pytest.raises(ColumnError, match="'noise'"):
        model.predict(frame.drop(columns="noise"))


def test_learners_need_both_arms():
    frame, kinds = synthetic_campaign(200, seed=5)
    with pytest.raises(ValueError, match="both treated and control"):
        TLearner(kinds, seed=0).fit(frame, np.ones(len(frame), bool), frame["churned"])
