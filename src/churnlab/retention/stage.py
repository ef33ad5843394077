"""The `retention` stage: whom to contact, what it is worth, how the last campaign worked, and who to win back.

1. Profit curve: the champion churn model's probabilities on the latest cutoff and each customer's CLV
   (data/processed/clv.parquet); expected profit against the share contacted, ranked by risk and by
   expected loss (`churnlab.retention.policies`). The save rate r (share of would-be churners an offer keeps) is
   measured on the past campaign unless params fix it: (control churn rate - treated churn rate) /
   control churn rate.
2. Uplift: T- and X-learners (`churnlab.retention.uplift`) on the randomised campaign with point-in-time features at
   the campaign month (`churnlab.retention.campaign`), evaluated on held-out customers (Qini, AUUC, uplift@k).
3. Policies on the held-out campaign customers at one budget: random, risk, expected loss, uplift,
   value-weighted uplift and, on simulated data, the oracle (the simulator's true effects), with bootstrap CIs.
   A customer's value if retained is their monthly margin at the campaign month times the median discounted
   lifetime of active customers (CLV / monthly margin in clv.parquet): CLV itself is only known at the last month.
4. Survival: Kaplan-Meier of treated against control from the campaign month, log-rank test, RMST gain.
5. Churners (`churnlab.retention.winback`): profiles before leaving, SHAP archetypes vs the latent reasons, and the
   win-back list (pseudonymous ids only).

Each part runs where the data allow it and is otherwise skipped, with the reason under `skipped` in
retention.json and a header-only table: parts 2-4 need campaign rows (a snapshot file, the ledger and a
contract without a campaigns table have none); the oracle policy, share_of_oracle and the uplift's rank
agreement with the truth need the simulator (data.source simulator); part 5 needs churn events and monthly rows
(not a snapshot, not a ledger without closures); the profit curve needs a save rate (the campaign's, or params
`retention.save_rate`), an offer cost (`retention.offer_cost` or the campaign's) and CLVs.

Writes reports/metrics/retention.json, reports/retention/*.csv, and an MLflow run `retention` (aggregates
only, no ids). The oracle files are read for evaluation only, never for a ranking a bank could not make
(except the `oracle` policy itself). Run with `python -m churnlab.retention`.
"""

import logging
import time

import numpy as np
import pandas as pd

