"""Off-policy estimators on a hand-worked log, double robustness, and a simulated campaign with known arm effects."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.checks import ColumnError
from churnlab.retention.offpolicy import dr_value, evaluate_policies, ipw_value, snipw_value

ARMS = ["control", "a", "b"]


def hand_log() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Six customers, randomised to control (1/2), a (1/4) and b (1/4); the policy matches rows 1, 2 and 6.

        row  arm      propensity  reward  policy   w = 1[arm = policy] / propensity
        1    control  0.5         10      control  2
        2    a        0.25        20      a        4
        3    b        0.25        -5      a        0
        4    control  0.5          0      a        0
        5    a        0.25         8      b        0
        6    b        0.25        12      b        4

    sum w r = 2 x 10 + 4 x 20 + 4 x 12 = 148, sum w = 10: IPW = 148 / 6, SNIPW = 148 / 10 = 14.8.
    The model predicts 5 (control), 10 (a), 6 (b) for everyone: sum q(policy) = 5 + 10 + 10 + 10 + 6 + 6 = 47;
    corrections w (r - q(arm)) on the matches: 2 (10 - 5) + 4 (20 - 10) + 4 (12 - 6) = 74: DR = 121 / 6.
    """
    index = pd.Index([11, 12, 13, 14, 15, 16], name="row")
    logs = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
                         "arm": ["control", "a", "b", "control", "a", "b"],
                         "propensity": [0.5, 0.25, 0.25, 0.5, 0.25, 0.25],
                         "reward": [10.0, 20.0, -5.0, 0.0, 8.0, 12.0]}, index=index)
    policy = pd.Series(["control", "a", "a", "a", "b", "b"], index=index)
    predicted = pd.DataFrame({"control": 5.0, "a": 10.0, "b": 6.0}, index=index)
    return logs, policy, predicted


def test_ipw_snipw_and_dr_match_the_hand_worked_log():
    logs, policy, predicted = hand_log()
    assert ipw_value(logs, policy) == pytest.approx(148 / 6)
    assert snipw_value(logs, policy) == pytest.approx(14.8)
    assert dr_value(logs, policy, predicted) == pytest.approx(121 / 6)
    table = evaluate_policies(logs, {"mixed": policy}, predicted, draws=20, seed=0).set_index("estimator")
    assert table["value"].to_dict() == pytest.approx({"ipw": 148 / 6, "snipw": 14.8, "dr": 121 / 6})
    assert table.loc["ipw", "total"] == pytest.approx(148.0)
    assert table.loc["ipw", "contacted_share"] == pytest.approx(5 / 6)
    assert table.loc["ipw", "matched"] == 3


def test_the_gain_over_a_baseline_matches_the_hand_worked_log():
    """Contacting no one: IPW 2 x 10 + 2 x 0 = 20 over 6; SNIPW 20 / 4 = 5; DR 6 x 5 + 2 (10 - 5) + 2 (0 - 5) = 30
    over 6 = 5. The mixed policy's gains are its values (above) minus these."""
    logs, policy, predicted = hand_log()
    nobody = pd.Series("control", index=logs.index)
    table = evaluate_policies(logs, {"mixed": policy, "nobody": nobody}, predicted, draws=50, seed=0,
                              baseline=nobody).set_index(["policy", "estimator"])
    assert table.loc["mixed", "gain"].to_dict() == pytest.approx({"ipw": 128 / 6, "snipw": 9.8, "dr": 91 / 6})
    assert (table.loc["nobody", ["gain", "gain_se", "gain_low", "gain_high"]] == 0).all().all()
    plain = evaluate_policies(logs, {"mixed": policy, "nobody": nobody}, predicted, draws=50, seed=0)
    pd.testing.assert_frame_equal(plain, table.reset_index()[plain.columns])  # same redraws with or without it


