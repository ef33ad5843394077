"""Whom to contact: the expected-profit curve of a campaign, and targeting policies compared at one budget.

Profit curve. Contacting customer i costs c (the offer and the call) and, if they would churn within the
horizon (probability p_i), keeps them with probability r (the save rate), worth v_i (their value to the
bank while retained, e.g. CLV). The expected profit of contacting i is p_i r v_i - c; contacting the top k
of a ranking yields the sum over them. Ranking by p alone ignores v; ranking by p v (expected loss) does not.

Policy comparison. On customers for whom the true effect of the offer is known (the simulator's
`true_effect`; benefit = -true_effect, the drop in churn probability), each policy contacts the
k = round(budget_share n) customers it ranks highest:

- retained customers: the sum of the benefit over the contacted (expected churners saved);
- value retained: sum of benefit x v over the contacted; net value: value retained minus k c;
- share of the oracle: a policy's value retained over that of the oracle, which ranks by the true benefit
  x v and so retains the most value at this budget. Every policy pays the same k c, so the share is taken
  before that cost: after it, a campaign whose offers cost more than they keep (net value < 0 even for the
  oracle) would make the ratio meaningless;
- wasted offers: the share of contacted customers whose true effect is >= 0 (the offer keeps no one: they
  stay anyway, are leaving regardless, or react badly), and the share it harms (effect > 0).

`random` is the expected value of contacting k customers drawn at random (k/n of the totals), not one
draw. Confidence intervals: percentile bootstrap over customers (each replicate redraws the n customers
with replacement and re-selects the top k), `n_boot` replicates.

Where the truth is unknown (real data), `estimated_retained` uses the randomised campaign instead: among
the customers a policy contacts, (control churn rate - treated churn rate) x k.
"""

import numpy as np
import pandas as pd

from churnlab.campaign import require

RANDOM = "random"
ORACLE = "oracle"


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores (ties broken by row order)."""
    return np.argsort(-np.asarray(score, float), kind="stable")[:k]


def profit_curve(p, value, *, rankings: dict[str, np.ndarray], save_rate: float, cost: float) -> pd.DataFrame:
    """Expected campaign profit of contacting the top k, k = 0..n, under each ranking (long format)."""
    p, value = np.asarray(p, float), np.asarray(value, float)
    gain = p * save_rate * value - cost
    n = len(p)
    frames = []
    for name, score in rankings.items():
        profit = np.concatenate([[0.0], np.cumsum(gain[top_k(score, n)])])
        frames.append(pd.DataFrame({"ranking": name, "contacted": np.arange(n + 1),
                                    "share": np.arange(n + 1) / max(n, 1), "profit": profit}))
    return pd.concat(frames, ignore_index=True)


def profit_summary(curve: pd.DataFrame, *, budget_eur: float, cost: float) -> dict:
    """Per ranking: the profit-maximising share, its contacts and profit; and the plan under the budget.

    The budget pays for floor(budget / cost) contacts; the plan contacts the fewer of that and the
    profit-maximising number (beyond the optimum each extra contact loses money).
    """
    affordable = int(np.floor(budget_eur / cost)) if cost > 0 else int(curve["contacted"].max())
    out = {}
    for name, part in curve.groupby("ranking", sort=False):
        best = part.loc[part["profit"].idxmax()]
        plan = min(affordable, int(best["contacted"]))
        out[name] = {"optimal_share": float(best["share"]), "optimal_contacts": int(best["contacted"]),
                     "optimal_profit": float(best["profit"]), "budget_contacts": affordable,
                     "plan_contacts": plan,
                     "plan_profit": float(part.loc[part["contacted"] == plan, "profit"].iloc[0])}
    return out


def _values(frame: pd.DataFrame, policies: dict[str, str | None], *, k: int, cost: float) -> dict[str, dict]:
    benefit, value = frame["benefit"].to_numpy(float), frame["value"].to_numpy(float)
    churned, treated = frame["churned"].to_numpy(int), frame["treated"].to_numpy(bool)
    out = {}
    for name, column in policies.items():
        if column is None:  # random: the expectation over draws of k customers
            share, chosen = k / len(frame), np.arange(len(frame))
            weight = np.full(len(frame), share)
        else:
            chosen, weight = top_k(frame[column].to_numpy(float), k), np.ones(k)
        b, v = benefit[chosen], value[chosen]
        t, y = treated[chosen], churned[chosen]
        rate_c = y[~t].mean() if (~t).any() else np.nan
        rate_t = y[t].mean() if t.any() else np.nan
        kept = float(np.sum(weight * b * v))
        out[name] = {"retained": float(np.sum(weight * b)), "value_retained": kept, "net_value": kept - k * cost,
                     "wasted_share": float(np.mean(b <= 0)), "harmed_share": float(np.mean(b < 0)),
                     "estimated_retained": float((rate_c - rate_t) * k)}
    return out


def compare_policies(frame: pd.DataFrame, policies: dict[str, str | None], *, budget_share: float, cost: float,
                     n_boot: int, seed: int, ci: float = 0.95) -> pd.DataFrame:
    """One row per policy: retained, net value, share of the oracle, waste, each with a bootstrap CI.

    `frame` has benefit, value, churned, treated and the score column of each policy; `policies` maps a
    policy name to its score column (None: random). The oracle policy must be named "oracle".
    """
    require(frame, ("benefit", "value", "churned", "treated", *[c for c in policies.values() if c]),
            table="policy frame")
    if ORACLE not in policies:
        raise ValueError("the policy comparison needs an 'oracle' policy (true benefit x value) as the yardstick")
    n = len(frame)
    k = min(max(int(round(budget_share * n)), 1), n)
    point = _values(frame, policies, k=k, cost=cost)
    rng = np.random.default_rng(seed)
    draws = {name: {m: [] for m in (*point[name], "share_of_oracle", "retained_share_of_oracle")}
             for name in policies}
    for _ in range(n_boot):
        sample = frame.iloc[rng.integers(0, n, n)].reset_index(drop=True)
        values = _values(sample, policies, k=k, cost=cost)
        for name, value in values.items():
            for metric, x in value.items():
                draws[name][metric].append(x)
            draws[name]["share_of_oracle"].append(value["value_retained"] / values[ORACLE]["value_retained"])
            draws[name]["retained_share_of_oracle"].append(value["retained"] / values[ORACLE]["retained"])
    lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    rows = []
    for name, value in point.items():
        value = {**value, "share_of_oracle": value["value_retained"] / point[ORACLE]["value_retained"],
                 "retained_share_of_oracle": value["retained"] / point[ORACLE]["retained"]}
        row = {"policy": name, "offers": k}
        for metric, x in value.items():
            samples = np.asarray(draws[name][metric], float)
            row[metric] = x
            row[f"{metric}_lo"], row[f"{metric}_hi"] = (np.nanpercentile(samples, [lo, hi]) if n_boot else (x, x))
        rows.append(row)
    return pd.DataFrame(rows)
