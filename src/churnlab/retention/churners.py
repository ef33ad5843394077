"""Part 5 of the retention stage: who left and why, and whom to win back, on the stage's in-memory inputs.

`churner_part` runs the steps of `churnlab.retention.winback` in order: profiles of churners before leaving
against retained customers (`profile_churners`), SHAP archetypes on each voluntary churner's last snapshot
before leaving (`last_snapshots`, `name_archetypes`) and the win-back list valued by the margin lost
(`win_back`). Tables are keyed by name (the stage writes reports/retention/<name>.csv); nothing here opens a
file: `con` is the contract tables as DuckDB views (`churnlab.contract.tables.connect`).
"""

import duckdb
import numpy as np
import pandas as pd

from churnlab.contract.value import monthly_margin
from churnlab.core import paths
from churnlab.core.checks import check_columns
from churnlab.core.outputs import StageResult
from churnlab.model.reasons import contributions
from churnlab.retention.campaign import features_at
from churnlab.retention.winback import (
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


def churner_problem(events: pd.DataFrame | None) -> str | None:
    """Why churners cannot be profiled (None: they can). `events` None: the source has no time axis."""
    if events is None:
        return "the source has no time axis (one snapshot): no churn month and no months before it to profile"
    if events.empty:
        return (f"no churn events in {paths.CHURN_EVENTS} (e.g. a ledger records no closures; its dormancy "
                "labels have no churn month)")
    return None


def profile_churners(customers: pd.DataFrame, events: pd.DataFrame, con: duckdb.DuckDBPyConnection, *,
                     months_before: int, max_customers: int, indicators: list[str], seed: int
                     ) -> dict[str, pd.DataFrame]:
    """The tables churner_profile (indicator means in the months before leaving, churned vs retained) and
    churn_types (share of each churn type per segment)."""
    anchors = profile_anchors(customers, events, months_before=months_before, max_customers=max_customers, seed=seed)
    months = expand_months(anchors, months_before=months_before)
    months = months.merge(features_at(con, months).drop(columns="segment"), on=["customer_id", "month"])
    return {"churner_profile": profile_indicators(months, indicators=indicators), "churn_types": churn_types(anchors)}


def last_snapshots(snapshots: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Each voluntary churner's last snapshot before their churn month, with the columns of their churn event.

    A customer the bank closed (`involuntary`) is left out: there is no reason of theirs to find or fix.
    """
    check_columns(snapshots, ("customer_id", "cutoff"), table="snapshots")
    check_columns(events, ("customer_id", "churn_month", "churn_type"), table="churn_events")
    keys = snapshots[["customer_id", "cutoff"]].merge(events[["customer_id", "churn_month"]], on="customer_id")
    last = keys[keys["cutoff"] < keys["churn_month"]].groupby("customer_id")["cutoff"].max().reset_index()
    rows = snapshots.merge(last, on=["customer_id", "cutoff"]).merge(events, on="customer_id")
    return rows[rows["churn_type"] != "involuntary"].reset_index(drop=True)


def name_archetypes(model, churners: pd.DataFrame, *, n_archetypes: int, top_features: int,
                    themes: dict[str, list[str]], seed: int) -> tuple[pd.DataFrame, StageResult]:
    """Reason archetypes from the churn model's TreeSHAP on `churners` (the score stage's contributions).

    Returns the churners with archetype, theme (their own) and name (their archetype's), and the part's result:
    the archetypes table and, where latent reasons exist (simulated data), their agreement with the archetypes.
    """
    shap = contributions(model, churners).drop(columns="bias")
    labels, archetypes = fit_archetypes(shap, n_archetypes=n_archetypes, seed=seed, top_features=top_features,
                                        themes=themes)
    churners = churners.assign(archetype=labels, theme=churner_themes(shap, themes).to_numpy())
    churners = churners.merge(archetypes[["archetype", "name"]], on="archetype")
    tables, agreement = {"archetypes": archetypes}, {}
    if "reason" in churners:
        agreement, tables["archetype_confusion"] = archetype_agreement(churners["archetype"], churners["reason"])
    named = archetypes.set_index("archetype")
    metrics = {**agreement, "names": named["name"].to_dict(), "themes": named["theme"].to_dict(),
               "churner_themes": churners["theme"].value_counts().to_dict()}
    return churners, StageResult({"archetypes": metrics}, tables)


def win_back(churners: pd.DataFrame, con: duckdb.DuckDBPyConnection, *, last_month: pd.Timestamp,
             multiplier: float | None, margins: dict, months_before: int, recent_months: int,
             fixable: list[str], key: bytes) -> StageResult:
    """The win-back list (pseudonymous ids), each churner valued by the margin lost.

    The value lost is the monthly margin `months_before` months before the churn month (before the balances
    ran down) times the lifetime `multiplier` (NaN without CLVs, the list is still ranked by theme and recency).
    """
    before = churners.assign(month=(churners["churn_month"].dt.to_period("M") - months_before)
                             .dt.to_timestamp(how="end").dt.normalize().astype("datetime64[ns]"))
    margin = features_at(con, before[["customer_id", "month"]]).set_index("customer_id").pipe(monthly_margin,
                                                                                             **margins)
    skipped = {}
    if multiplier is None:
        skipped["winback_value"] = f"no CLV in {paths.CLV}: the value lost by a churner is unknown"
    lost = churners["customer_id"].map(margin).fillna(0.0).to_numpy() * (multiplier or np.nan)
    ranked = winback_list(churners.assign(lost_value=lost), last_month=last_month, recent_months=recent_months,
                          fixable=fixable)
    public = public_winback(ranked, key=key)
    metrics = {"customers": len(public), "lost_value": float(public["lost_value"].sum()),
               "by_theme": public.groupby("theme")["lost_value"].sum().to_dict()}
    return StageResult({"winback": metrics}, {"winback": public}, skipped=skipped)


def churner_part(model, snapshots: pd.DataFrame, customers: pd.DataFrame, events: pd.DataFrame,
                 con: duckdb.DuckDBPyConnection, *, last_month: pd.Timestamp, multiplier: float | None, margins: dict,
                 churners: dict, archetypes: dict, recent_months: int, seed: int, key: bytes) -> StageResult:
    """Profiles, archetypes and the win-back list on a history with churn events (see `churner_problem`).

    `churners` and `archetypes` are the params sections retention.churners and retention.archetypes; archetypes
    and the win-back list are skipped when fewer voluntary churners than archetypes have a snapshot before leaving.
    """
    profiles = profile_churners(customers, events, con, **churners, seed=seed)
    leavers = last_snapshots(snapshots, events)
    if len(leavers) < archetypes["n_archetypes"]:
        reason = (f"{len(leavers)} voluntary churners with a snapshot before leaving: fewer than "
                  f"{archetypes['n_archetypes']} archetypes")
        return StageResult({}, profiles, skipped=dict.fromkeys(("archetypes", "winback"), reason))
    leavers, named = name_archetypes(model, leavers, n_archetypes=archetypes["n_archetypes"],
                                     top_features=archetypes["top_features"], themes=archetypes["themes"], seed=seed)
    listed = win_back(leavers, con, last_month=last_month, multiplier=multiplier, margins=margins,
                      months_before=churners["months_before"], recent_months=recent_months,
                      fixable=archetypes["fixable"], key=key)
    return StageResult({**named.metrics, **listed.metrics}, {**profiles, **named.tables, **listed.tables},
                       skipped=listed.skipped)
