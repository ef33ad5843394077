"""Targeting policies on a constructed campaign where the best choice is known, and the profit curve by hand."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.checks import ColumnError
from churnlab.retention.policies import compare_policies, profit_curve, profit_summary

POLICIES = {"random": None, "risk": "risk", "uplift": "uplift", "oracle": "oracle"}


def constructed_campaign() -> pd.DataFrame:
    """Ten customers, value 1000 EUR each if retained. The riskiest four leave whatever the bank does
    (benefit 0) or react badly (benefit -0.05); four moderate-risk customers are kept by the offer
    (benefit 0.2); two safe customers stay anyway (benefit 0).

    With a budget of 4 offers at EUR 10: the oracle contacts the four persuadable customers: retained
    0.8, value retained 800, net value 800 - 40 = 760. Risk targeting contacts the riskiest four: retained
    0 + 0 + 0 - 0.05 - 0.05 = -0.1, net -100 - 40 = -140; every offer is wasted, two harm.
    Random: 4/10 of the totals: retained 0.4 x (0.8 - 0.1) = 0.28, net 280 - 40 = 240.
    """
    return pd.DataFrame({
        "risk": [0.99, 0.98, 0.9, 0.85, 0.4, 0.35, 0.3, 0.25, 0.02, 0.01],
        "benefit": [0, 0, -0.05, -0.05, 0.2, 0.2, 0.2, 0.2, 0, 0],
        "uplift": [0.0, 0.01, -0.02, -0.01, 0.15, 0.1, 0.12, 0.02, 0.03, 0.0],  # a decent but imperfect model
        "value": 1000.0,
        "treated": [True, False] * 5,
        "churned": [1, 1, 1, 1, 0, 1, 0, 1, 0, 0],
    }).assign(oracle=lambda f: f["benefit"] * f["value"])


def test_oracle_ranks_first_and_risk_targeting_wastes_offers():
    table = compare_policies(constructed_campaign(), POLICIES, budget_share=0.4, cost=10.0, n_boot=50, seed=0)
    table = table.set_index("policy")
    assert table["net_value"].idxmax() == "oracle"
    assert table.loc["oracle", "net_value"] == pytest.approx(760.0)
    assert table.loc["oracle", "retained"] == pytest.approx(0.8)
    assert table.loc["risk", "net_value"] == pytest.approx(-140.0)
    assert table.loc["random", "net_value"] == pytest.approx(240.0)
    assert table.loc["risk", "wasted_share"] == 1.0 and table.loc["risk", "harmed_share"] == 0.5
    assert table.loc["oracle", "wasted_share"] == 0.0
    assert table.loc["oracle", "share_of_oracle"] == pytest.approx(1.0)
    # the uplift model picks three of the four persuadable customers and one who stays anyway
    assert table.loc["uplift", "retained"] == pytest.approx(0.6)
    assert table.loc["uplift", "share_of_oracle"] == pytest.approx(600 / 800)  # value retained, before the offers' cost
    assert table.loc["risk", "share_of_oracle"] == pytest.approx(-100 / 800)
    assert (table["net_value_lo"] <= table["net_value_hi"]).all()
    assert table["offers"].eq(4).all()


def test_without_the_truth_policies_are_judged_by_the_randomised_campaign():
    """No `benefit` (real data): the campaign estimates each policy among the customers it contacts (k = 4).
    Risk: rows 0-3, two treated and two controls, all churned: 0 retained, net -40. Uplift: rows 4, 6, 5, 8;
    the one control (5) churned, no treated one did: (1 - 0) x 4 = 4 retained, 4 x 1000 = 4000 value, net 3960.
    Random: controls churn 4/5, treated 2/5 over everyone: 0.4 x 4 = 1.6 retained, net 1600 - 40 = 1560."""
    frame = constructed_campaign().drop(columns=["benefit", "oracle"])
    table = compare_policies(frame, {"random": None, "risk": "risk", "uplift": "uplift"}, budget_share=0.4,
                             cost=10.0, n_boot=20, seed=0).set_index("policy")
    assert not {"retained", "net_value", "share_of_oracle", "wasted_share"} & set(table.columns)
    assert table.loc["risk", "estimated_retained"] == 0 and table.loc["risk", "estimated_net_value"] == -40.0
    assert table.loc["uplift", "estimated_retained"] == pytest.approx(4.0)
    assert table.loc["uplift", "estimated_net_value"] == pytest.approx(3960.0)
    assert table.loc["random", "estimated_retained"] == pytest.approx(1.6)
    assert table.loc["random", "estimated_net_value"] == pytest.approx(1560.0)


def test_the_oracle_policy_needs_the_true_benefit():
    with pytest.raises(ColumnError, match=r"policy frame: missing 1 column\(s\): 'benefit'"):
        compare_policies(constructed_campaign().drop(columns="benefit"), POLICIES, budget_share=0.4, cost=10.0,
                         n_boot=0, seed=0)


def test_profit_curve_and_budget_by_hand():
    """Gains p r v - c with r = 0.5, c = 10: a: 0.5 x 0.5 x 1000 - 10 = 240; b: 0.1 x 0.5 x 100 - 10 = -5;
    c: 0.2 x 0.5 x 2000 - 10 = 190. By risk (a, c, b): profits 0, 240, 430, 425. By expected loss p v
    (a 500, c 400, b 10): the same order here. The optimum contacts 2 of 3 (share 2/3) for EUR 430; a budget
    of EUR 15 pays for one contact (EUR 240)."""
    p, value = np.array([0.5, 0.1, 0.2]), np.array([1000.0, 100.0, 2000.0])
    curve = profit_curve(p, value, rankings={"risk": p, "expected_loss": p * value}, save_rate=0.5, cost=10.0)
    risk = curve[curve["ranking"] == "risk"]
    np.testing.assert_allclose(risk["profit"], [0, 240, 430, 425])
    summary = profit_summary(curve, budget_eur=15.0, cost=10.0)
    assert summary["risk"]["optimal_contacts"] == 2 and summary["risk"]["optimal_share"] == pytest.approx(2 / 3)
    assert summary["risk"]["optimal_profit"] == pytest.approx(430.0)
    assert summary["risk"]["budget_contacts"] == 1 and summary["risk"]["plan_profit"] == pytest.approx(240.0)


def test_ranking_by_expected_loss_beats_risk_when_values_differ():
    """A risky low-value customer (p 0.6, v 100) against a less risky valuable one (p 0.3, v 3000)."""
    p, value = np.array([0.6, 0.3]), np.array([100.0, 3000.0])
    curve = profit_curve(p, value, rankings={"risk": p, "expected_loss": p * value}, save_rate=0.5, cost=20.0)
    first = curve[curve["contacted"] == 1].set_index("ranking")["profit"]
    assert first["expected_loss"] == pytest.approx(0.3 * 0.5 * 3000 - 20)
    assert first["expected_loss"] > first["risk"]
