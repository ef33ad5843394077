"""Offers learned from the multi-arm campaign: the policies compared on held-out customers, and the offer list.

1. The campaign rows (outcome `churned` within H months, point-in-time features, `arm`, `propensity`) are split
   by customer: the offer effects are learned on one part (`retention.offers`), the policies valued on the other.
2. Every policy of `retention.offer_policy` spends the same budget on the held-out customers: `budget_share` x
   customers x the mean offer cost (EUR), what offering that share of them a random offer would cost.
3. Each policy is valued from the logs by IPW, SNIPW and DR with bootstrap intervals (`retention.offpolicy`): its
   mean reward per customer (`dr`, `dr_low`, `dr_high`, EUR) and its net value against contacting no one, paired
   on the same redraws (`dr_net_value`, `dr_net_value_low`, `dr_net_value_high`, EUR on the held-out customers:
   what the campaign proves the policy is worth). On simulated data also by its true value (the oracle's churn
   probability of every customer under every arm); `dr_covers_truth` and `dr_net_covers_truth` say whether the
   DR intervals hold the true mean reward and the true net value.
4. The learned policy applied to the latest cutoff under `retention.budget_eur`: the offer per customer, with
   pseudonymous ids only (reports/retention/offers.csv, which the early-warning list is joined to by id).
"""

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from churnlab.contract.indicators import FEATURES
from churnlab.contract.value import monthly_margin
from churnlab.core.privacy import pseudonymise
from churnlab.model.churn import feature_columns
from churnlab.retention.design import rows_to_confirm
from churnlab.retention.offer_policy import CONTROL, best_offers, build_policies, expected_rewards, true_values
from churnlab.retention.offers import OfferEffects, arm_costs, arm_propensities, campaign_arms, net_values
from churnlab.retention.offpolicy import evaluate_policies

log = logging.getLogger(__name__)
OFFER_LIST_COLUMNS = ("customer", "p_churn", "value", "offer", "offer_cost", "expected_net_value", "within_budget")
# evaluate_policies' columns as the policy table names them, after the estimator: dr, dr_low, dr_net_value_low...
NAMES = {"value": "", "gain": "net_value", "gain_se": "net_value_se", "gain_low": "net_value_low",
         "gain_high": "net_value_high"}


