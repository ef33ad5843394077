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


def learner(final_features: dict[str, list[str]], **options) -> OfferEffects:
    kinds = {"categorical": ["segment"], "flag": [], "numeric": ["risk", "complaints_3m", "deposit_balance"]}
    return OfferEffects(kinds, seed=0, n_jobs=1, final_features=final_features, scale_by_risk=True,
                        alpha=options.pop("alpha", 1.0), folds=2,
                        xgboost={"n_estimators": 50, "max_depth": 3, **options})


def known_campaign(n: int = 6000, seed: int = 3):
    """A randomised campaign over three arms where the truth is known: "match" cuts churn by 60 % of the risk for
    customers with complaints and does nothing otherwise; "nudge" cuts it by 30 % for everyone."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"risk": rng.uniform(0.05, 0.9, n), "complaints_3m": rng.poisson(0.5, n).astype(float),
                          "deposit_balance": rng.lognormal(8, 1, n),
                          "segment": rng.choice(["mass", "affluent"], n)})
    arm = pd.Series(rng.choice([CONTROL, "match", "nudge"], n))
    complained = frame["complaints_3m"] > 0
    true = pd.DataFrame({"match": -0.6 * frame["risk"] * complained, "nudge": -0.3 * frame["risk"]})
    p = frame["risk"] + np.select([arm == "match", arm == "nudge"], [true["match"], true["nudge"]], 0.0)
    return frame, arm, pd.Series((rng.random(n) < p).astype(int)), true


def test_the_dr_learner_recovers_effects_that_depend_on_the_customer():
    frame, arm, churned, true = known_campaign()
    fitted = learner({"match": ["complaints_3m"], "nudge": []}).fit(frame, arm, churned)
    effects = fitted.effects(frame)
    complained = frame["complaints_3m"] > 0
    assert list(effects.columns) == ["match", "nudge"]
    assert effects.loc[complained, "match"].mean() == pytest.approx(true.loc[complained, "match"].mean(), abs=0.06)
    assert abs(effects.loc[~complained, "match"].mean()) < 0.06
    assert np.corrcoef(effects["match"], true["match"])[0, 1] > 0.8
    # the nudge has no feature: one relative cut of the risk for everyone, near the true 30 %
    assert np.allclose(effects["nudge"] / frame["risk"], effects["nudge"].iloc[0] / frame["risk"].iloc[0])
    assert effects["nudge"].iloc[0] / frame["risk"].iloc[0] == pytest.approx(-0.3, abs=0.1)
    with pytest.raises(ValueError, match="needs control rows"):
        fitted.fit(frame, pd.Series("match", index=frame.index), churned)


def test_the_learned_offer_goes_to_the_reason_it_fixes():
    """Complaint recovery (EUR 40) keeps 60 % of complainers' risk, nothing otherwise; the nudge (EUR 2) keeps 30 %
    of everyone's. Worth 1,000 EUR if kept, a complainer at risk 0.5 is worth 300 - 40 with the recovery, 150 - 2
    with the nudge: the policy gives complainers the recovery and everyone else the nudge, as the truth does."""
    frame, arm, churned, true = known_campaign(n=8000)
    arm = arm.replace({"match": "complaint_recovery", "nudge": "digital_nudge"})
    fitted = learner({"complaint_recovery": ["complaints_3m"], "digital_nudge": []}).fit(frame, arm, churned)
    costs = pd.Series({CONTROL: 0.0, "complaint_recovery": 40.0, "digital_nudge": 2.0})
    value = pd.Series(1000.0, index=frame.index)
    best = net_values(fitted.effects(frame), value, costs).idxmax(axis=1)
    truth = net_values(true.set_axis(["complaint_recovery", "digital_nudge"], axis=1), value, costs).idxmax(axis=1)
    at_risk = frame["risk"] > 0.3  # where either offer pays clearly
    assert (best[at_risk] == truth[at_risk]).mean() > 0.9
    assert (best[at_risk & (frame["complaints_3m"] > 0)] == "complaint_recovery").mean() > 0.9


def test_final_features_name_categories_and_numbers_and_fail_clearly():
    frame, arm, churned, _ = known_campaign(n=600)
    fitted = learner({"match": ["segment=mass", "deposit_balance"]}, n_estimators=5).fit(frame, arm, churned)
    # the design: [1, standardised features] x risk; the category is its 0/1 indicator
    design = fitted._final(frame, "match") / frame["risk"].to_numpy()[:, None]
    mass = (frame["segment"] == "mass").to_numpy(float)
    np.testing.assert_allclose(design[:, 1], (mass - mass.mean()) / mass.std(), rtol=1e-9)
    np.testing.assert_allclose(design[:, 0], 1.0)
    with pytest.raises(ValueError, match="segment=<value>"):
        learner({"match": ["segment"]}, n_estimators=5).fit(frame, arm, churned)
    with pytest.raises(Exception, match="fees_3m"):
        learner({"match": ["fees_3m"]}, n_estimators=5).fit(frame, arm, churned)


def test_pseudo_outcomes_average_to_the_arms_difference_in_churn():
    """On a randomised campaign the AIPW scores' mean under an arm is close to that arm's churn rate (the outcome
    model's errors cancel in the correction term), and each customer's rows are scored by a model that never saw
    them: two rows of one customer, fitted on the other fold, get the same scores when their features match."""
    frame, arm, churned, _ = known_campaign(n=4000)
    fitted = learner({"match": [], "nudge": []}, n_estimators=20)
    fitted.offers_ = ["match", "nudge"]
    propensity = arm.map(arm.value_counts(normalize=True)).to_numpy()
    scores = fitted.pseudo_outcomes(frame, arm, churned, propensity, np.arange(len(frame)))
    assert list(scores.columns) == [CONTROL, "match", "nudge"]
    rates = churned.groupby(arm).mean()
    for a in scores.columns:
        assert scores[a].mean() == pytest.approx(rates[a], abs=0.01)
    # the same customer twice (same features, same arm and outcome) in one group: one fold, the same scores
    twice = pd.concat([frame, frame.iloc[:1]], ignore_index=True)
    arms2 = pd.concat([arm, arm.iloc[:1]], ignore_index=True)
    churned2 = pd.concat([churned, churned.iloc[:1]], ignore_index=True)
    groups = np.r_[np.arange(len(frame)), 0]
    scores2 = fitted.pseudo_outcomes(twice, arms2, churned2, np.r_[propensity, propensity[0]], groups)
    np.testing.assert_allclose(scores2.iloc[0], scores2.iloc[-1])
