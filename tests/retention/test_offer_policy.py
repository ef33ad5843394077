"""Offer policies under a budget: hand-worked choices, no contact where no offer pays, true values by hand."""

import numpy as np
import pandas as pd
import pytest

from churnlab.retention.offer_policy import (
    CONTROL,
    best_offers,
    build_policies,
    expected_rewards,
    ranked_offer,
    spend,
    true_values,
)

COSTS = pd.Series({CONTROL: 0.0, "rate_match": 60.0, "nudge": 2.0})


def test_each_customer_gets_the_offer_of_highest_net_value_best_first_within_the_budget():
    """Net values (EUR): a 100 / 5 -> rate match, b 10 / 30 -> nudge, c 50 / 1 -> rate match, d -5 / -1 -> nothing
    pays. Budget 125: a (60) and c (60) fit, then b's nudge (2) would leave 3 -- it fits; d is never contacted."""
    net = pd.DataFrame({"rate_match": [100.0, 10.0, 50.0, -5.0], "nudge": [5.0, 30.0, 1.0, -1.0]}, index=list("abcd"))
    arms = best_offers(net, COSTS, budget=125.0)
    assert arms.to_dict() == {"a": "rate_match", "b": "nudge", "c": "rate_match", "d": CONTROL}
    tight = best_offers(net, COSTS, budget=61.0)  # a first (net 100): 1 EUR left, b's nudge does not fit
    assert tight.to_dict() == {"a": "rate_match", "b": CONTROL, "c": CONTROL, "d": CONTROL}


def test_where_no_offer_pays_nobody_is_contacted_whatever_the_budget():
    net = pd.DataFrame({"rate_match": [-1.0, -50.0], "nudge": [-0.5, -2.0]})
    assert (best_offers(net, COSTS, budget=1e6) == CONTROL).all()


def test_spend_skips_an_offer_that_no_longer_fits_but_takes_a_cheaper_one_later():
    arms = spend(np.array([0, 1, 2]), np.array(["rate_match", "rate_match", "nudge"], dtype=object), COSTS,
                 budget=70.0, n=3)
    assert arms.tolist() == ["rate_match", CONTROL, "nudge"]


def test_ranked_offer_contacts_the_top_scores_until_the_budget_is_spent():
    arms = ranked_offer(np.array([0.1, 0.9, 0.5]), "rate_match", COSTS, budget=120.0, index=pd.Index(list("xyz")))
    assert arms.to_dict() == {"x": CONTROL, "y": "rate_match", "z": "rate_match"}


def test_true_values_by_hand():
    """Two customers worth 1,000 and 100 EUR. Customer 0: p 0.5 without contact, 0.3 with the rate match: kept
    0.2 x 1,000 = 200 for 60, net 140. Customer 1: nudge, p 0.2 -> 0.19: 1 for 2, net -1. Total 139."""
    p = pd.DataFrame({CONTROL: [0.5, 0.2], "rate_match": [0.3, 0.2], "nudge": [0.5, 0.19]})
    policy = {"mixed": pd.Series(["rate_match", "nudge"]), "none": pd.Series([CONTROL, CONTROL])}
    values = true_values(policy, p, pd.Series([1000.0, 100.0]), COSTS).set_index("policy")
    assert values.loc["mixed", "true_net_value"] == pytest.approx(139.0)
    assert values.loc["mixed", "true_reward"] == pytest.approx(((1000 * 0.7 - 60) + (100 * 0.81 - 2)) / 2)
    assert values.loc["none", "true_net_value"] == 0.0 and values.loc["mixed", "spent"] == 62.0


def test_the_oracle_ranks_first_on_true_values_and_policies_share_one_budget():
    """Random customers with known effects: the oracle's choice, made on the true net values, is worth the most."""
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"risk": rng.uniform(0, 1, n), "value": rng.lognormal(6, 1, n)})
    p = pd.DataFrame({CONTROL: frame["risk"]})
    p["rate_match"] = np.clip(p[CONTROL] - rng.uniform(-0.05, 0.2, n) * frame["risk"], 0, 1)
    p["nudge"] = np.clip(p[CONTROL] - 0.02 * frame["risk"], 0, 1)
    true_net = pd.DataFrame({a: frame["value"] * (p[CONTROL] - p[a]) - COSTS[a] for a in ("rate_match", "nudge")})
    noisy = true_net + rng.normal(0, 30, true_net.shape)
    policies = build_policies(frame, noisy, COSTS, single_offer="rate_match", budget=3000.0, seed=1,
                              true_net=true_net)
    values = true_values(policies, p, frame["value"], COSTS).set_index("policy")["true_net_value"]
    assert values.idxmax() == "oracle" and values["oracle"] > values.drop("oracle").max()
    spent = true_values(policies, p, frame["value"], COSTS)["spent"]
    assert (spent <= 3000.0).all()


def test_expected_rewards_add_the_effect_to_the_risk():
    effects = pd.DataFrame({"rate_match": [-0.2], "nudge": [0.9]})
    rewards = expected_rewards(pd.Series([0.5]), effects, pd.Series([100.0]), COSTS)
    assert rewards.iloc[0].to_dict() == pytest.approx({CONTROL: 50.0, "rate_match": 70.0 - 60.0, "nudge": -2.0})
