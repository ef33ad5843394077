"""The `retention` stage: whom to contact, what it is worth, how the last campaign worked, and who to win back.

1. Profit curve: the champion churn model's probabilities on the latest cutoff and each customer's CLV
   (data/processed/clv.parquet); expected profit against the share contacted, ranked by risk and by
   expected loss (`churnlab.policies`). The save rate r (share of would-be churners an offer keeps) is
   measured on the past campaign unless params fix it: (control churn rate - treated churn rate) /
   control churn rate.
2. Uplift: T- and X-learners (`churnlab.uplift`) on the randomised campaign with point-in-time features at
   the campaign month (`churnlab.campaign`), evaluated on held-out customers (Qini, AUUC, uplift@k).
3. Policies on the held-out campaign customers at one budget: random, risk, expected loss, uplift,
   value-weighted uplift and the oracle (the simulator's true effects), with bootstrap CIs. A customer's
   value if retained is their monthly margin at the campaign month times the median discounted lifetime
   of active customers (CLV / monthly margin in clv.parquet): CLV itself is only known at the last month.
4. Survival: Kaplan-Meier of treated against control from the campaign month, log-rank test, RMST gain.
5. Churners (`churnlab.winback`): profiles before leaving, SHAP archetypes vs the latent reasons, and the
   win-back list (pseudonymous ids only).

Writes reports/metrics/retention.json, reports/retention/*.csv, and an MLflow run `retention` (aggregates
only, no ids). The oracle files are read for evaluation only, never for a ranking a bank could not make
(except the `oracle` policy itself). Run with `python -m churnlab.retention`.
"""

import logging
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from churnlab import paths, privacy, tracking
from churnlab.campaign import campaign_outcomes, features_at, first_waves, survival_effect
from churnlab.clv import monthly_margin
from churnlab.indicators import FEATURES
from churnlab.io import write_csv, write_json
from churnlab.logs import setup_logging
from churnlab.models import feature_columns
from churnlab.params import load_params
from churnlab.policies import compare_policies, profit_curve, profit_summary
from churnlab.reasons import contributions
from churnlab.serving import flatten
from churnlab.tables import connect, month_end, month_range
from churnlab.uplift import evaluate_uplift, fit_learners
from churnlab.winback import (
    archetype_agreement,
    churn_types,
    churner_themes,
    expand_months,
    fit_archetypes,
    profile_anchors,
    profile_indicators,
    public_winback,
    winback_list,
)

log = logging.getLogger(__name__)
OUT = paths.RETENTION


def load_champion(model_name: str):
    """The champion ChurnModel from the MLflow registry; models/churn_model.pkl if no champion is registered."""
    from mlflow.exceptions import MlflowException

    try:
        champion = tracking.load_champion(model_name)
        return champion.model, champion.uri
    except MlflowException as err:
        from churnlab.train import load_model

        log.warning("no champion %s in the registry (%s); using %s", model_name, str(err).splitlines()[0],
                    paths.CHURN_MODEL)
        return load_model(paths.CHURN_MODEL), str(paths.CHURN_MODEL)


def save_rate(outcomes: pd.DataFrame) -> float:
    """Relative drop in H-month churn from the offer in the randomised campaign (clipped to [0, 1])."""
    rates = outcomes.groupby("treated")["churned"].mean()
    return float(np.clip((rates[False] - rates[True]) / rates[False], 0.0, 1.0))


def lifetime_multiplier(values: pd.DataFrame) -> float:
    """Median CLV / monthly margin of active customers: the discounted months a retained customer stays."""
    ok = values["monthly_margin"] > 0
    return float((values.loc[ok, "clv"] / values.loc[ok, "monthly_margin"]).median())


def grade_monotone() -> bool | None:
    """The score stage's grade-table monotonicity flag, or None when that table does not exist."""
    if not paths.GRADE_TABLE.exists():
        return None
    from churnlab.grades import is_monotone

    return is_monotone(pd.read_csv(paths.GRADE_TABLE))


