"""Descriptive survival: Kaplan-Meier curves with left truncation, log-rank tests, competing-risk incidence.

Kaplan-Meier with delayed entry: S(t) = prod over event times s <= t of (1 - d_s / n_s), where the risk set
n_s counts customers with entry < s <= duration. A customer who opened before the data window is in the
risk set only from the tenure at which the window first sees them; counting them from tenure 0 would
credit them with months nobody observed (survivor bias: customers who left earlier are never seen).

`describe`, what the stage runs, has an engine (DuckDB or Spark) count customers per grouping, level and month and
computes every table from those counts (`churnlab.survival.aggregated`). `fit_km` and `km_summary` are
lifelines' customer-level fit, used by the model comparison and as the reference in tests.
"""

import logging

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from churnlab.core.engine import DuckDBSql, Sql
from churnlab.survival import aggregated
from churnlab.survival.aggregated import Counting, count_frame, month_counts

log = logging.getLogger(__name__)

LOGRANK_COLUMNS = ["group", "levels", "test_statistic", "p_value", "degrees_of_freedom"]
TABLE = "survival_lifetimes"  # the engine's name for the counted columns of the lifetimes
OVERALL, CAUSE = ":all", ":cause"  # groupings of the counts beside survival.km.groups (no params name has a colon)


def fit_km(durations, events, entry=None, *, label: str = "KM") -> KaplanMeierFitter:
    """Kaplan-Meier fit with optional delayed entry (lifelines' `entry`) and 95 % Greenwood bands."""
    return KaplanMeierFitter(label=label).fit(durations, event_observed=events, entry=entry)


def _step(frame: pd.DataFrame, times) -> np.ndarray:
    """Right-continuous step function `frame` (index: time) evaluated at `times`; NaN after its last time.

    A Kaplan-Meier curve is known only up to the longest follow-up: carried flat beyond it, a curve since entry
    would claim survival for months no customer has been followed (a 48-month window drawn out to 120 months).
    """
    index = frame.index.to_numpy()
    times = np.asarray(times, dtype=float)
    pos = np.searchsorted(index, times, side="right") - 1
    values = frame.to_numpy()[np.clip(pos, 0, None)].astype(float)
    values[pos < 0] = 1.0
    values[times > index[-1]] = np.nan
    return values


def km_summary(kmf: KaplanMeierFitter, *, times: list[int]) -> dict:
    """Median lifetime (months; inf when the curve never reaches 0.5) and S(t) with 95 % bands at `times`."""
    median = float(kmf.median_survival_time_)
    bands = median_survival_times(kmf.confidence_interval_)
    out = {"n": int(kmf.event_observed.size), "events": int(kmf.event_observed.sum()), "median_months": median,
           "median_lower": float(bands.iloc[0, 0]), "median_upper": float(bands.iloc[0, 1])}
    surv = _step(kmf.survival_function_, times)[:, 0]
    band = _step(kmf.confidence_interval_survival_function_, times)
    for t, s, (lo, hi) in zip(times, surv, band, strict=True):
        out |= {f"survival_{t}m": float(s), f"survival_{t}m_lower": float(lo), f"survival_{t}m_upper": float(hi)}
    return out


def logrank_test(durations, events, groups, entry=None) -> dict:
    """Log-rank test of equal hazards across `groups`, with delayed entry (`aggregated.logrank` on the counts of
    these customers; without `entry` it equals lifelines' `multivariate_logrank_test`)."""
    frame = pd.DataFrame({"entry": 0.0 if entry is None else np.asarray(entry, dtype=float),
                          "exit": np.asarray(durations, dtype=float), "event": np.asarray(events).astype(bool),
                          "group": np.asarray(groups).astype(str)})
    return aggregated.logrank(count_frame(frame, entry="entry", exit="exit", event="event", level="group"))


