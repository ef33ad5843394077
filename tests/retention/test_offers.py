"""Per-offer effects: arms, propensities and costs from the campaigns table; the DR learner on a known answer."""

import numpy as np
import pandas as pd
import pytest

from churnlab.retention.offers import CONTROL, OfferEffects, arm_costs, arm_propensities, campaign_arms, net_values


def campaigns() -> pd.DataFrame:
    """Two waves: wave 1 has 3 customers (one control), wave 2 has 2 (both rate match); no propensity logged."""
    return pd.DataFrame({"customer_id": list("abcde"),
                         "month": pd.to_datetime(["2022-01-31"] * 3 + ["2022-07-31"] * 2),
                         "treated": [True, True, False, True, True],
                         "offer": ["rate_match", "nudge", "rate_match", "rate_match", "rate_match"],
                         "cost": [60.0, 2.0, 0.0, 50.0, 70.0]})


def test_arms_costs_and_propensities_from_the_campaigns_table():
    rows = campaigns()
    assert campaign_arms(rows).tolist() == ["rate_match", "nudge", CONTROL, "rate_match", "rate_match"]
    assert arm_costs(rows).to_dict() == {CONTROL: 0.0, "nudge": 2.0, "rate_match": 60.0}  # mean of 60, 50, 70
    # without logged propensities: the arm's share of its wave
    np.testing.assert_allclose(arm_propensities(rows), [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])
    logged = rows.assign(propensity=[0.2, 0.3, 0.5, 0.6, 0.6])
    assert arm_propensities(logged).tolist() == [0.2, 0.3, 0.5, 0.6, 0.6]


def test_net_value_is_minus_effect_times_value_minus_cost():
    """A 10-point cut of churn on a customer worth 1,000 EUR is worth 100; the rate match costs 60: net 40."""
    effects = pd.DataFrame({"rate_match": [-0.1, 0.05]})
    net = net_values(effects, pd.Series([1000.0, 100.0]), pd.Series({CONTROL: 0.0, "rate_match": 60.0}))
    assert net["rate_match"].tolist() == pytest.approx([40.0, -65.0])
    with pytest.raises(ValueError, match="no cost for offer"):
        net_values(effects.assign(nudge=0.0), pd.Series([1.0, 1.0]), pd.Series({"rate_match": 60.0}))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_dr_learner_recovers_effects_that_depend_on_the_customer():
    """A randomised campaign over three arms where the truth is known: the offer "match" cuts churn by 60 % of
    the risk for customers with complaints and does nothing otherwise; "nudge" cuts it by 10 % for everyone."""
    rng = np.random.default_rng(3)
    n = 6000
    frame = pd.DataFrame({"risk": rng.uniform(0.05, 0.9, n), "complaints_3m": rng.poisson(0.5, n).astype(float),
                          "deposit_balance": rng.lognormal(8, 1, n)})
    arm = pd.Series(rng.choice([CONTROL, "match", "nudge"], n))
    complained = frame["complaints_3m"] > 0
    true = pd.DataFrame({"match": -0.6 * frame["risk"] * complained, "nudge": -0.1 * frame["risk"]})
    p = frame["risk"] + np.select([arm == "match", arm == "nudge"], [true["match"], true["nudge"]], 0.0)
    churned = pd.Series((rng.random(n) < p).astype(int))
    learner = OfferEffects({"categorical": [], "flag": [], "numeric": list(frame.columns)}, seed=0, n_jobs=1,
                           final_features=["complaints_3m"], scale_by_risk=True,
                           xgboost={"n_estimators": 50, "max_depth": 3}).fit(frame, arm, churned)
    effects = learner.effects(frame)
    assert list(effects.columns) == ["match", "nudge"]
    assert effects.loc[complained, "match"].mean() == pytest.approx(true.loc[complained, "match"].mean(), abs=0.06)
    assert abs(effects.loc[~complained, "match"].mean()) < 0.06
    assert np.corrcoef(effects["match"], true["match"])[0, 1] > 0.8
    with pytest.raises(ValueError, match="needs control rows"):
        learner.fit(frame, pd.Series("match", index=frame.index), churned)
