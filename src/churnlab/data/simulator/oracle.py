"""The simulator's ground truth: each active customer's true probability of churning in the months ahead.

Given the simulator's full state at the end of month t (including the latent "decided to leave" phase), the
probability of a churn event by month t+k is computed by forward Monte Carlo over the customer's future
behaviour, Rao-Blackwellised over the decision to leave: each path simulates the covariates as if the customer
stayed and accumulates, exactly, the probability mass of

- an involuntary closure at month t+j:  A_{j-1} q_j, and
- a decision to leave at the start of month t+j:  A_{j-1} (1 - q_j) lam_j, whose churn month falls d - 1
  months later (d = 1 for life events, 3, 4 or 5 otherwise; `bank.LEAVE_DELAYS`),

where A_j = A_{j-1} (1 - q_j)(1 - lam_j) is the probability of no decision and no closure so far, and q_j and
lam_j the dormant-closure probability and the decision hazard given the state at the end of month t+j-1. A
decision is drawn at the start of a month from the state the bank saw at the end of the month before, so the
oracle at t knows no coin flip that the data up to t could not show. Only covariate noise is left to Monte
Carlo, so a few dozen paths give a standard error far below the spread of risk across customers (simulate.json
reports the split-half Monte Carlo error of the oracle AUC).

Treatment effects use common random numbers: the same paths (the same uniform draws of every covariate) are run
with no offer and with each offer, so the difference between arms is the offer's effect alone.
"""

import numpy as np

from churnlab.data.simulator import bank

INVOLUNTARY = 2  # index of 'involuntary' in schema.CHURN_TYPES


def _tile(arrays: dict, idx: np.ndarray, paths: int) -> dict:
    """Copy customers `idx`, each repeated `paths` times (customer-major order)."""
    out = {}
    for key, value in arrays.items():
        if isinstance(value, np.ndarray) and value.ndim == 2:
            out[key] = np.repeat(value[:, idx], paths, axis=1)
        elif isinstance(value, np.ndarray):
            out[key] = np.repeat(value[idx], paths)
        else:
            out[key] = value
    return out


def forward_curves(seed: list[int], cust: dict, state: dict, idx: np.ndarray, *, month: int, market: dict,
                   horizon: int, paths: int, base_hazard: float,
                   treat_until: np.ndarray | None = None, offer: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """True cumulative churn probabilities by month+1 ... month+horizon for active (not leaving) customers `idx`.

    Returns arrays of shape (len(idx), horizon): `any` (any churn type) and `voluntary` (decisions to leave
    only, involuntary closures excluded), plus `any_split`, the `any` curve from the first half of the paths
    (to measure Monte Carlo error). `treat_until` and `offer` override the last month and the kind of the offer
    in force for the selected customers (an arm of a common-random-numbers comparison).
    """
    rng = np.random.default_rng(seed)
    c = _tile(cust, idx, paths)
    s = _tile(state, idx, paths)
    if treat_until is not None:
        s["treat_until"] = np.repeat(treat_until, paths)
    if offer is not None:
        s["offer"] = np.repeat(offer, paths)
    size = len(idx) * paths
    alive = np.ones(size)
    closed, decided = np.zeros((horizon, size)), np.zeros((horizon, size))
    parts = bank.hazard_components(c, s, month=month, market=market, base_hazard=base_hazard)
    for j in range(horizon):  # decisions at the start of month month+j+1, from the hazard at the end of the last
        q = np.where(s["dormant"] >= bank.DORMANT_MONTHS, bank.DORMANT_CLOSE_PROB, 0.0)
        lam = bank.total_hazard(parts)
        mass = alive * (1 - q) * lam
        closed[j] = alive * q
        # Spread the decision mass over the churn months it leads to (j + d - 1).
        life = parts["life_event"] / np.maximum(sum(parts.values()), 1e-12)
        decided[j] += mass * life
        for delay in bank.LEAVE_DELAYS:
            if j + delay - 1 < horizon:
                decided[j + delay - 1] += mass * (1 - life) / len(bank.LEAVE_DELAYS)
        alive *= (1 - q) * (1 - lam)
        if j + 1 < horizon:
            _, parts = bank.step(rng, c, s, month=month + j + 1, market=market, leaving=np.zeros(size, dtype=bool),
                                 base_hazard=base_hazard, observe=False)
    shape = (len(idx), paths, horizon)
    curves = {"voluntary": np.cumsum(decided, axis=0), "any": np.cumsum(decided + closed, axis=0)}
    out = {name: curve.T.reshape(shape).mean(axis=1) for name, curve in curves.items()}
    out["any_split"] = curves["any"].T.reshape(shape)[:, : max(paths // 2, 1)].mean(axis=1)
    return out


def truth_curves(seed: list[int], cust: dict, state: dict, idx: np.ndarray, *, month: int, leaving: np.ndarray,
                 churn_month: np.ndarray, churn_type: np.ndarray, horizon: int, treat_until: np.ndarray | None = None,
                 offer: np.ndarray | None = None, save: np.ndarray | None = None,
                 **oracle_kw) -> dict[str, np.ndarray]:
    """True cumulative churn curves (any, voluntary, any_split) over `horizon` months for customers `idx`.

    Customers who already decided to leave have a known churn month, so their curve is a step; the others
    come from the forward Monte Carlo of `oracle.forward_curves`. `save` is each customer's probability that a
    new offer turns a decision to leave round (`offers.save_probability`): such a leaver's curve is the mix
    (1 - save) x step + save x the forward curve of a customer who stays.
    """
    ahead = np.arange(1, horizon + 1)
    due = ((churn_month[idx] - month)[:, None] <= ahead[None, :]).astype(float)
    out = {"any": due, "voluntary": due * (churn_type[idx] != INVOLUNTARY)[:, None], "any_split": due.copy()}
    staying = ~leaving[idx]
    weight = staying.astype(float) if save is None else np.where(staying, 1.0, save)  # of the forward curve
    forward = weight > 0
    if forward.any():
        until, kind = (None if x is None else x[forward] for x in (treat_until, offer))
        res = forward_curves(seed, cust, state, idx[forward], month=month, horizon=horizon, treat_until=until,
                             offer=kind, **oracle_kw)
        w = weight[forward][:, None]
        for name, curve in res.items():
            out[name][forward] = (1 - w) * out[name][forward] + w * curve
    return out
