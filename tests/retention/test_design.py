"""The next campaign's design: sample sizes by hand and against statsmodels, the allocation's exact propensities,
and the realised uplift on a hand-worked campaign."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

from churnlab.core.checks import ColumnError
from churnlab.retention.design import (
    allocate,
    design_propensities,
    minimum_detectable_uplift,
    power_table,
    realised_uplift,
    rows_to_confirm,
    sample_size_per_arm,
)

ARMS = ["control", "a", "b"]


def test_sample_size_matches_the_normal_approximation_worked_by_hand():
    """20 % -> 15 % churn: h = 2 asin(sqrt(0.20)) - 2 asin(sqrt(0.15)) = 0.927295 - 0.795399 = 0.131896;
    n = 2 (z_0.975 + z_0.8)^2 / h^2 = 2 (1.959964 + 0.841621)^2 / 0.131896^2 = 15.697757 / 0.017397 = 902.34 -> 903.
    """
    assert sample_size_per_arm(0.20, 0.05) == 903
    assert 2 * (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 / proportion_effectsize(0.2, 0.15) ** 2 == pytest.approx(
        902.34, abs=0.01)


def test_rows_to_confirm_a_gain_match_the_one_sample_formula_worked_by_hand():
    """A gain of 3 EUR per row with a spread of 100 EUR per row: n = ((z_0.975 + z_0.8) x 100 / 3)^2
    = (2.801585 x 33.3333)^2 = 93.3862^2 = 8,720.98 -> 8,721; a gain twice as large needs a quarter of the rows."""
    assert ((norm.ppf(0.975) + norm.ppf(0.8)) * 100 / 3) ** 2 == pytest.approx(8720.98, abs=0.01)
    assert rows_to_confirm(3.0, 100.0) == 8721
    assert rows_to_confirm(6.0, 100.0) == math.ceil(8720.98 / 4)
    with pytest.raises(ValueError, match="gain and sd must be positive"):
        rows_to_confirm(-1.0, 100.0)


@pytest.mark.parametrize(("rate", "uplift", "alpha", "power"), [(0.24, 0.02, 0.05, 0.8), (0.1, 0.05, 0.01, 0.9),
                                                                 (0.3, 0.1, 0.05 / 4, 0.8)])
def test_sample_size_matches_statsmodels(rate, uplift, alpha, power):
    effect = proportion_effectsize(rate, rate - uplift)
    expected = math.ceil(NormalIndPower().solve_power(effect, nobs1=None, alpha=alpha, power=power))
    assert sample_size_per_arm(rate, uplift, alpha=alpha, power=power) == expected


def test_smaller_uplifts_need_more_customers_and_the_detectable_uplift_inverts_the_sample_size():
    sizes = [sample_size_per_arm(0.24, u) for u in (0.08, 0.05, 0.03, 0.01)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    for uplift in (0.01, 0.03, 0.08):
        n = sample_size_per_arm(0.24, uplift)
        assert minimum_detectable_uplift(0.24, n) <= uplift < minimum_detectable_uplift(0.24, n - 1)
    detectable = minimum_detectable_uplift(0.24, 2000, alpha=0.05, power=0.8)
    achieved = NormalIndPower().power(proportion_effectsize(0.24, 0.24 - detectable), nobs1=2000, alpha=0.05)
    assert achieved == pytest.approx(0.8)


def test_power_table_lists_every_arm_with_control_added():
    table = power_table(0.2, [0.05, 0.03], arms=["a", "b"])
    assert list(table["arm"]) == ["control", "a", "b"] * 2
    first = table[table["uplift"] == 0.05]
    assert first["customers"].eq(903).all() and first["total"].eq(3 * 903).all()
    assert (table.loc[table["uplift"] == 0.03, "customers"] > 903).all()
    assert table["target_rate"].tolist() == pytest.approx([0.15] * 3 + [0.17] * 3)


def test_design_propensities_by_hand():
    """Control share 0.1, explore share 0.3, three arms: every arm gets 0.9 x 0.3 / 3 = 0.09 by exploration,
    control 0.1 more, the recommended arm 0.9 x 0.7 = 0.63 more. Recommended a: control 0.19, a 0.72, b 0.09;
    recommended control: 0.82, 0.09, 0.09."""
    recommended = pd.Series(["a", "control", "b"], index=pd.Index([7, 8, 9], name="customer_id"))
    probabilities = design_propensities(recommended, ["a", "b"], explore_share=0.3, control_share=0.1)
    assert list(probabilities.columns) == ARMS
    expected = [[0.19, 0.72, 0.09], [0.82, 0.09, 0.09], [0.19, 0.09, 0.72]]
    np.testing.assert_allclose(probabilities.to_numpy(), expected)


def recommended_for(n: int) -> pd.Series:
    index = pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id")
    return pd.Series(np.random.default_rng(0).choice(ARMS, n, p=[0.2, 0.5, 0.3]), index=index)


def test_allocation_shares_follow_the_design_and_every_arm_stays_possible():
    recommended = recommended_for(20_000)
    allocation = allocate(recommended, ARMS, explore_share=0.3, control_share=0.1, seed=4)
    n = len(allocation)
    for source, share in {"control": 0.1, "explore": 0.9 * 0.3, "policy": 0.9 * 0.7}.items():
        assert abs((allocation["source"] == source).mean() - share) < 4 * math.sqrt(share * (1 - share) / n)
    assert allocation.loc[allocation["source"] == "control", "arm"].eq("control").all()
    policy = allocation["source"] == "policy"
    assert allocation.loc[policy, "arm"].equals(recommended[policy])
    explored = allocation.loc[allocation["source"] == "explore", "arm"].value_counts(normalize=True)
    assert set(explored.index) == set(ARMS) and (explored - 1 / 3).abs().max() < 0.02
    probabilities = design_propensities(recommended, ARMS, explore_share=0.3, control_share=0.1)
    assert (probabilities.to_numpy() > 0).all()
    lookup = probabilities.to_numpy()[np.arange(n), probabilities.columns.get_indexer(allocation["arm"])]
    np.testing.assert_allclose(allocation["propensity"], lookup)
    # the realised arm frequencies among customers recommended `a` match their propensities
    shares = allocation.loc[recommended == "a", "arm"].value_counts(normalize=True)
    assert shares.to_dict() == pytest.approx({"control": 0.19, "a": 0.72, "b": 0.09}, abs=0.015)


def test_allocation_is_reproducible_and_its_control_group_persists():
    recommended = recommended_for(5_000)
    first = allocate(recommended, ARMS, explore_share=0.3, control_share=0.1, seed=4)
    pd.testing.assert_frame_equal(first, allocate(recommended, ARMS, explore_share=0.3, control_share=0.1, seed=4))
    other = allocate(recommended, ARMS, explore_share=0.3, control_share=0.1, seed=5)
    assert not other["source"].equals(first["source"])
    in_control = first["source"] == "control"
    assert in_control.equals(other["source"] == "control")  # the next campaign keeps the same control group
    shuffled = allocate(recommended.iloc[::-1], ARMS, explore_share=0.3, control_share=0.1, seed=4)
    assert in_control.equals(shuffled["source"].eq("control").loc[first.index])
    wider = allocate(recommended, ARMS, explore_share=0.3, control_share=0.2, seed=4)["source"] == "control"
    assert (wider | ~in_control).all()  # a larger share only adds customers


def test_realised_uplift_of_a_hand_worked_campaign():
    """Control: 4 of 10 churned; offer a: 1 of 10. Uplift 0.4 - 0.1 = 0.3.
    p-value: pooled rate 5/20 = 0.25, se = sqrt(0.25 x 0.75 x (1/10 + 1/10)) = 0.193649, z = 1.549193, p = 0.12134.
    Wilson 95 % intervals (z = 1.959964): 4/10 -> (0.168177, 0.687326), 1/10 -> (0.017876, 0.404150); Newcombe:
    low = 0.3 - sqrt((0.4 - 0.168177)^2 + (0.404150 - 0.1)^2) = -0.08242,
    high = 0.3 + sqrt((0.1 - 0.017876)^2 + (0.687326 - 0.4)^2) = 0.59883."""
    outcomes = pd.DataFrame({"arm": ["control"] * 10 + ["a"] * 10, "churned": [1] * 4 + [0] * 6 + [1] + [0] * 9})
    row = realised_uplift(outcomes).iloc[0]
    assert (row["arm"], row["n"], row["control_n"]) == ("a", 10, 10)
    assert (row["churn_rate"], row["control_rate"], row["uplift"]) == pytest.approx((0.1, 0.4, 0.3))
    assert row["p_value"] == pytest.approx(0.12134, abs=1e-5)
    assert (row["low"], row["high"]) == pytest.approx((-0.08242, 0.59883), abs=1e-5)


def test_realised_uplift_matches_statsmodels_on_a_larger_campaign():
    rng = np.random.default_rng(2)
    arm = rng.choice(ARMS, 3000)
    churned = (rng.random(3000) < pd.Series(arm).map({"control": 0.25, "a": 0.18, "b": 0.27})).astype(int)
    table = realised_uplift(pd.DataFrame({"arm": arm, "churned": churned}), level=0.9).set_index("arm")
    assert set(table.index) == {"a", "b"}
    control = churned[arm == "control"]
    for name in ("a", "b"):
        offer = churned[arm == name]
        low, high = confint_proportions_2indep(control.sum(), len(control), offer.sum(), len(offer),
                                               method="newcomb", alpha=0.1)
        _, p_value = proportions_ztest([control.sum(), offer.sum()], [len(control), len(offer)])
        assert table.loc[name, ["low", "high", "p_value"]].tolist() == pytest.approx([low, high, p_value])
        assert table.loc[name, "uplift"] == pytest.approx(control.mean() - offer.mean())
    assert table.loc["a", "uplift"] > 0 and table.loc["a", "p_value"] < 0.01  # a 7-point drop on ~1,000 per arm


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: sample_size_per_arm(0.2, 0.3), ValueError, r"uplift must lie in \(0, control_rate"),
    (lambda: sample_size_per_arm(1.2, 0.1), ValueError, "control_rate must lie in"),
    (lambda: minimum_detectable_uplift(0.2, 3), ValueError, "cannot detect even a drop"),
    (lambda: allocate(recommended_for(5), ARMS, explore_share=0.0, control_share=0.1, seed=0), ValueError,
     "explore_share must be > 0"),
    (lambda: allocate(recommended_for(5), ["a"], explore_share=0.2, control_share=0.1, seed=0), ValueError,
     r"arm\(s\) \['b'\] are not among"),
    (lambda: realised_uplift(pd.DataFrame({"arm": ["a"], "churn": [1]})), ColumnError, "'churned'"),
    (lambda: realised_uplift(pd.DataFrame({"arm": ["control", "a"], "churned": [1, 2]})), ValueError,
     "'churned' must be 0 or 1"),
    (lambda: realised_uplift(pd.DataFrame({"arm": ["a", "b"], "churned": [1, 0]})), ValueError,
     "no 'control' customers"),
])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
