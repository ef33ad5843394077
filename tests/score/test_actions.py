"""Actions: reasons pick the matching action, and an action is recommended only when benefit exceeds cost."""

import numpy as np
import pandas as pd
import pytest

from churnlab.score.actions import NO_ACTION, Action, actions_without_reasons, catalogue, recommend

ACTIONS = catalogue({
    "rate_match": {"cost": 60.0, "channel": "phone", "response": 0.35, "reasons": ["competitor_spread"]},
    "complaint_recovery": {"cost": 40.0, "channel": "phone", "response": 0.40, "reasons": ["complaints_3m"]},
    "digital_nudge": {"cost": 2.0, "channel": "app", "response": 0.05, "reasons": ["tx_count_change_3m"]},
    "fee_waiver": {"cost": 30.0, "channel": "letter", "response": 0.25, "reasons": ["fees_3m:up"]},
    "rm_call": {"cost": 120.0, "channel": "relationship manager", "response": 0.2, "response_unmatched": 0.1,
                "reasons": ["n_products"], "segments": ["private"]},
})


def reasons(*features, direction: str = "up") -> pd.DataFrame:
    """Top-reason columns as `top_reasons` gives them; every reason has `direction`."""
    padded = [list(f) + [None] * (3 - len(f)) for f in features]
    frame = pd.DataFrame(padded, columns=[f"reason_{k}_feature" for k in (1, 2, 3)])
    for k in (1, 2, 3):
        frame[f"reason_{k}_direction"] = frame[f"reason_{k}_feature"].map(lambda f: None if f is None else direction)
    return frame


def test_the_reason_picks_the_action_and_benefit_must_exceed_cost():
    """p 0.5, CLV 1000: complaint recovery saves 0.5 x 1000 x 0.40 = 200 for 40 (net 160); a rate match saves
    175 for 60 (net 115); the same complaint at p 0.05 saves 20 < 40: no action; high fees: a fee waiver saves
    125 for 30 (net 95); unmatched reasons: no action."""
    p = pd.Series([0.5, 0.5, 0.05, 0.5, 0.5])
    clv = pd.Series([1000.0] * 5)
    why = reasons(["complaints_3m", "fees_3m"], ["competitor_spread"], ["complaints_3m"], ["fees_3m"], ["age"])
    out = recommend(p, clv, why, pd.Series(["mass"] * 5), ACTIONS)
    assert out["action"].tolist() == ["complaint_recovery", "rate_match", NO_ACTION, "fee_waiver", NO_ACTION]
    np.testing.assert_allclose(out["expected_benefit"], [200.0, 175.0, 0.0, 125.0, 0.0])
    np.testing.assert_allclose(out["expected_net_benefit"], [160.0, 115.0, 0.0, 95.0, 0.0])
    np.testing.assert_allclose(out["action_cost"], [40.0, 60.0, 0.0, 30.0, 0.0])
    assert (out.loc[out["action"] != NO_ACTION, "expected_benefit"] > out.loc[out["action"] != NO_ACTION,
                                                                              "action_cost"]).all()


def test_the_best_net_benefit_wins_when_several_reasons_match():
    """Both complaint (net 0.4 x 400 - 40 = 120) and rate (0.35 x 400 - 60 = 80) match: complaint recovery."""
    out = recommend(pd.Series([0.8]), pd.Series([500.0]), reasons(["competitor_spread", "complaints_3m"]),
                    pd.Series(["mass"]), ACTIONS)
    assert out["action"].item() == "complaint_recovery"
    assert out["expected_net_benefit"].item() == pytest.approx(120.0)


def test_a_directed_reason_matches_only_its_direction():
    """Low fees are no reason for a fee waiver (fees_3m:up): the same customer with fees down gets nothing."""
    up = recommend(pd.Series([0.5]), pd.Series([1000.0]), reasons(["fees_3m"], direction="up"), pd.Series(["mass"]),
                   ACTIONS)
    down = recommend(pd.Series([0.5]), pd.Series([1000.0]), reasons(["fees_3m"], direction="down"),
                     pd.Series(["mass"]), ACTIONS)
    assert (up["action"].item(), down["action"].item()) == ("fee_waiver", NO_ACTION)


def test_segment_limits_and_unmatched_response():
    """A private customer with p 0.5 and CLV 10,000 and no matching reason: rm call 0.5 x 10,000 x 0.1 - 120 =
    380; a mass customer with the same figures cannot have it; the nudge needs its reason."""
    why = reasons(["age"], ["age"])
    out = recommend(pd.Series([0.5, 0.5]), pd.Series([10000.0, 10000.0]), why, pd.Series(["private", "mass"]),
                    ACTIONS)
    assert out["action"].tolist() == ["rm_call", NO_ACTION]
    assert out["expected_net_benefit"].iloc[0] == pytest.approx(380.0)


def test_a_cheap_nudge_for_a_small_risk_and_no_clv_means_no_action():
    """p 0.2, CLV 500: the nudge saves 0.2 x 500 x 0.05 = 5 > 2."""
    why = reasons(["tx_count_change_3m"], ["tx_count_change_3m"])
    out = recommend(pd.Series([0.2, 0.2]), pd.Series([500.0, np.nan]), why, pd.Series(["mass", "mass"]), ACTIONS)
    assert out["action"].tolist() == ["digital_nudge", NO_ACTION]
    assert out["expected_net_benefit"].iloc[0] == pytest.approx(3.0)


def test_catalogue_errors_name_the_action():
    with pytest.raises(TypeError, match="fee_waiver"):
        catalogue({"fee_waiver": {"cost": 30.0, "channel": "letter", "respnse": 0.2}})
    with pytest.raises(ValueError, match="response"):
        Action(name="bad", cost=1.0, channel="app", response=1.5)
    with pytest.raises(ValueError, match="empty"):
        recommend(pd.Series([0.5]), pd.Series([1.0]), reasons([]), pd.Series(["mass"]), [])


def test_without_segments_a_segment_limited_action_is_offered_to_no_one():
    """A snapshot file without a bank segment: the rm call (private only) cannot be given; the others still can."""
    why = reasons(["age"], ["complaints_3m"])
    out = recommend(pd.Series([0.5, 0.5]), pd.Series([10000.0, 1000.0]), why, None, ACTIONS)
    assert out["action"].tolist() == [NO_ACTION, "complaint_recovery"]


def test_actions_whose_reasons_name_no_model_feature_are_listed():
    """On a snapshot file with Churn_Modelling-like columns no catalogue reason names a model feature."""
    features = ["credit_score", "age", "balance", "num_of_products", "is_active_member"]
    assert actions_without_reasons(ACTIONS, features) == ["rate_match", "complaint_recovery", "digital_nudge",
                                                          "fee_waiver", "rm_call"]
    assert actions_without_reasons(ACTIONS, ["fees_3m", "n_products"]) == ["rate_match", "complaint_recovery",
                                                                          "digital_nudge"]