from churnlab.contract.tables import connect, month_end, month_range
from churnlab.contract.value import monthly_margin
from churnlab.core import paths, privacy, tracking
from churnlab.core.io import write_csv, write_json
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.model.reasons import contributions
from churnlab.model.serving import flatten
from churnlab.retention.campaign import campaign_outcomes, features_at, first_waves, survival_effect
from churnlab.retention.policies import profit_curve, profit_summary, target_campaign
from churnlab.retention.winback import (
    WINBACK_COLUMNS,
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
TABLES = {  # every table the stage writes, with the header it keeps when its part is skipped
    "profit_curve": ["ranking", "contacted", "share", "profit"],
    "qini_curves": ["k", "share", "qini", "gain", "model"],
    "policies": ["policy", "offers"],
    "km_campaign": ["months", "treated", "control"],
    "churner_profile": ["group", "segment", "months_before", "customers", "indicator", "mean"],
    "churn_types": ["segment"],
    "archetypes": ["archetype", "name", "theme", "customers"],
    "archetype_confusion": ["archetype"],
    "winback": list(WINBACK_COLUMNS),
}



def load_champion(model_name: str):
    """The champion ChurnModel from the MLflow registry; models/churn_model.pkl if no champion is registered."""
    from mlflow.exceptions import MlflowException

    try:
        champion = tracking.load_champion(model_name)
        return champion.model, champion.uri
    except MlflowException as err:
        from churnlab.model.churn import load_model

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


def campaign_problem(campaigns: pd.DataFrame | None, outcomes: pd.DataFrame | None) -> str | None:
    """Why the campaign cannot be evaluated (None: it can). `campaigns` None: the source has no time axis."""
    if campaigns is None:
        return "the source has no time axis and no campaigns table (one snapshot)"
    if campaigns.empty:
        return f"no campaign rows in {paths.CAMPAIGNS}: the source recorded no randomised retention campaign"
    if outcomes is None or outcomes.empty:
        return "no campaign row's outcome window (campaign month + horizon) ends by the data's last month"
    arms = set(outcomes["treated"].astype(bool))
    if arms != {True, False}:
        return f"the campaign has only {'treated' if True in arms else 'control'} customers: no randomised contrast"
    return None


def churner_problem(events: pd.DataFrame | None) -> str | None:
    """Why churners cannot be profiled (None: they can). `events` None: the source has no time axis."""
    if events is None:
        return "the source has no time axis (one snapshot): no churn month and no months before it to profile"
    if events.empty:
        return (f"no churn events in {paths.CHURN_EVENTS} (e.g. a ledger records no closures; its dormancy "
                "labels have no churn month)")
    return None


def main() -> None:
    setup_logging()
    started = time.perf_counter()
    base, params, source = load_params("base"), load_params("retention"), load_params("data")["source"]
    margins, model_name = load_params("survival")["clv"]["margins"], load_params("register")["model_name"]
    seed, horizon = base["seed"], base["horizon_months"]
    time_axis, simulated = source != "snapshot", source == "simulator"
    model, model_source = load_champion(model_name)
    metrics: dict = {"source": source, "model_source": model_source.split("/")[-1], "horizon_months": horizon}
    skipped: dict[str, str] = {}
    tables = {name: pd.DataFrame(columns=columns) for name, columns in TABLES.items()}
    values = pd.read_parquet(paths.CLV)
    multiplier = lifetime_multiplier(values) if len(values) else None
    customers = events = campaigns = outcomes = con = last_month = None
    if time_axis:
        customers, events = pd.read_parquet(paths.CUSTOMERS), pd.read_parquet(paths.CHURN_EVENTS)
        campaigns = pd.read_parquet(paths.CAMPAIGNS)
        con = connect({"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
                       "churn_events": paths.CHURN_EVENTS})
        last_month = month_end(month_range(con)[1])
        if len(campaigns):
            outcomes = campaign_outcomes(campaigns, events, horizon_months=horizon, last_month=last_month)

    # The randomised campaign: outcomes, point-in-time features, the save rate and the offer cost.
    rate, cost = params["save_rate"], params["offer_cost"]
    no_campaign = campaign_problem(campaigns, outcomes)
    if no_campaign:
        skipped["campaign"] = no_campaign
    else:
        rows = outcomes.merge(features_at(con, outcomes), on=["customer_id", "month"], how="inner")
        cost = cost or float(campaigns.loc[campaigns["treated"], "cost"].mean())
        rate = rate if rate is not None else save_rate(outcomes)
        metrics["campaign"] = {"rows": len(rows), "treated_share": float(rows["treated"].mean()),
                               "churn_rate": rows.groupby("treated")["churned"].mean().rename(str).to_dict(),
                               "save_rate": rate, "offer_cost": cost}
        log.info("campaign: %d rows, save rate %.3f, offer cost %.0f EUR", len(rows), rate, cost)

    # 1. Profit curve on the latest cutoff.
    if rate is None:
        skipped["profit"] = "no save rate: no campaign to measure it on and params retention.save_rate is null"
    elif not cost:
        skipped["profit"] = "no offer cost: no campaign to take it from and params retention.offer_cost is null"
    elif multiplier is None:
        skipped["profit"] = f"no CLV in {paths.CLV}: the survival stage valued no customer"
    else:
        latest_cutoff = pd.read_parquet(paths.SNAPSHOTS, columns=["cutoff"])["cutoff"].max()
        latest = pd.read_parquet(paths.SNAPSHOTS, filters=[("cutoff", "==", latest_cutoff)])
        latest = latest.merge(values[["customer_id", "clv"]], on="customer_id", how="inner")
        p = model.predict_proba(latest)
        clv = latest["clv"].to_numpy(float)
        curve = profit_curve(p, clv, rankings={"risk": p, "expected_loss": p * clv}, save_rate=rate, cost=cost)
        tables["profit_curve"] = curve.iloc[:: max(len(curve) // 2000, 1)]
        metrics["profit"] = {"cutoff": str(latest_cutoff.date()), "customers": len(latest), "save_rate": rate,
                             "offer_cost": cost, **profit_summary(curve, budget_eur=params["budget_eur"], cost=cost)}

    # 2-4. Uplift models and policies on held-out campaign customers; the campaign's effect on survival.
    if no_campaign:
        skipped |= {part: "no campaign (see campaign)" for part in ("uplift", "policies", "campaign_survival")}
    else:
        if not simulated:
            skipped["oracle"] = ("the simulator's true offer effects exist only for data.source simulator: no oracle "
                                 "policy, no share_of_oracle, no rank agreement with the truth")
        effects = pd.read_parquet(paths.ORACLE_EFFECTS, columns=["customer_id", "month", "true_effect"]) \
            if simulated else None
        part, part_tables, part_skipped = target_campaign(rows, model, effects=effects, multiplier=multiplier,
                                                          margins=margins, cost=cost, params=params, seed=seed)
        metrics |= part
        tables |= part_tables
        skipped |= part_skipped
        metrics["survival"], tables["km_campaign"] = survival_effect(
            first_waves(campaigns, events, last_month=last_month), tau_months=params["rmst_months"])

    # 5. Churners: profiles, archetypes, win-back.
    no_churners = churner_problem(events)
    if no_churners:
        skipped |= {part: no_churners for part in ("churners", "archetypes", "winback")}
    else:
        ch, arch = params["churners"], params["archetypes"]
        anchors = profile_anchors(customers, events, months_before=ch["months_before"],
                                  max_customers=ch["max_customers"], seed=seed)
        months = expand_months(anchors, months_before=ch["months_before"])
        months = months.merge(features_at(con, months).drop(columns="segment"), on=["customer_id", "month"])
        tables["churner_profile"] = profile_indicators(months, indicators=ch["indicators"])
        tables["churn_types"] = churn_types(anchors)

        snap = pd.read_parquet(paths.SNAPSHOTS, columns=["customer_id", "cutoff"])
        snap = snap.merge(events[["customer_id", "churn_month"]], on="customer_id")
        last = snap[snap["cutoff"] < snap["churn_month"]].groupby("customer_id")["cutoff"].max().reset_index()
        last_rows = pd.read_parquet(paths.SNAPSHOTS, filters=[("cutoff", "in", list(last["cutoff"].unique()))])
        last_rows = last_rows.merge(last, on=["customer_id", "cutoff"]).merge(events, on="customer_id")
        last_rows = last_rows[last_rows["churn_type"] != "involuntary"].reset_index(drop=True)
        if len(last_rows) < arch["n_archetypes"]:
            skipped |= {part: f"{len(last_rows)} voluntary churners with a snapshot before leaving: fewer than "
                              f"{arch['n_archetypes']} archetypes" for part in ("archetypes", "winback")}
        else:
            shap = contributions(model, last_rows).drop(columns="bias")  # the score stage's TreeSHAP
            labels, tables["archetypes"] = fit_archetypes(shap, n_archetypes=arch["n_archetypes"], seed=seed,
                                                          top_features=arch["top_features"], themes=arch["themes"])
            archetypes = tables["archetypes"]
            last_rows["archetype"] = labels
            last_rows["theme"] = churner_themes(shap, arch["themes"]).to_numpy()
            last_rows = last_rows.merge(archetypes[["archetype", "name"]], on="archetype")
            agreement = {}
            if "reason" in last_rows:  # latent reasons: simulated data only
                agreement, tables["archetype_confusion"] = archetype_agreement(last_rows["archetype"],
                                                                               last_rows["reason"])
            metrics["archetypes"] = {**agreement, "names": archetypes.set_index("archetype")["name"].to_dict(),
                                     "themes": archetypes.set_index("archetype")["theme"].to_dict(),
                                     "churner_themes": last_rows["theme"].value_counts().to_dict()}

            before = last_rows.assign(month=(last_rows["churn_month"].dt.to_period("M") - ch["months_before"])
                                      .dt.to_timestamp(how="end").dt.normalize().astype("datetime64[ns]"))
            margin_rows = features_at(con, before[["customer_id", "month"]])
            margin = margin_rows.set_index("customer_id").pipe(monthly_margin, **margins)
            if multiplier is None:
                skipped["winback_value"] = f"no CLV in {paths.CLV}: the value lost by a churner is unknown"
            lost = last_rows["customer_id"].map(margin).fillna(0.0).to_numpy() * (multiplier or np.nan)
            last_rows["lost_value"] = lost
            winback = winback_list(last_rows, last_month=last_month, recent_months=params["winback"]["recent_months"],
                                   fixable=arch["fixable"])
            winback = public_winback(winback, key=privacy.pseudonym_key())
            tables["winback"] = winback
            metrics["winback"] = {"customers": len(winback), "lost_value": float(winback["lost_value"].sum()),
                                  "by_theme": winback.groupby("theme")["lost_value"].sum().to_dict()}
    if con is not None:
        con.close()

    for part, reason in skipped.items():
        log.warning("retention: %s skipped: %s", part, reason)
    for name, table in tables.items():
        write_csv(table, OUT / f"{name}.csv")
    if skipped:
        metrics["skipped"] = skipped
    metrics["seconds"] = time.perf_counter() - started
    write_json(metrics, paths.METRICS / "retention.json")

    mlflow = tracking.start()
    with mlflow.start_run(run_name="retention"):
        mlflow.set_tags({**tracking.lineage_tags("retention", [paths.CAMPAIGNS, paths.SNAPSHOTS, paths.CLV]),
                         "kind": "retention", **{f"skipped.{part}": reason[:250] for part, reason in skipped.items()}})
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
