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
5. Churners (`churnlab.retention.churners`, `churnlab.retention.winback`): profiles before leaving, SHAP
   archetypes vs the latent reasons, and the win-back list (pseudonymous ids only).
6. Offers (`churnlab.retention.targeting`): each offer's effect learned from the multi-arm campaign (a DR-learner,
   `churnlab.retention.offers`), the learned, random, risk, expected-loss and (simulated data) oracle policies at
   one budget valued by IPW and DR with bootstrap intervals and by their true value, and the learned offer per
   customer of the latest cutoff (reports/retention/offers.csv, pseudonymous ids, joined to the early-warning list
   by id).
7. The next campaign (`churnlab.retention.next_campaign`): the last wave's realised uplift per offer, the power
   table and the allocation (learned offers, a randomised share, a persistent control group).

Each part runs where the data allow it and is otherwise skipped, with the reason under `skipped` in
retention.json and a header-only table. What the data allow comes from data/raw/source.json
(`churnlab.contract.source`) and the tables themselves: parts 2-4 need campaign rows (a snapshot file, the ledger
and a contract without a campaigns table have none); the oracle policy, share_of_oracle and the uplift's rank
agreement with the truth need the simulator's oracle (`Source.oracle`); part 5 needs a time axis and churn events
(not a snapshot, not a ledger without closures); the profit curve needs a save rate (the campaign's, or params
`retention.save_rate`), an offer cost (`retention.offer_cost` or the campaign's) and CLVs.

`run()` computes every part from in-memory inputs; `main()` reads the files, params and the champion model, and
`churnlab.core.outputs.write_result` writes reports/metrics/retention.json, reports/retention/*.csv and the MLflow
run `retention` (its artifacts are aggregates: the win-back list, one row per customer, stays out of MLflow).
The oracle files are read for evaluation only, never for a ranking a bank could not make (except the `oracle`
policy itself). Run with `python -m churnlab.retention`.
"""

import logging
import time
from dataclasses import dataclass
from functools import cached_property

import duckdb
import numpy as np
import pandas as pd

from churnlab.contract.source import Source, read_source
from churnlab.contract.tables import connect, month_end, month_range
from churnlab.core import paths, privacy, tracking
from churnlab.core.lake import read_rows
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.retention.campaign import campaign_outcomes, features_at, first_waves, survival_effect
from churnlab.retention.churners import churner_part, churner_problem
from churnlab.retention.next_campaign import design_next
from churnlab.retention.policies import profit_curve, profit_summary, target_campaign
from churnlab.retention.targeting import OFFER_LIST_COLUMNS, learn_offers
from churnlab.retention.winback import WINBACK_COLUMNS

log = logging.getLogger(__name__)
# metrics/retention.json: what `dvc exp show` compares (the detail is in reports/metrics/retention.json)
HEADLINE = {
    "learned_share_of_oracle": "offers.learned_share_of_oracle",  # true net values, simulated data only
    "dr_coverage": "offers.dr_coverage",  # policies (of 5) whose DR 95 % interval holds the true value
    "learned_dr_net_value": "offers.policies.learned.dr_net_value",  # EUR on the held-out campaign customers
    "learned_true_net_value": "offers.policies.learned.true_net_value",
}
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
    "offer_policies": ["policy", "budget_eur", "contacted"],
    "offer_effects": ["offer", "customers", "mean_effect"],
    "offers": list(OFFER_LIST_COLUMNS),
    "realised_uplift": ["arm", "n", "churn_rate", "control_n", "control_rate", "uplift", "low", "high", "p_value"],
    "power": ["arm", "uplift", "control_rate", "target_rate", "customers", "total"],
    "next_campaign": ["customer", "arm", "propensity", "source"],
    "next_campaign_arms": ["arm", "customers"],
}
MIN_ARM_ROWS = 50  # customers per campaign arm below which a per-offer effect is noise
PER_CUSTOMER = ("winback", "offers", "next_campaign")  # kept out of MLflow: one row per (pseudonymous) customer
NO_ORACLE = ("the simulator's true offer effects exist only for data.source simulator: no oracle policy, no "
             "share_of_oracle, no rank agreement with the truth")


@dataclass
class History:
    """The monthly history of a source with a time axis: customers, churn events, campaign rows, and the contract
    tables as DuckDB views (`churnlab.contract.tables.connect`: Parquet files in the stage, DataFrames in tests),
    which the point-in-time features are computed from."""

    customers: pd.DataFrame
    events: pd.DataFrame
    campaigns: pd.DataFrame
    con: duckdb.DuckDBPyConnection

    @cached_property
    def last_month(self) -> pd.Timestamp:
        """The data's last month-end."""
        return month_end(month_range(self.con)[1])


@dataclass
class Campaign:
    """The randomised campaign as the stage uses it. `rows`: outcomes with point-in-time features at the campaign
    month (None when `problem` says why it cannot be evaluated); the save rate and offer cost are the params'
    values, else measured on the campaign (None: neither)."""

    save_rate: float | None
    offer_cost: float | None
    rows: pd.DataFrame | None = None
    problem: str | None = None

    def result(self) -> StageResult:
        if self.problem:
            return StageResult({}, skipped={"campaign": self.problem})
        rows = self.rows
        return StageResult({"campaign": {
            "rows": len(rows), "treated_share": float(rows["treated"].mean()),
            "churn_rate": rows.groupby("treated")["churned"].mean().rename(str).to_dict(),
            "save_rate": self.save_rate, "offer_cost": self.offer_cost}})


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


def read_history() -> History:
    """The monthly history in data/raw (a source with a time axis); the caller closes `con`."""
    views = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
             "churn_events": paths.CHURN_EVENTS}
    return History(customers=pd.read_parquet(paths.CUSTOMERS), events=pd.read_parquet(paths.CHURN_EVENTS),
                   campaigns=pd.read_parquet(paths.CAMPAIGNS), con=connect(views))


def measured_save_rate(outcomes: pd.DataFrame) -> float:
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


def measure_campaign(history: History | None, *, horizon_months: int, save_rate: float | None,
                     offer_cost: float | None) -> Campaign:
    """The campaign rows with their H-month outcomes and features, and the save rate and offer cost.

    Params win over the campaign: a save rate of None is measured on the outcomes (`measured_save_rate`), an offer
    cost of None (or 0) is the mean cost of the treated campaign rows.
    """
    outcomes = None
    if history is not None and len(history.campaigns):
        outcomes = campaign_outcomes(history.campaigns, history.events, horizon_months=horizon_months,
                                     last_month=history.last_month)
    problem = campaign_problem(None if history is None else history.campaigns, outcomes)
    if problem:
        return Campaign(save_rate, offer_cost, problem=problem)
    rows = outcomes.merge(features_at(history.con, outcomes), on=["customer_id", "month"], how="inner")
    campaigns = history.campaigns
    cost = offer_cost or float(campaigns.loc[campaigns["treated"], "cost"].mean())
    rate = save_rate if save_rate is not None else measured_save_rate(outcomes)
    log.info("campaign: %d rows, save rate %.3f, offer cost %.0f EUR", len(rows), rate, cost)
    return Campaign(rate, cost, rows=rows)


def profit_part(model, snapshots: pd.DataFrame, clv: pd.DataFrame, *, campaign: Campaign, multiplier: float | None,
                budget_eur: float) -> StageResult:
    """Part 1: expected profit against the share contacted on the latest cutoff, ranked by risk and by expected loss.

    Needs a save rate, an offer cost and CLVs (`multiplier` None: no CLV); each customer's value is their CLV.
    """
    rate, cost = campaign.save_rate, campaign.offer_cost
    if rate is None:
        return StageResult({}, skipped={"profit": "no save rate: no campaign to measure it on and params "
                                                  "retention.save_rate is null"})
    if not cost:
        return StageResult({}, skipped={"profit": "no offer cost: no campaign to take it from and params "
                                                  "retention.offer_cost is null"})
    if multiplier is None:
        return StageResult({}, skipped={"profit": f"no CLV in {paths.CLV}: the survival stage valued no customer"})
    latest_cutoff = snapshots["cutoff"].max()
    latest = snapshots[snapshots["cutoff"] == latest_cutoff].merge(clv[["customer_id", "clv"]], on="customer_id",
                                                                   how="inner")
    p = model.predict_proba(latest)
    value = latest["clv"].to_numpy(float)
    curve = profit_curve(p, value, rankings={"risk": p, "expected_loss": p * value}, save_rate=rate, cost=cost)
    metrics = {"cutoff": str(latest_cutoff.date()), "customers": len(latest), "save_rate": rate, "offer_cost": cost,
               **profit_summary(curve, budget_eur=budget_eur, cost=cost)}
    return StageResult({"profit": metrics}, {"profit_curve": curve.iloc[:: max(len(curve) // 2000, 1)]})


def targeting_part(model, history: History | None, campaign: Campaign, *, effects: pd.DataFrame | None,
                   multiplier: float | None, margins: dict, uplift: dict, policies: dict, rmst_months: int,
                   seed: int) -> StageResult:
    """Parts 2-4: uplift learners and targeting policies on held-out campaign customers, and the campaign's effect
    on survival since its first wave. `effects` are the simulator's true offer effects (None: no oracle)."""
    if campaign.problem:
        return StageResult({}, skipped=dict.fromkeys(("uplift", "policies", "campaign_survival"),
                                                     "no campaign (see campaign)"))
    metrics, tables, skipped = target_campaign(campaign.rows, model, effects=effects, multiplier=multiplier,
                                               margins=margins, cost=campaign.offer_cost,
                                               params={"uplift": uplift, "policies": policies}, seed=seed)
    waves = first_waves(history.campaigns, history.events, last_month=history.last_month)
    metrics["survival"], tables["km_campaign"] = survival_effect(waves, tau_months=rmst_months)
    return StageResult(metrics, tables, skipped={**({} if effects is not None else {"oracle": NO_ORACLE}), **skipped})


def offers_part(model, campaign: Campaign, snapshots: pd.DataFrame, *, truth: pd.DataFrame | None,
                multiplier: float | None, margins: dict, offers: dict, design: dict, budget_eur: float, seed: int,
                key: bytes) -> StageResult:
    """Parts 6-7: offers learned from the multi-arm campaign, every policy valued (`retention.targeting`), the
    learned offer per customer of the latest cutoff, and the next campaign's design (`retention.next_campaign`)."""
    parts = ("offers", "next_campaign")
    if campaign.problem:
        return StageResult({}, skipped=dict.fromkeys(parts, "no campaign (see campaign)"))
    if multiplier is None:
        return StageResult({}, skipped=dict.fromkeys(parts, "no CLV (the survival stage valued no customer) to "
                                                            "value a retained customer by"))
    arms = campaign.rows["offer"].where(campaign.rows["treated"].astype(bool), "control").value_counts()
    if arms.min() < MIN_ARM_ROWS or len(arms) < 2:
        return StageResult({}, skipped=dict.fromkeys(parts, f"the campaign's arms hold too few customers to learn "
                                                            f"each offer's effect (at least {MIN_ARM_ROWS} each): "
                                                            f"{arms.to_dict()}"))
    latest = snapshots[snapshots["cutoff"] == snapshots["cutoff"].max()].reset_index(drop=True)
    metrics, tables, rows, latest, net = learn_offers(campaign.rows, latest, model, truth=truth,
                                                      multiplier=multiplier, margins=margins, params=offers,
                                                      budget_eur=budget_eur, seed=seed, key=key)
    metrics["next_campaign"], more = design_next(rows, latest, net, seed=seed, key=key, **design)
    return StageResult(metrics, tables | more)


def run(model, *, source: Source, clv: pd.DataFrame, snapshots: pd.DataFrame, history: History | None,
        effects: pd.DataFrame | None, seed: int, horizon_months: int, margins: dict, model_source: str, key: bytes,
        budget_eur: float, offer_cost: float | None, save_rate: float | None, rmst_months: int, uplift: dict,
        policies: dict, offers: dict, design: dict, churners: dict, archetypes: dict, winback: dict) -> StageResult:
    """The retention stage on in-memory inputs: every part, or why it is skipped, and a table for each of TABLES.

    `model` is the champion ChurnModel (`model_source` names it); `clv` the survival stage's clv.parquet;
    `snapshots` the features stage's snapshots; `history` the monthly tables (None when `source` has no time
    axis); `effects` the simulator's true offer effects (used only when `source.oracle`); `margins` the params
    survival.clv.margins; `key` the pseudonymisation key of the win-back list; the keywords from `budget_eur` on
    are the params section `retention`. Tables are keyed by their path in reports/retention/.
    """
    multiplier = lifetime_multiplier(clv) if len(clv) else None
    campaign = measure_campaign(history, horizon_months=horizon_months, save_rate=save_rate, offer_cost=offer_cost)
    parts = [
        campaign.result(),
        profit_part(model, snapshots, clv, campaign=campaign, multiplier=multiplier, budget_eur=budget_eur),
        targeting_part(model, history, campaign, multiplier=multiplier,
                       effects=effects[["customer_id", "month", "true_effect"]] if source.oracle else None,
                       margins=margins, uplift=uplift, policies=policies, rmst_months=rmst_months, seed=seed),
        offers_part(model, campaign, snapshots, truth=effects if source.oracle else None, multiplier=multiplier,
                    margins=margins, offers=offers, design=design, budget_eur=budget_eur, seed=seed, key=key),
    ]
    no_churners = churner_problem(None if history is None else history.events)
    if no_churners:
        parts.append(StageResult({}, skipped=dict.fromkeys(("churners", "archetypes", "winback"), no_churners)))
    else:
        parts.append(churner_part(model, snapshots, history.customers, history.events, history.con,
                                  last_month=history.last_month, multiplier=multiplier, margins=margins,
                                  churners=churners, archetypes=archetypes, recent_months=winback["recent_months"],
                                  seed=seed, key=key))
    result = StageResult({"source": source.name, "model_source": model_source.split("/")[-1],
                          "horizon_months": horizon_months})
    tables = {name: pd.DataFrame(columns=columns) for name, columns in TABLES.items()}
    for part in parts:
        result.metrics |= part.metrics
        tables |= part.tables
        result.skipped |= part.skipped
    result.tables = {OUT / f"{name}.csv": table for name, table in tables.items()}
    return result


def main() -> None:
    setup_logging()
    started = time.perf_counter()
    base, retention = load_params("base"), load_params("retention")
    margins, model_name = load_params("survival")["clv"]["margins"], load_params("register")["model_name"]
    source = read_source()
    model, model_source = load_champion(model_name)
    history = read_history() if source.time_axis else None
    key = privacy.pseudonym_key(synthetic_seed=base["seed"] if source.synthetic else None)  # made-up ids: seed key
    effects = pd.read_parquet(paths.ORACLE_EFFECTS) if source.oracle else None
    try:
        result = run(model, source=source, clv=pd.read_parquet(paths.CLV), snapshots=read_rows(paths.SNAPSHOTS),
                     history=history, effects=effects, seed=base["seed"], horizon_months=base["horizon_months"],
                     margins=margins, model_source=model_source, key=key, **retention)
    finally:
        if history is not None:
            history.con.close()
    params = {"base": base, "retention": retention, "survival": {"clv": {"margins": margins}},
              "register": {"model_name": model_name}}
    write_result("retention", result, headline=HEADLINE, params=params,
                 inputs=[paths.SOURCE, paths.CAMPAIGNS, paths.SNAPSHOTS, paths.CLV],
                 artifacts=[path for path in result.files() if path.stem not in PER_CUSTOMER])
    log.info("retention done in %.0f s", time.perf_counter() - started)
