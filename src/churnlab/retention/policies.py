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

Where the truth is unknown (real data) the randomised campaign estimates the same figures: among the customers
a policy contacts, `estimated_retained` = (control churn rate - treated churn rate) x k and
`estimated_value_retained` = (mean churned value among the controls - among the treated) x k (treatment is
randomised within any set a policy picks, so the difference is the offer's effect there), and
`estimated_net_value` subtracts k c. These are reported for every policy; the truth-based figures only when the
frame has `benefit` (the simulator's true effects), and the shares of the oracle only with the `oracle` policy.

`target_campaign` runs the campaign part of the retention stage: uplift learners (`retention.uplift`) fitted and
evaluated on customers held out of the campaign rows, then these policies on the held-out customers.
"""

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from churnlab.contract.indicators import FEATURES
from churnlab.contract.value import monthly_margin
from churnlab.core.checks import check_columns
from churnlab.model.churn import feature_columns
from churnlab.retention.uplift import evaluate_uplift, fit_learners

log = logging.getLogger(__name__)

RANDOM = "random"
ORACLE = "oracle"
POLICY_METRICS = ("value_retained", "value_retained_lo", "value_retained_hi", "net_value", "net_value_lo",
                  "net_value_hi", "retained", "retained_lo", "retained_hi", "share_of_oracle", "share_of_oracle_lo",
                  "share_of_oracle_hi", "wasted_share", "harmed_share", "estimated_retained",
                  "estimated_value_retained", "estimated_net_value", "estimated_net_value_lo",
                  "estimated_net_value_hi")


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
    truth = "benefit" in frame
    value = frame["value"].to_numpy(float)
    churned, treated = frame["churned"].to_numpy(int), frame["treated"].to_numpy(bool)
    benefit = frame["benefit"].to_numpy(float) if truth else None
    out = {}
    for name, column in policies.items():
        if column is None:  # random: the expectation over draws of k customers
            share, chosen = k / len(frame), np.arange(len(frame))
            weight = np.full(len(frame), share)
        else:
            chosen, weight = top_k(frame[column].to_numpy(float), k), np.ones(k)
        v, t, y = value[chosen], treated[chosen], churned[chosen]
        rate_c = y[~t].mean() if (~t).any() else np.nan
        rate_t = y[t].mean() if t.any() else np.nan
        lost_c = (y * v)[~t].mean() if (~t).any() else np.nan
        lost_t = (y * v)[t].mean() if t.any() else np.nan
        row = {"estimated_retained": float((rate_c - rate_t) * k),
               "estimated_value_retained": float((lost_c - lost_t) * k),
               "estimated_net_value": float((lost_c - lost_t) * k - k * cost)}
        if truth:
            b = benefit[chosen]
            kept = float(np.sum(weight * b * v))
            row = {"retained": float(np.sum(weight * b)), "value_retained": kept, "net_value": kept - k * cost,
                   "wasted_share": float(np.mean(b <= 0)), "harmed_share": float(np.mean(b < 0)), **row}
        out[name] = row
    return out


def _shares(values: dict[str, dict], name: str) -> dict[str, float]:
    """A policy's value retained and customers retained as shares of the oracle's."""
    oracle = values[ORACLE]
    return {"share_of_oracle": values[name]["value_retained"] / oracle["value_retained"],
            "retained_share_of_oracle": values[name]["retained"] / oracle["retained"]}


def compare_policies(frame: pd.DataFrame, policies: dict[str, str | None], *, budget_share: float, cost: float,
                     n_boot: int, seed: int, ci: float = 0.95) -> pd.DataFrame:
    """One row per policy: the campaign's estimates of retained customers, value and net value, and with the
    truth (`benefit`) retained, net value, share of the oracle and waste; each with a bootstrap CI.

    `frame` has value, churned, treated, the score column of each policy and, on simulated data, benefit;
    `policies` maps a policy name to its score column (None: random). An `oracle` policy (true benefit x value,
    the yardstick of the shares) needs `benefit`.
    """
    oracle = ORACLE in policies
    check_columns(frame, ("value", "churned", "treated", *(("benefit",) if oracle else ()),
                          *[c for c in policies.values() if c]), table="policy frame")
    n = len(frame)
    k = min(max(int(round(budget_share * n)), 1), n)
    point = _values(frame, policies, k=k, cost=cost)
    if oracle:
        point = {name: {**value, **_shares(point, name)} for name, value in point.items()}
    rng = np.random.default_rng(seed)
    draws = {name: {m: [] for m in point[name]} for name in policies}
    for _ in range(n_boot):
        sample = frame.iloc[rng.integers(0, n, n)].reset_index(drop=True)
        values = _values(sample, policies, k=k, cost=cost)
        for name, value in values.items():
            for metric, x in (value | (_shares(values, name) if oracle else {})).items():
                draws[name][metric].append(x)
    lo, hi = (1 - ci) / 2 * 100, (1 + ci) / 2 * 100
    rows = []
    for name, value in point.items():
        row = {"policy": name, "offers": k}
        for metric, x in value.items():
            samples = np.asarray(draws[name][metric], float)
            row[metric] = x
            row[f"{metric}_lo"], row[f"{metric}_hi"] = (np.nanpercentile(samples, [lo, hi]) if n_boot else (x, x))
        rows.append(row)
    return pd.DataFrame(rows)


def target_campaign(rows: pd.DataFrame, model, *, effects: pd.DataFrame | None, multiplier: float | None,
                    margins: dict, cost: float, params: dict, seed: int) -> tuple[dict, dict, dict[str, str]]:
    """Uplift learners and targeting policies on the campaign `rows` (outcomes with features), held out by customer.

    `effects` are the simulator's true effects (None on other data: no oracle); `multiplier` None (no CLV) skips
    the policies. Returns the metrics, the tables (qini_curves, policies) and what was skipped with why.
    """
    metrics, tables, skipped = {}, {}, {}
    kinds = feature_columns(rows[list(FEATURES)])
    split = GroupShuffleSplit(n_splits=1, test_size=params["uplift"]["test_share"], random_state=seed)
    train_idx, test_idx = next(split.split(rows, groups=rows["customer_id"]))
    train, test = rows.iloc[train_idx].reset_index(drop=True), rows.iloc[test_idx].reset_index(drop=True)
    up = params["uplift"]
    learners = fit_learners(train, train["treated"], train["churned"], kinds, names=up["learners"], seed=seed,
                            n_jobs=up["n_jobs"], xgboost=up["xgboost"])
    test["risk"] = model.predict_proba(test)
    scores = {name: learner.predict(test) for name, learner in learners.items()}
    scores |= {"risk": test["risk"].to_numpy(), "random": np.random.default_rng(seed).random(len(test))}
    truth = {}
    if effects is not None:
        test = test.merge(effects, on=["customer_id", "month"], how="left", validate="one_to_one")
        test["benefit"] = -test["true_effect"]
        truth = {ORACLE: test["benefit"].to_numpy()}  # the ceiling: how well the true effect itself scores here
    metrics["uplift"], tables["qini_curves"] = evaluate_uplift(scores | truth, test["treated"], test["churned"],
                                                               top_shares=up["top_shares"], n_boot=up["n_boot"],
                                                               seed=seed)
    metrics["uplift_rows"] = {"train": len(train), "test": len(test)}
    log.info("uplift on %d held-out rows, Qini: %s", len(test),
             {name: round(m["qini"], 5) for name, m in metrics["uplift"].items()})
    if effects is not None:
        metrics["uplift_vs_truth"] = {name: float(pd.Series(score).corr(test["benefit"], method="spearman"))
                                      for name, score in scores.items()}  # rank agreement with the true benefit
    if multiplier is None:
        skipped["policies"] = "no CLV (the survival stage valued no customer) to value a retained customer by"
        return metrics, tables, skipped
    test["value"] = monthly_margin(test, **margins).to_numpy() * multiplier
    test["expected_loss"] = test["risk"] * test["value"]
    test["uplift"] = scores[up["policy_learner"]]
    test["uplift_value"] = test["uplift"] * test["value"]
    policies = {"random": None, "risk": "risk", "expected_loss": "expected_loss", "uplift": "uplift",
                "uplift_value": "uplift_value"}
    if effects is not None:
        test[ORACLE] = test["benefit"] * test["value"]
        policies[ORACLE] = ORACLE
    pol = params["policies"]
    table = compare_policies(test, policies, budget_share=pol["budget_share"], cost=cost, n_boot=pol["n_boot"],
                             seed=seed)
    tables["policies"] = table
    metrics["policies"] = {r["policy"]: {k: r[k] for k in POLICY_METRICS if k in r} for r in table.to_dict("records")}
    metrics["policy_budget"] = {"share": pol["budget_share"], "offers": int(table["offers"].iloc[0]),
                                "lifetime_multiplier_months": multiplier, "mean_value": float(test["value"].mean())}
    return metrics, tables, skipped