def test_dr_is_exact_with_an_exact_model_even_with_wrong_propensities_and_is_ipw_with_a_zero_model():
    """Rewards are deterministic (the model knows every customer's reward under every arm), so each correction
    r - q(arm) is 0 and DR is the policy's true value, whatever the propensities. IPW with the wrong ones is off."""
    rng = np.random.default_rng(3)
    outcomes = pd.DataFrame(rng.normal(100, 30, size=(8, 3)), columns=ARMS)
    arm = pd.Series(["control", "a", "b", "a", "control", "b", "a", "control"])
    logs = pd.DataFrame({"customer_id": range(8), "arm": arm,
                         "propensity": [0.9, 0.2, 0.7, 0.2, 0.9, 0.7, 0.2, 0.9],  # not the true 1/3
                         "reward": outcomes.to_numpy()[np.arange(8), outcomes.columns.get_indexer(arm)]})
    policy = pd.Series(["a", "a", "b", "control", "b", "b", "a", "a"])
    truth = outcomes.to_numpy()[np.arange(8), outcomes.columns.get_indexer(policy)].mean()
    assert dr_value(logs, policy, outcomes) == pytest.approx(truth)
    assert abs(ipw_value(logs, policy) - truth) > 10
    zero = pd.DataFrame(0.0, index=logs.index, columns=ARMS)
    assert dr_value(logs, policy, zero) == pytest.approx(ipw_value(logs, policy))


def simulated_campaign(n: int = 20_000, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """Half the customers are price-driven (segment 0), half service-driven (1). Randomised: control 1/2, a rate
    match 1/4 (EUR 20), b complaint recovery 1/4 (EUR 10). Churn: 30 % under control; a cuts it to 20 % in
    segment 0 only, b to 22 % in segment 1 only. Reward: EUR 500 if retained, minus the offer's cost. Expected
    rewards: control 350; a 380 (segment 0) / 330 (1); b 340 / 380."""
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, 2, n)
    arm = rng.choice(ARMS, size=n, p=[0.5, 0.25, 0.25])
    churn = {"control": [0.3, 0.3], "a": [0.2, 0.3], "b": [0.3, 0.22]}
    cost = {"control": 0.0, "a": 20.0, "b": 10.0}
    expected = pd.DataFrame({a: (1 - np.array(churn[a])[segment]) * 500 - cost[a] for a in ARMS})
    churned = rng.random(n) < np.array([churn[a][s] for a, s in zip(arm, segment, strict=True)])
    logs = pd.DataFrame({"customer_id": np.arange(n), "arm": arm,
                         "propensity": pd.Series(arm).map({"control": 0.5, "a": 0.25, "b": 0.25}),
                         "reward": np.where(churned, 0.0, 500.0) - pd.Series(arm).map(cost)})
    means = logs.groupby([segment, "arm"])["reward"].mean().unstack()  # the outcome model: arm x segment means
    predicted = pd.DataFrame(means.loc[segment].to_numpy(), columns=means.columns)[ARMS]
    policies = {"nobody": pd.Series("control", index=logs.index), "all_a": pd.Series("a", index=logs.index),
                "targeted": pd.Series(np.where(segment == 0, "a", "b"))}
    truth = {name: float(expected.to_numpy()[np.arange(n), expected.columns.get_indexer(p)].mean())
             for name, p in policies.items()}
    return logs, predicted, policies, truth


def test_bootstrap_intervals_cover_the_true_values_of_a_simulated_campaign():
    logs, predicted, policies, truth = simulated_campaign()
    table = evaluate_policies(logs, policies, predicted, draws=500, seed=1)
    table["truth"] = table["policy"].map(truth)
    assert truth["targeted"] == pytest.approx(380.0)
    assert ((table["low"] <= table["truth"]) & (table["truth"] <= table["high"])).all(), table
    assert ((table["value"] - table["truth"]).abs() < 3 * table["se"]).all(), table
    ipw, dr = (table[table["estimator"] == e].set_index("policy") for e in ("ipw", "dr"))
    # IPW is a plain mean of w r: its bootstrap standard error must be close to std(w r) / sqrt(n)
    w = (logs["arm"] == "a") / logs["propensity"]
    assert ipw.loc["all_a", "se"] == pytest.approx((w * logs["reward"]).std() / np.sqrt(len(logs)), rel=0.1)
    assert (dr["se"] < ipw["se"]).all()  # a good outcome model removes most of the weighting noise
    assert ipw.loc["targeted", "contacted_share"] == 1.0 and ipw.loc["nobody", "contacted_share"] == 0.0