def split_rows(rows: pd.DataFrame, *, test_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Campaign rows split by customer (a customer of several waves is on one side only)."""
    split = GroupShuffleSplit(n_splits=1, test_size=test_share, random_state=seed)
    train_idx, test_idx = next(split.split(rows, groups=rows["customer_id"]))
    return rows.iloc[train_idx].reset_index(drop=True), rows.iloc[test_idx].reset_index(drop=True)


def prepare_rows(rows: pd.DataFrame, model, *, multiplier: float, margins: dict) -> pd.DataFrame:
    """The campaign rows with `arm`, `propensity`, the churn model's `risk` and the `value` if retained (EUR)."""
    rows = rows.assign(arm=campaign_arms(rows), propensity=arm_propensities(rows))
    rows["risk"] = model.predict_proba(rows)
    rows["value"] = monthly_margin(rows, **margins).to_numpy() * multiplier
    return rows


def fit_effects(train: pd.DataFrame, *, seed: int, params: dict) -> OfferEffects:
    """The DR learner of the offers' effects on the training customers (their logged propensities, their
    customers kept in one cross-fitting fold)."""
    kinds = feature_columns(train[list(FEATURES)])
    learner = OfferEffects(kinds, seed=seed, n_jobs=params["n_jobs"], final_features=params["final_features"],
                           scale_by_risk=params["scale_by_risk"], alpha=params["alpha"], folds=params["folds"],
                           xgboost=params["xgboost"])
    return learner.fit(train, train["arm"], train["churned"], propensity=train["propensity"],
                       groups=train["customer_id"])


def chosen_net(net: pd.DataFrame, arms: pd.Series) -> float:
    """Sum of the net values (EUR) of the offers `arms` gives (no contact: 0)."""
    contacted = (arms != CONTROL).to_numpy()
    columns = net.columns.get_indexer(arms[contacted].to_numpy())
    return float(net.to_numpy(float)[np.flatnonzero(contacted), columns].sum())


def compare_offer_policies(test: pd.DataFrame, learner: OfferEffects, costs: pd.Series, *, single_offer: str,
                           budget_share: float, truth: pd.DataFrame | None, draws: int, seed: int) -> pd.DataFrame:
    """One row per policy: what it contacts and spends, its IPW / SNIPW / DR estimates (EUR per customer, with
    intervals) and, with `truth` (the oracle's p_<arm> columns on `test`'s rows), its true values."""
    effects = learner.effects(test)
    net = net_values(effects, test["value"], costs)
    budget = budget_share * len(test) * float(costs.drop(CONTROL).mean())
    true_p = true_net = None
    if truth is not None:
        true_p = truth[[f"p_{a}" for a in costs.index]].set_axis(list(costs.index), axis=1)
        true_net = pd.DataFrame({a: test["value"] * (true_p[CONTROL] - true_p[a]) - costs[a]
                                 for a in effects.columns})
    policies = build_policies(test, net, costs, single_offer=single_offer, budget=budget, seed=seed,
                              true_net=true_net)
    logs = test.assign(reward=test["value"] * (1 - test["churned"]) - costs[test["arm"]].to_numpy())
    predicted = expected_rewards(test["risk"], effects, test["value"], costs)
    nobody = pd.Series(CONTROL, index=test.index)  # net values are against contacting no one
    estimates = evaluate_policies(logs[["customer_id", "arm", "propensity", "reward"]], policies, predicted,
                                  draws=draws, seed=seed, baseline=nobody)
    estimates[["gain", "gain_se", "gain_low", "gain_high"]] *= len(test)  # EUR on the held-out customers
    wide = estimates.pivot(index="policy", columns="estimator",
                           values=["value", "low", "high", "gain", "gain_se", "gain_low", "gain_high"])
    wide.columns = [f"{est}_{NAMES.get(stat, stat)}".removesuffix("_") for stat, est in wide.columns]
    table = pd.DataFrame({"policy": list(policies), "budget_eur": budget,
                          "contacted": [int((arms != CONTROL).sum()) for arms in policies.values()],
                          "estimated_net_value": [chosen_net(net, arms) for arms in policies.values()]})
    table = table.merge(wide.reset_index(), on="policy")
    if truth is not None:
        table = table.merge(true_values(policies, true_p, test["value"], costs), on="policy", how="left",
                            suffixes=("", "_true"))
        table["dr_covers_truth"] = table["true_reward"].between(table["dr_low"], table["dr_high"])
        table["dr_net_covers_truth"] = table["true_net_value"].between(table["dr_net_value_low"],
                                                                       table["dr_net_value_high"])
    table.attrs["policies"] = policies
    return table


def offer_list(latest: pd.DataFrame, net: pd.DataFrame, costs: pd.Series, *, budget_eur: float,
               key: bytes) -> pd.DataFrame:
    """The learned offer for every customer of the latest cutoff whose best offer pays (`latest` has risk and
    value, `net` their net value per offer, EUR), best net value first; `within_budget` marks those `budget_eur`
    pays for. Pseudonymous ids only."""
    best = net.idxmax(axis=1)
    top = net.max(axis=1)
    chosen = best_offers(net, costs, budget=budget_eur)
    out = pd.DataFrame({"customer": pseudonymise(latest["customer_id"], key=key), "p_churn": latest["risk"],
                        "value": latest["value"], "offer": best, "offer_cost": costs[best].to_numpy(),
                        "expected_net_value": top, "within_budget": chosen != CONTROL})
    return out[top > 0].sort_values("expected_net_value", ascending=False, kind="stable").reset_index(drop=True)


def learned_proof(learned: pd.Series, *, rows: int) -> dict:
    """What the held-out campaign rows prove about the learned policy's net value against no contact (EUR): the
    model's claim (`estimated_net_value`), the DR estimate and its 95 % interval, whether the interval excludes 0,
    and the randomised campaign rows (customer-waves) a campaign like this one needs for the DR estimate to exclude
    0 with power 0.8 if the policy is worth what the model claims (None: the model claims no gain)."""
    claimed = float(learned["estimated_net_value"])
    sd = float(learned["dr_net_value_se"]) / rows * np.sqrt(rows)  # one row's spread, EUR
    return {"claimed_net_value": claimed, "dr_net_value": float(learned["dr_net_value"]),
            "dr_net_value_low": float(learned["dr_net_value_low"]),
            "dr_net_value_high": float(learned["dr_net_value_high"]),
            "proved": bool(learned["dr_net_value_low"] > 0),
            "rows_needed": rows_to_confirm(claimed / rows, sd) if claimed > 0 and sd > 0 else None}


def offers_summary(table: pd.DataFrame, costs: pd.Series, test: pd.DataFrame) -> dict:
    """retention.json `offers`: per policy its estimates and true values, and the learned policy against the oracle."""
    keep = [c for c in table.columns if c != "policy" and not c.startswith("snipw")]
    out = {"rows_held_out": len(test), "budget_eur": float(table["budget_eur"].iloc[0]), "costs": costs.to_dict(),
           "policies": {r["policy"]: {k: r[k] for k in keep if k != "budget_eur"} for r in table.to_dict("records")}}
    out["learned_proof"] = learned_proof(table.set_index("policy").loc["learned"], rows=len(test))
    if "true_net_value" in table:
        values = table.set_index("policy")
        out["learned_share_of_oracle"] = float(values.loc["learned", "true_net_value"]
                                               / values.loc["oracle", "true_net_value"])
        out["learned_beats"] = [p for p in ("random", "risk", "expected_loss")
                                if values.loc["learned", "true_net_value"] > values.loc[p, "true_net_value"]]
        out["dr_coverage"] = int(values["dr_covers_truth"].sum())
        out["dr_net_coverage"] = int(values["dr_net_covers_truth"].sum())
        out["dr_coverage_of"] = len(values)
    return out


def effect_table(test: pd.DataFrame, effects: pd.DataFrame, truth: pd.DataFrame | None) -> pd.DataFrame:
    """Per offer: customers held out, mean learned effect and, with the truth, the mean true effect and the rank
    correlation of learned with true effects (changes in the H-month churn probability)."""
    rows = []
    for offer in effects.columns:
        row = {"offer": offer, "customers": int((test["arm"] == offer).sum()),
               "mean_effect": float(effects[offer].mean())}
        if truth is not None:
            true = truth[f"p_{offer}"] - truth[f"p_{CONTROL}"]
            row |= {"mean_true_effect": float(true.mean()),
                    "rank_correlation": float(effects[offer].corr(true, method="spearman"))}
        rows.append(row)
    return pd.DataFrame(rows)


def learn_offers(rows: pd.DataFrame, latest: pd.DataFrame, model, *, truth: pd.DataFrame | None, multiplier: float,
                 margins: dict, params: dict, budget_eur: float, seed: int,
                 key: bytes) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Parts 1-4 of the module docstring: metrics, tables, the rows, the latest cutoff and its net values.

    `rows` are the campaign outcomes with features; `latest` the latest cutoff's snapshots; `truth` the oracle's
    campaign_effects (None, or without a p_<arm> column for every arm: no true values); `params` the section
    `retention.offers`.
    """
    rows = prepare_rows(rows, model, multiplier=multiplier, margins=margins)
    latest = latest.assign(risk=model.predict_proba(latest))
    latest["value"] = monthly_margin(latest, **margins).to_numpy() * multiplier
    costs = arm_costs(rows)
    train, test = split_rows(rows, test_share=params["test_share"], seed=seed)
    learner = fit_effects(train, seed=seed, params=params)
    single = net_values(learner.effects(train), train["value"], costs).mean().idxmax()
    true_test = None
    if truth is not None and {f"p_{arm}" for arm in costs.index} <= set(truth.columns):
        true_test = test[["customer_id", "month"]].merge(truth, on=["customer_id", "month"], how="left",
                                                         validate="one_to_one")
    table = compare_offer_policies(test, learner, costs, single_offer=single, budget_share=params["budget_share"],
                                   truth=true_test, draws=params["draws"], seed=seed)
    metrics = {"offers": offers_summary(table, costs, test) | {"single_offer": single}}
    log.info("offers: policies' net value (DR) %s", table.set_index("policy")["dr_net_value"].round(0).to_dict())
    net = net_values(learner.effects(latest), latest["value"], costs)
    tables = {"offer_policies": table, "offer_effects": effect_table(test, learner.effects(test), true_test),
              "offers": offer_list(latest, net, costs, budget_eur=budget_eur, key=key)}
    return metrics, tables, rows, latest, net