def cumulative_incidence(durations, causes, entry=None, *, grid: np.ndarray) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of each competing cause on `grid`, with delayed entry
    (`aggregated.cumulative_incidence`). `causes` holds the cause for events and missing for censored customers."""
    frame = pd.DataFrame({"entry": 0.0 if entry is None else np.asarray(entry, dtype=float),
                          "exit": np.asarray(durations, dtype=float),
                          "cause": pd.Series(causes).astype("string").to_numpy(na_value=None)})
    frame["event"] = frame["cause"].notna()
    everyone = count_frame(frame, entry="entry", exit="exit", event="event")
    by_cause = count_frame(frame, entry="entry", exit="exit", event="event", level="cause")
    return aggregated.cumulative_incidence(everyone, by_cause, grid=grid)


def describe(lifetimes: pd.DataFrame, *, groups: dict[str, str], since_entry: list[str], times: list[int],
             grid_months: int, min_group_size: int, sql: Sql | None = None) -> dict[str, pd.DataFrame]:
    """All descriptive tables: KM summaries, curves per grouping, log-rank tests and competing risks.

    The engine `sql` (DuckDB by default; Spark with engine.name spark) counts entries, events and exits per
    grouping, level and month (`aggregated.month_counts`); the statistics come from those counts, and equal
    lifelines' on the customers. Curves are on the tenure scale with delayed entry, except for the groupings in
    `since_entry` (the lifecycle stage at entry *is* a tenure range, so its curves run on the time since entry
    instead). A grouping whose column is missing, or has fewer than two known levels (the Berka ledger records
    one acquisition channel and no education), is skipped with a log line: it has nothing to compare. Levels
    with fewer than `min_group_size` customers get no curve (it would be noise) but count in the log-rank test.
    """
    present = {name: column for name, column in groups.items() if column in lifetimes}
    for name in (name for name in groups if name not in present):
        log.warning("Kaplan-Meier grouping %r skipped: lifetimes have no column %r", name, groups[name])
    counts = count_lifetimes(lifetimes, present, since_entry=since_entry, sql=sql)
    grid = np.arange(0, grid_months + 1)
    overall = counts[counts["grouping"] == OVERALL]
    summaries = [pd.DataFrame([{"group": "all", "level": "all", "time_scale": "tenure",
                                **aggregated.km_summary(overall, times=times)}])]
    curves, tests = {"overall": aggregated.km_on_grid(overall, grid)}, []
    for name, column in present.items():
        mine = counts[counts["grouping"] == name]
        parts = dict(tuple(mine.groupby("level", sort=False)))
        if len(parts) < 2:
            log.warning("Kaplan-Meier grouping %r skipped: column %r has %d known level(s)", name, column,
                        len(parts))
            continue
        rows, curve = [], {"time": grid}
        for level in level_order(lifetimes[column]):
            part = parts.get(level)
            if part is None or part["entries"].sum() < min_group_size:
                continue
            rows.append({"group": name, "level": level, **aggregated.km_summary(part, times=times)})
            curve[level] = aggregated.step(aggregated.kaplan_meier(part), "survival", grid)
        summaries.append(pd.DataFrame(rows).assign(time_scale="since entry" if name in since_entry else "tenure"))
        curves[name] = pd.DataFrame(curve)
        tests.append({"group": name, "levels": len(parts), **aggregated.logrank(mine)})
    cif = aggregated.cumulative_incidence(overall, counts[counts["grouping"] == CAUSE], grid=grid)
    return {"km_summary": pd.concat(summaries, ignore_index=True),
            "logrank": pd.DataFrame(tests, columns=LOGRANK_COLUMNS), "curves": curves, "cif": cif}


def level_order(column: pd.Series) -> list[str]:
    """A grouping's levels as text, in the order tables show them: a category's order, else sorted values."""
    categorical = isinstance(column.dtype, pd.CategoricalDtype)
    values = column.cat.categories if categorical else sorted(column.dropna().unique())
    return [str(v) for v in values]


def count_lifetimes(lifetimes: pd.DataFrame, groups: dict[str, str], *, since_entry: list[str],
                    sql: Sql | None = None) -> pd.DataFrame:
    """Per-month counts (`aggregated.COUNT_COLUMNS`) of the overall curve (grouping OVERALL), of each grouping in
    `groups` (on the time since entry for those in `since_entry`) and of the churn types (grouping CAUSE, whose
    `events` count exits of each type), summed by the engine `sql` over the prepared lifetimes.

    Only the columns counted go to the engine, groupings as text (pandas' spelling, so levels read alike on any
    engine). The event is `churned`; the causes are `churn_type` where `event` is 1.
    """
    table = pd.DataFrame({"entry_tenure": lifetimes["entry_tenure"], "duration": lifetimes["duration"],
                          "residual": lifetimes["residual"], "churned": lifetimes["churned"].astype("int32"),
                          "cause": lifetimes["churn_type"].where(lifetimes["event"] == 1).astype("string")})
    tenure = {"entry": '"entry_tenure"', "exit": '"duration"', "event": '"churned" = 1'}
    countings = {OVERALL: Counting(**tenure), CAUSE: Counting(**{**tenure, "event": "TRUE"}, level='"cause"')}
    for i, (name, column) in enumerate(groups.items()):
        # text typed as text even where every value is missing (Spark cannot infer a type from no values)
        table[f"level_{i}"] = lifetimes[column].astype(str).where(lifetimes[column].notna()).astype("string")
        scale = {"entry": "0", "exit": '"residual"'} if name in since_entry else {}
        countings[name] = Counting(**{**tenure, **scale}, level=f'"level_{i}"')
    engine = sql or DuckDBSql()
    engine.register(TABLE, table)
    try:
        return month_counts(engine, TABLE, countings)
    finally:
        engine.unregister(TABLE)
        if sql is None:
            engine.close()
