"""The policies valued on a simulated campaign whose truth is known, the offer list and the next campaign's design."""

import numpy as np
import pandas as pd
import pytest

from churnlab.retention.next_campaign import design_next, recommended_arms
from churnlab.retention.offer_policy import CONTROL
from churnlab.retention.targeting import compare_offer_policies, learned_proof, offer_list

COSTS = pd.Series({CONTROL: 0.0, "match": 60.0, "nudge": 2.0})


class KnownEffects:
    """A learner that returns the true effects plus a little noise (a good, not perfect, model)."""

    def __init__(self, truth: pd.DataFrame, noise: float):
        self.truth, self.noise = truth, noise

    def effects(self, frame: pd.DataFrame) -> pd.DataFrame:
        rng = np.random.default_rng(1)
        effects = self.truth.loc[frame.index, ["match", "nudge"]]
        return effects + rng.normal(0, self.noise, effects.shape)


def campaign(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Randomised logs over three arms (1/3 each) and the truth: the match cuts 50 % of the risk of the rich."""
    rng = np.random.default_rng(seed)
    test = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "risk": rng.uniform(0.02, 0.9, n),
                         "value": rng.lognormal(6, 1, n), "arm": rng.choice([CONTROL, "match", "nudge"], n),
                         "propensity": 1 / 3})
    rich = test["value"] > 600
    truth = pd.DataFrame({"p_control": test["risk"], "p_match": test["risk"] * np.where(rich, 0.5, 1.02),
                          "p_nudge": test["risk"] * 0.97})
    p = truth.to_numpy()[np.arange(n), pd.Index([CONTROL, "match", "nudge"]).get_indexer(test["arm"])]
    test["churned"] = (rng.random(n) < p).astype(int)
    truth["match"], truth["nudge"] = truth["p_match"] - truth["p_control"], truth["p_nudge"] - truth["p_control"]
    return test, truth


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_on_simulated_logs_the_oracle_ranks_first_and_the_dr_intervals_hold_the_truth():
    test, truth = campaign()
    table = compare_offer_policies(test, KnownEffects(truth, noise=0.02), COSTS, single_offer="match",
                                   budget_share=0.2, truth=truth, draws=200, seed=0).set_index("policy")
    assert list(table.index) == ["random", "risk", "expected_loss", "learned", "oracle"]
    assert table.loc["oracle", "true_net_value"] >= table["true_net_value"].max() - 1e-6  # ties: the same choice
    assert table.loc["oracle", "true_net_value"] > table.loc["random", "true_net_value"]
    assert table.loc["learned", "true_net_value"] > max(table.loc[p, "true_net_value"] for p in ("random", "risk"))
    assert (table["spent"] <= table["budget_eur"] + 1e-9).all()
    assert table["dr_covers_truth"].sum() >= 4
    assert (table["dr_low"] <= table["dr"]).all() and (table["dr"] <= table["dr_high"]).all()
    assert table["dr_net_covers_truth"].sum() >= 4
    assert (table["dr_net_value_low"] <= table["dr_net_value"]).all()
    assert (table["dr_net_value"] <= table["dr_net_value_high"]).all()


def test_the_learned_proof_sizes_the_campaign_from_the_paired_standard_error():
    """1,000 rows; the model claims EUR 3,000 (3 a row); the DR net value's standard error is EUR 100 in total, so
    0.1 a row at 1,000 rows and sd = 0.1 sqrt(1,000) = 3.162 for one row: n = (2.801585 x 3.162 / 3)^2 = 8.72 -> 9.
    """
    learned = pd.Series({"estimated_net_value": 3000.0, "dr_net_value": 150.0, "dr_net_value_se": 100.0,
                         "dr_net_value_low": -50.0, "dr_net_value_high": 350.0})
    proof = learned_proof(learned, rows=1000)
    assert proof["rows_needed"] == 9 and proof["proved"] is False
    assert learned_proof(learned.replace({3000.0: -10.0}), rows=1000)["rows_needed"] is None  # nothing to prove


def test_the_offer_list_recommends_no_contact_where_no_offer_pays():
    """Customer a: a 20-point cut on 1,000 EUR pays 200 - 60; customer b: nothing pays (listed nowhere)."""
    latest = pd.DataFrame({"customer_id": ["a", "b"], "risk": [0.5, 0.1], "value": [1000.0, 10.0]})
    net = pd.DataFrame({"match": [140.0, -59.0], "nudge": [3.0, -1.9]})
    listed = offer_list(latest, net, COSTS, budget_eur=100.0, key=b"k")
    assert len(listed) == 1 and listed["offer"].item() == "match" and bool(listed["within_budget"].item())
    assert listed["customer"].item().startswith("p_") and "a" not in set(listed["customer"])
    assert recommended_arms(net).tolist() == ["match", CONTROL]


def test_the_design_powers_the_arms_keeps_a_control_and_reads_the_last_wave():
    test, _ = campaign(n=2000)
    rows = test.assign(month=pd.Timestamp("2023-07-31"))
    latest = test[["customer_id", "risk"]].iloc[:1000]
    net = pd.DataFrame({"match": np.where(latest["risk"] > 0.5, 10.0, -5.0), "nudge": -1.0}, index=latest.index)
    metrics, tables = design_next(rows, latest, net, uplifts=[0.03, 0.05], explore_share=0.2, control_share=0.1,
                                  seed=0, key=b"k")
    assert set(tables["realised_uplift"]["arm"]) == {"match", "nudge"}
    assert metrics["customers_per_arm_needed"]["0.03"] > metrics["customers_per_arm_needed"]["0.05"]
    plan = tables["next_campaign"]
    assert len(plan) == 1000 and plan["customer"].str.startswith("p_").all()
    assert 0.05 < (plan["source"] == "control").mean() < 0.15
    policy = plan[plan["source"] == "policy"]
    assert set(policy["arm"]) <= {"match", CONTROL} and (policy["arm"] == "match").any()
