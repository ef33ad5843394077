"""Which offer, if any, for whom under a budget, and what each targeting policy is worth.

A policy gives every customer one arm: an offer or "control" (no contact). All policies spend at most the same
budget (EUR): customers are taken in the policy's order of priority, each with the policy's offer, while the
offers' costs still fit the budget.

- learned: each customer's offer of highest estimated net value (`offers.net_values`), only where that is
  positive (where no offer pays, no contact), customers by that net value, best first;
- oracle (simulated data only): the same rule on the true net values (the simulator's effects);
- risk, expected_loss: customers by churn risk p, or by p x value, each given the one offer with the best mean
  estimated net value over the training customers (one offer for everyone, as a bank without a learned policy
  would choose it), until the budget is spent;
- random: customers in random order, each given a random offer, until the budget is spent.

True value (simulated data): with p_i(a) the oracle's H-month churn probability of customer i under arm a, v_i
the value if retained and c_a the cost, the policy's net value is sum_i [v_i (p_i(control) - p_i(pi_i)) - c_pi_i]
in EUR: the value kept by its offers minus what they cost, against contacting no one. Off-policy estimates use
the reward r_i = v_i (1 - churned_i) - c_arm_i (EUR per customer) and `retention.offpolicy`.
"""

import numpy as np
import pandas as pd

from churnlab.core.checks import check_columns

CONTROL = "control"
POLICIES = ("random", "risk", "expected_loss", "learned", "oracle")


def spend(order: np.ndarray, arms: np.ndarray, costs: pd.Series, *, budget: float, n: int) -> pd.Series:
    """Arms for `n` customers: the customers `order` (positions) get `arms` (their offers, same order) while the
    cumulative cost stays within `budget` EUR; an offer that no longer fits is skipped, a cheaper one later may
    still fit; everyone else gets "control"."""
    out = np.full(n, CONTROL, dtype=object)
    left = float(budget)
    for i, arm in zip(order, arms, strict=True):
        cost = float(costs[arm])
        if arm != CONTROL and cost <= left:
            out[i], left = arm, left - cost
    return pd.Series(out)


def best_offers(net: pd.DataFrame, costs: pd.Series, *, budget: float) -> pd.Series:
    """Per customer the offer of highest net value (EUR) if positive, else "control"; customers by that net value,
    best first, within `budget` EUR. Returns the arms on `net`'s index."""
    values = net.to_numpy(float)
    best = values.argmax(axis=1)
    top = values[np.arange(len(net)), best]
    pays = np.flatnonzero(top > 0)
    order = pays[np.argsort(-top[pays], kind="stable")]
    arms = np.asarray(net.columns, dtype=object)[best[order]]
    return spend(order, arms, costs, budget=budget, n=len(net)).set_axis(net.index)


def ranked_offer(score: np.ndarray, offer: str, costs: pd.Series, *, budget: float, index: pd.Index) -> pd.Series:
    """The top customers by `score` all get `offer` until `budget` EUR is spent."""
    order = np.argsort(-np.asarray(score, float), kind="stable")
    return spend(order, np.full(len(order), offer, dtype=object), costs, budget=budget, n=len(order)).set_axis(index)


def build_policies(frame: pd.DataFrame, net: pd.DataFrame, costs: pd.Series, *, single_offer: str, budget: float,
                   seed: int, true_net: pd.DataFrame | None = None) -> dict[str, pd.Series]:
    """The arm of every customer of `frame` (columns risk, value) under each policy at the same budget (EUR).

    `net` holds the estimated net values per offer, `true_net` the true ones (None: no oracle policy).
    """
    check_columns(frame, ("risk", "value"), table="policy frame")
    rng = np.random.default_rng(seed)
    offers = list(net.columns)
    policies = {
        "random": spend(rng.permutation(len(frame)), rng.choice(offers, len(frame)).astype(object), costs,
                        budget=budget, n=len(frame)).set_axis(frame.index),
        "risk": ranked_offer(frame["risk"], single_offer, costs, budget=budget, index=frame.index),
        "expected_loss": ranked_offer(frame["risk"] * frame["value"], single_offer, costs, budget=budget,
                                      index=frame.index),
        "learned": best_offers(net, costs, budget=budget),
    }
    if true_net is not None:
        policies["oracle"] = best_offers(true_net, costs, budget=budget)
    return policies


def true_values(policies: dict[str, pd.Series], p: pd.DataFrame, value: pd.Series, costs: pd.Series) -> pd.DataFrame:
    """Per policy the true net value against no contact (EUR, total and per customer), the true mean reward per
    customer (value kept minus cost, EUR: what off-policy estimates estimate), the customers contacted and the
    money spent. `p` holds the oracle's churn probability of each customer under each arm (columns: arms)."""
    v = value.to_numpy(float)
    rows = []
    for name, arms in policies.items():
        chosen = p.to_numpy(float)[np.arange(len(p)), p.columns.get_indexer(arms.to_numpy())]
        cost = costs[arms.to_numpy()].to_numpy(float)
        gain = v * (p[CONTROL].to_numpy(float) - chosen) - cost
        rows.append({"policy": name, "true_net_value": float(gain.sum()), "true_net_per_customer": float(gain.mean()),
                     "true_reward": float(np.mean(v * (1 - chosen) - cost)),
                     "contacted": int((arms != CONTROL).sum()), "spent": float(cost.sum())})
    return pd.DataFrame(rows)


def expected_rewards(risk: pd.Series, effects: pd.DataFrame, value: pd.Series, costs: pd.Series) -> pd.DataFrame:
    """The modelled reward of each customer under each arm (EUR), for the doubly robust estimator:
    v (1 - p_a) - c_a with p_control the churn model's risk and p_a = p_control + tau_a, clipped to [0, 1]."""
    base = risk.to_numpy(float)
    churn = {CONTROL: base, **{a: np.clip(base + effects[a].to_numpy(float), 0, 1) for a in effects.columns}}
    v = value.to_numpy(float)
    return pd.DataFrame({a: v * (1 - q) - float(costs[a]) for a, q in churn.items()}, index=risk.index)