def main() -> None:
    setup_logging()
    started = time.perf_counter()
    base, params = load_params("base"), load_params("retention")
    margins, model_name = load_params("survival")["clv"]["margins"], load_params("register")["model_name"]
    seed, horizon = base["seed"], base["horizon_months"]
    customers, events = pd.read_parquet(paths.CUSTOMERS), pd.read_parquet(paths.CHURN_EVENTS)
    campaigns = pd.read_parquet(paths.CAMPAIGNS)
    con = connect({"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
                   "churn_events": paths.CHURN_EVENTS})
    last_month = month_end(month_range(con)[1])
    model, model_source = load_champion(model_name)
    metrics: dict = {"model_source": model_source.split("/")[-1], "horizon_months": horizon}

    # The randomised campaign: outcomes, point-in-time features, the save rate and the offer cost.
    outcomes = campaign_outcomes(campaigns, events, horizon_months=horizon, last_month=last_month)
    rows = outcomes.merge(features_at(con, outcomes), on=["customer_id", "month"], how="inner")
    cost = params["offer_cost"] or float(campaigns.loc[campaigns["treated"], "cost"].mean())
    rate = params["save_rate"] if params["save_rate"] is not None else save_rate(outcomes)
    metrics["campaign"] = {"rows": len(rows), "treated_share": float(rows["treated"].mean()),
                           "churn_rate": rows.groupby("treated")["churned"].mean().rename(str).to_dict(),
                           "save_rate": rate, "offer_cost": cost}
    log.info("campaign: %d rows, save rate %.3f, offer cost %.0f EUR", len(rows), rate, cost)

    # 1. Profit curve on the latest cutoff.
    values = pd.read_parquet(paths.CLV)
    latest_cutoff = pd.read_parquet(paths.SNAPSHOTS, columns=["cutoff"])["cutoff"].max()
    latest = pd.read_parquet(paths.SNAPSHOTS, filters=[("cutoff", "==", latest_cutoff)])
    latest = latest.merge(values[["customer_id", "clv"]], on="customer_id", how="inner")
    p = model.predict_proba(latest)
    clv = latest["clv"].to_numpy(float)
    curve = profit_curve(p, clv, rankings={"risk": p, "expected_loss": p * clv}, save_rate=rate, cost=cost)
    metrics["profit"] = {"cutoff": str(latest_cutoff.date()), "customers": len(latest),
                         **profit_summary(curve, budget_eur=params["budget_eur"], cost=cost)}

    # 2. Uplift models, held out by customer.
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
    effects = pd.read_parquet(paths.ORACLE_EFFECTS, columns=["customer_id", "month", "true_effect"])
    test = test.merge(effects, on=["customer_id", "month"], how="left", validate="one_to_one")
    test["benefit"] = -test["true_effect"]
    truth = {"oracle": test["benefit"].to_numpy()}  # the ceiling: how well the true effect itself scores here
    metrics["uplift"], qini = evaluate_uplift(scores | truth, test["treated"], test["churned"],
                                              top_shares=up["top_shares"], n_boot=up["n_boot"], seed=seed)
    metrics["uplift_rows"] = {"train": len(train), "test": len(test)}
    log.info("uplift on %d held-out rows, Qini: %s", len(test),
             {name: round(m["qini"], 5) for name, m in metrics["uplift"].items()})

    # 3. Policies at one budget, judged by the simulator's true effects.
    multiplier = lifetime_multiplier(values)
    test["value"] = monthly_margin(test, **margins).to_numpy() * multiplier
    test["expected_loss"] = test["risk"] * test["value"]
    test["uplift"] = scores[up["policy_learner"]]
    test["uplift_value"] = test["uplift"] * test["value"]
    test["oracle"] = test["benefit"] * test["value"]
    pol = params["policies"]
    policies = compare_policies(test, {"random": None, "risk": "risk", "expected_loss": "expected_loss",
                                       "uplift": "uplift", "uplift_value": "uplift_value", "oracle": "oracle"},
                                budget_share=pol["budget_share"], cost=cost, n_boot=pol["n_boot"], seed=seed)
    metrics["policies"] = {r["policy"]: {k: r[k] for k in ("value_retained", "value_retained_lo", "value_retained_hi",
                                                           "net_value", "net_value_lo", "net_value_hi", "retained",
                                                           "retained_lo", "retained_hi", "share_of_oracle",
                                                           "share_of_oracle_lo", "share_of_oracle_hi",
                                                           "wasted_share", "harmed_share", "estimated_retained")}
                           for r in policies.to_dict("records")}
    metrics["policy_budget"] = {"share": pol["budget_share"], "offers": int(policies["offers"].iloc[0]),
                                "lifetime_multiplier_months": multiplier,
                                "mean_value": float(test["value"].mean())}
    metrics["uplift_vs_truth"] = {name: float(pd.Series(score).corr(test["benefit"], method="spearman"))
                                  for name, score in scores.items()}  # rank agreement with the true benefit

    # 4. The campaign's effect on survival.
    metrics["survival"], km = survival_effect(first_waves(campaigns, events, last_month=last_month),
                                              tau_months=params["rmst_months"])

    # 5. Churners: profiles, archetypes, win-back.
    ch = params["churners"]
    anchors = profile_anchors(customers, events, months_before=ch["months_before"], max_customers=ch["max_customers"],
                              seed=seed)
    months = expand_months(anchors, months_before=ch["months_before"])
    months = months.merge(features_at(con, months).drop(columns="segment"), on=["customer_id", "month"])
    profile = profile_indicators(months, indicators=ch["indicators"])
    types = churn_types(anchors)

    snap = pd.read_parquet(paths.SNAPSHOTS, columns=["customer_id", "cutoff"])
    snap = snap.merge(events[["customer_id", "churn_month"]], on="customer_id")
    last = snap[snap["cutoff"] < snap["churn_month"]].groupby("customer_id")["cutoff"].max().reset_index()
    last_rows = pd.read_parquet(paths.SNAPSHOTS, filters=[("cutoff", "in", list(last["cutoff"].unique()))])
    last_rows = last_rows.merge(last, on=["customer_id", "cutoff"]).merge(events, on="customer_id")
    last_rows = last_rows[last_rows["churn_type"] != "involuntary"].reset_index(drop=True)
    shap = contributions(model, last_rows).drop(columns="bias")  # the score stage's TreeSHAP, best round included
    arch = params["archetypes"]
    labels, archetypes = fit_archetypes(shap, n_archetypes=arch["n_archetypes"], seed=seed,
                                        top_features=arch["top_features"], themes=arch["themes"])
    last_rows["archetype"] = labels
    last_rows["theme"] = churner_themes(shap, arch["themes"]).to_numpy()
    last_rows = last_rows.merge(archetypes[["archetype", "name"]], on="archetype")
    agreement, confusion = ({}, pd.DataFrame()) if "reason" not in last_rows else \
        archetype_agreement(last_rows["archetype"], last_rows["reason"])  # latent reasons: simulated data only
    metrics["archetypes"] = {**agreement, "names": archetypes.set_index("archetype")["name"].to_dict(),
                             "themes": archetypes.set_index("archetype")["theme"].to_dict(),
                             "churner_themes": last_rows["theme"].value_counts().to_dict()}

    before = last_rows.assign(month=(last_rows["churn_month"].dt.to_period("M") - ch["months_before"])
                              .dt.to_timestamp(how="end").dt.normalize().astype("datetime64[ns]"))
    margin_rows = features_at(con, before[["customer_id", "month"]])
    margin = margin_rows.set_index("customer_id").pipe(monthly_margin, **margins)
    last_rows["lost_value"] = last_rows["customer_id"].map(margin).fillna(0.0).to_numpy() * multiplier
    winback = winback_list(last_rows, last_month=last_month, recent_months=params["winback"]["recent_months"],
                           fixable=arch["fixable"])
    winback = public_winback(winback, key=privacy.pseudonym_key())
    metrics["winback"] = {"customers": len(winback), "lost_value": float(winback["lost_value"].sum()),
                          "by_theme": winback.groupby("theme")["lost_value"].sum().to_dict()}
    monotone = grade_monotone()
    if monotone is not None:
        metrics["grade_monotone"] = monotone
    con.close()

    write_csv(curve.iloc[:: max(len(curve) // 2000, 1)], OUT / "profit_curve.csv")
    for name, table in {"qini_curves": qini, "policies": policies, "km_campaign": km, "churner_profile": profile,
                        "churn_types": types, "archetypes": archetypes, "archetype_confusion": confusion,
                        "winback": winback}.items():
        write_csv(table, OUT / f"{name}.csv")
    metrics["seconds"] = time.perf_counter() - started
    write_json(metrics, paths.METRICS / "retention.json")

    mlflow = tracking.start()
    with mlflow.start_run(run_name="retention"):
        mlflow.set_tags({**tracking.lineage_tags("retention", [paths.CAMPAIGNS, paths.SNAPSHOTS, paths.CLV]),
                         "kind": "retention"})
        mlflow.log_params(flatten({"base": base, "retention": params}))
        mlflow.log_metrics({k: float(v) for k, v in flatten(metrics).items()
                            if isinstance(v, str) and _is_number(v)})
        for name in ("policies", "qini_curves", "archetypes", "archetype_confusion", "km_campaign", "churn_types"):
            mlflow.log_artifact(str(OUT / f"{name}.csv"), "retention")
        mlflow.log_artifact(str(paths.METRICS / "retention.json"))
    log.info("retention done in %.0f s", metrics["seconds"])


def _is_number(text: str) -> bool:
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


if __name__ == "__main__":
    main()