def test_paired_gains_cover_the_true_gains_and_are_narrower_than_the_values():
    """True gains over contacting no one (350 per customer): all_a 355 - 350 = 5, targeted 380 - 350 = 30; `few`
    gives a only to the price-driven customers among the first fifth of rows (+30 each), no one else."""
    logs, predicted, policies, truth = simulated_campaign()
    price = policies["targeted"] == "a"  # segment 0
    policies["few"] = pd.Series(np.where(price & (logs.index < len(logs) // 5), "a", "control"))
    table = evaluate_policies(logs, policies, predicted, draws=500, seed=1, baseline=policies["nobody"])
    dr = table[table["estimator"] == "dr"].set_index("policy")
    true_gain = {name: value - truth["nobody"] for name, value in truth.items()}
    true_gain["few"] = 30.0 * float((policies["few"] == "a").mean())
    assert true_gain == pytest.approx({"nobody": 0.0, "all_a": 5.0, "targeted": 30.0, "few": 3.0}, abs=0.1)
    for name in ("all_a", "targeted", "few"):
        assert dr.loc[name, "gain_low"] <= true_gain[name] <= dr.loc[name, "gain_high"], dr
    assert dr.loc["targeted", "gain_low"] > 0  # the campaign proves targeting pays
    # a policy that leaves most customers alone shares their noise with the baseline: the paired gain is tighter
    assert dr.loc["few", "gain_se"] < dr.loc["few", "se"] / 2


def test_the_bootstrap_is_reproducible_with_its_seed():
    logs, predicted, policies, _ = simulated_campaign(n=2_000)
    first = evaluate_policies(logs, policies, predicted, draws=60, seed=5)
    pd.testing.assert_frame_equal(first, evaluate_policies(logs, policies, predicted, draws=60, seed=5))
    assert not first["low"].equals(evaluate_policies(logs, policies, predicted, draws=60, seed=6)["low"])


@pytest.mark.parametrize(("change", "error", "message"), [
    (lambda logs, p, q: (logs.drop(columns="propensity"), p, q), ColumnError, "'propensity'"),
    (lambda logs, p, q: (logs.assign(propensity=[0.5, 0, 0.25, 0.5, 0.25, 0.25]), p, q), ValueError,
     r"'propensity' must lie in \(0, 1\]; 1 rows"),
    (lambda logs, p, q: (logs.assign(propensity=1.5), p, q), ValueError, "'propensity' must lie in"),
    (lambda logs, p, q: (logs, p.replace("b", "c"), q), ValueError, r"names arm\(s\) \['c'\]"),
    (lambda logs, p, q: (logs, p.reset_index(drop=True), q), ValueError, "policy 'mixed' is not aligned"),
    (lambda logs, p, q: (logs, p, q.iloc[::-1]), ValueError, "predicted is not aligned"),
])
def test_bad_logs_and_policies_raise_clear_errors(change, error, message):
    logs, policy, predicted = change(*hand_log())
    with pytest.raises(error, match=message):
        evaluate_policies(logs, {"mixed": policy}, predicted, draws=10, seed=0)


def test_a_customer_logged_twice_is_redrawn_with_both_rows():
    """Each customer logged in two waves with the same arm and reward: the per-customer sums double, so every
    redraw of the customers gives the same ratios as the single log (a row bootstrap would narrow the intervals
    by about 1 / sqrt(2), as if the second wave were new evidence)."""
    logs, predicted, policies, _ = simulated_campaign(n=2_000)
    twice = pd.concat([logs, logs], ignore_index=True)
    doubled = {name: pd.concat([p, p], ignore_index=True) for name, p in policies.items()}
    once = evaluate_policies(logs, policies, predicted, draws=100, seed=3)
    both = evaluate_policies(twice, doubled, pd.concat([predicted, predicted], ignore_index=True), draws=100, seed=3)
    pd.testing.assert_frame_equal(once.drop(columns=["total", "matched"]), both.drop(columns=["total", "matched"]))
    assert (both["matched"] == 2 * once["matched"]).all()
