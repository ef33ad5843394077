"""Exact survival statistics from per-month counts, so that any engine (DuckDB, Spark) can do the counting.

Kaplan-Meier, its Greenwood bands, the log-rank test and the competing-risk incidence depend on the customers
only through a small table: for each level of a grouping and each month t at which someone enters or leaves,

- `entries`: customers whose risk set opens at t (their `entry`: tenure when the data window first saw them, 0
  for customers who opened inside it, or 0 on the time-since-entry scale);
- `events`: customers who churned at t (their exit is an event);
- `censored`: customers whose follow-up ends at t without the event (still customers at the data end, or left
  for a reason that is not the event: right-censoring);
- `at_risk`: customers at risk of the event at t, entry < t <= exit (delayed entry, left truncation): those who
  entered before t and had not left before t. It is the running sum of entries - events - censored over the
  months before t.

Times are months (tenure or time since entry), as doubles; they need not be whole. The table has one row per
(grouping, level, month with an entry or an exit): at most a few hundred months per level, whatever the number
of customers, so an engine sums it over partitions (`count_sql`, one GROUP BY and one window) and the statistics
run on the driver in microseconds. The sums are integers, so they are the same on any engine and any partitioning,
and the statistics are exactly those of the customer-level computation.

The arithmetic follows lifelines 0.30 `KaplanMeierFitter` (with `entry`: log S summed month by month, the
exponential Greenwood band, the median as the first month with S <= 0.5) and `multivariate_logrank_test`
(with delayed risk sets, which lifelines lacks), so the numbers agree with it to rounding (tests check 1e-12).
One difference: lifelines refuses (StatError) a curve whose risk set empties early; here the product goes on.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from churnlab.core.engine import Sql

COUNT_COLUMNS = ["grouping", "level", "time", "entries", "events", "censored", "at_risk"]


@dataclass(frozen=True)
class Counting:
    """What to count for one grouping, as DuckDB-dialect SQL expressions over the lifetimes table.

    `entry` and `exit` are months (entry < exit on every row), `event` is true where the exit is the event and
    false (or NULL) where it is censored, `level` names the customer's group (rows where it is NULL are left out).
    """

    entry: str
    exit: str
    event: str
    level: str = "'all'"


def count_sql(table: str, countings: dict[str, Counting]) -> str:
    """DuckDB SQL for the counts (COUNT_COLUMNS) of every grouping in `countings`, in one query and one scan.

    Each customer gives two moves per grouping, +1 entry at `entry` and one exit (event or censored) at `exit`:
    the table is crossed with a small table of (grouping, side) pairs, read once (a Spark DataFrame made from
    pandas is a plan-embedded local table, which every further scan would copy into the plan again). The moves
    are summed by (grouping, level, month), and `at_risk` is the running sum of entries - exits over earlier months.
    A last column, `invalid`, counts the customers without time at risk (exit <= entry, or either missing).
    """
    items = list(countings.items())

    def pick(field: str) -> str:
        cases = " ".join(f"WHEN {k} THEN {getattr(c, field)}" for k, (_, c) in enumerate(items))
        return f"CASE counting_k {cases} END"

    sides = " UNION ALL ".join(f"SELECT {k} AS counting_k, {side} AS counting_side"
                               for k in range(len(items)) for side in (0, 1))
    names = " ".join(f"WHEN {k} THEN '" + name.replace("'", "''") + "'" for k, (name, _) in enumerate(items))
    return f"""
WITH sides AS ({sides}),
moves AS (
  SELECT CASE counting_k {names} END AS grouping, CAST({pick("level")} AS VARCHAR) AS level,
         CAST(CASE WHEN counting_side = 0 THEN {pick("entry")} ELSE {pick("exit")} END AS DOUBLE) AS time,
         CASE WHEN counting_side = 0 THEN 1 ELSE 0 END AS entries,
         CASE WHEN counting_side = 1 AND {pick("event")} THEN 1 ELSE 0 END AS events,
         CASE WHEN counting_side = 0 THEN 0 WHEN {pick("event")} THEN 0 ELSE 1 END AS censored,
         CASE WHEN counting_side = 0 AND ({pick("entry")} IS NULL OR {pick("exit")} IS NULL
                                          OR {pick("exit")} <= {pick("entry")}) THEN 1 ELSE 0 END AS invalid
  FROM {table} CROSS JOIN sides
),
counts AS (
  SELECT grouping, level, time, CAST(SUM(entries) AS BIGINT) AS entries, CAST(SUM(events) AS BIGINT) AS events,
         CAST(SUM(censored) AS BIGINT) AS censored, CAST(SUM(invalid) AS BIGINT) AS invalid
  FROM moves WHERE level IS NOT NULL GROUP BY grouping, level, time
)
SELECT grouping, level, time, entries, events, censored, invalid,
       CAST(COALESCE(SUM(entries - events - censored) OVER (
         PARTITION BY grouping, level ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT)
         AS at_risk
FROM counts ORDER BY grouping, level, time"""


def month_counts(sql: Sql, table: str, countings: dict[str, Counting]) -> pd.DataFrame:
    """The counts (COUNT_COLUMNS) of `countings` over `table`, summed by the engine `sql` (DuckDB or Spark).

    Raises ValueError if a row of a grouping has a missing entry or exit, or exit <= entry (no time at risk).
    """
    counts = sql.query(count_sql(table, countings))
    for name, bad in counts.groupby("grouping", sort=False)["invalid"].sum().items():
        if bad:
            raise ValueError(f"{table}: {bad} row(s) of grouping {name!r} without time at risk (exit <= entry, or "
                             "a missing entry or exit)")
    return tidy(counts)


def count_frame(lifetimes: pd.DataFrame, *, entry: str | None, exit: str, event: str,
                level: str | None = None, grouping: str = "all") -> pd.DataFrame:
    """The counts of one grouping computed in pandas (the reference the engines are tested against).

    `entry` None means every customer is at risk from month 0; `level` None puts everyone in level 'all'.
    Levels are the column's values as text; missing levels are left out; a missing event flag is censored.
    """
    frame = pd.DataFrame({"level": "all" if level is None else lifetimes[level],
                          "entry": 0.0 if entry is None else lifetimes[entry],
                          "exit": lifetimes[exit], "event": lifetimes[event].fillna(0).astype(bool)})
    frame = frame[frame["level"].notna()].astype({"level": str, "entry": float, "exit": float})
    if ((frame["exit"] <= frame["entry"]) | frame[["entry", "exit"]].isna().any(axis=1)).any():
        raise ValueError(f"lifetimes: row(s) without time at risk (exit <= entry) in grouping {grouping!r}")
    entries = frame.groupby(["level", "entry"]).size().rename("entries").rename_axis(["level", "time"])
    exits = frame.groupby(["level", "exit"])["event"].agg(events="sum", exits="size").rename_axis(["level", "time"])
    counts = pd.concat([entries, exits], axis=1).fillna(0).reset_index().sort_values(["level", "time"])
    counts["censored"] = counts["exits"] - counts["events"]
    moves = counts["entries"] - counts["exits"]
    counts["at_risk"] = moves.groupby(counts["level"]).cumsum() - moves
    return tidy(counts.assign(grouping=grouping))


def tidy(counts: pd.DataFrame) -> pd.DataFrame:
    """Counts in one layout whichever engine made them: COUNT_COLUMNS, int64 counts, sorted, a fresh index."""
    counts = counts[COUNT_COLUMNS].astype({"grouping": str, "level": str, "time": "float64", "entries": "int64",
                                           "events": "int64", "censored": "int64", "at_risk": "int64"})
    return counts.sort_values(["grouping", "level", "time"], ignore_index=True)


def at_risk_at(counts: pd.DataFrame, times) -> np.ndarray:
    """Customers of one level at risk at each of `times` (entry < t <= exit), from its counts (sorted by time)."""
    net = np.cumsum((counts["entries"] - counts["events"] - counts["censored"]).to_numpy())
    pos = np.searchsorted(counts["time"].to_numpy(), np.asarray(times, dtype=float), side="left") - 1
    return np.where(pos >= 0, net[np.clip(pos, 0, None)], 0)


def kaplan_meier(counts: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier survival of one level with its 1 - `alpha` exponential-Greenwood band, at each month of
    `counts` (columns time, survival, lower, upper), as lifelines' survival_function_ and confidence_interval_.

    S(t) = prod over months s <= t of (1 - d_s / n_s), n_s = at_risk; computed as exp of the summed logs, as
    lifelines does. Greenwood: V(t) = sum d / (n (n - d)); band exp(-exp(log(-log S) -/+ z sqrt(V) / log S)),
    1 where S = 1.
    """
    n, d = counts["at_risk"].to_numpy(dtype=float), counts["events"].to_numpy(dtype=float)
    has = d > 0
    step = np.zeros_like(n)
    var = np.zeros_like(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        step[has] = np.log(n[has] - d[has]) - np.log(n[has])
        var[has] = d[has] / (n[has] * (n[has] - d[has]))
    var[np.isinf(var)] = 0.0  # the month the risk set dies out: lifelines' convention
    survival = np.exp(np.cumsum(step))
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(survival)
        spread = z * np.sqrt(np.cumsum(var)) / v
        lower = np.exp(-np.exp(np.log(-v) - spread))
        upper = np.exp(-np.exp(np.log(-v) + spread))
    return pd.DataFrame({"time": counts["time"].to_numpy(), "survival": survival,
                         "lower": np.nan_to_num(lower, nan=1.0), "upper": np.nan_to_num(upper, nan=1.0)})


def step(curve: pd.DataFrame, column: str, times) -> np.ndarray:
    """The right-continuous step function curve[column] (by curve.time) at `times`: 1 before the first month,
    NaN after the last (a curve is known only up to the longest follow-up)."""
    index = curve["time"].to_numpy()
    times = np.asarray(times, dtype=float)
    pos = np.searchsorted(index, times, side="right") - 1
    values = curve[column].to_numpy()[np.clip(pos, 0, None)].astype(float)
    values[pos < 0] = 1.0
    values[times > index[-1]] = np.nan
    return values


def first_below(curve: pd.DataFrame, column: str, q: float = 0.5) -> float:
    """The first month at which curve[column] <= q (the median for q = 0.5); inf if the curve never gets there."""
    values = curve[column].to_numpy()
    if values[-1] > q:
        return np.inf
    return float(curve["time"].to_numpy()[np.searchsorted(-values, -q, side="left")])


def km_summary(counts: pd.DataFrame, *, times: list[int], alpha: float = 0.05) -> dict:
    """Customers, events, the median lifetime in months (inf when S never reaches 0.5) with its 95 % band, and
    S(t) with its band at each of `times` (months), from one level's counts; the keys of kaplan_meier.km_summary."""
    curve = kaplan_meier(counts, alpha=alpha)
    out = {"n": int(counts["entries"].sum()), "events": int(counts["events"].sum()),
           "median_months": first_below(curve, "survival"), "median_lower": first_below(curve, "lower"),
           "median_upper": first_below(curve, "upper")}
    for t, s, lo, hi in zip(times, *(step(curve, c, times) for c in ("survival", "lower", "upper")), strict=True):
        out |= {f"survival_{t}m": float(s), f"survival_{t}m_lower": float(lo), f"survival_{t}m_upper": float(hi)}
    return out


def km_on_grid(counts: pd.DataFrame, grid: np.ndarray) -> pd.DataFrame:
    """One level's KM curve and 95 % band on the month `grid` (columns time, survival, lower, upper)."""
    curve = kaplan_meier(counts)
    return pd.DataFrame({"time": grid, **{c: step(curve, c, grid) for c in ("survival", "lower", "upper")}})


def logrank(counts: pd.DataFrame) -> dict:
    """Log-rank test of equal hazards across the levels of one grouping's counts, with delayed entry.

    At each month t with an event, O - E of level g sums d_g - n_g d / n, and the hypergeometric covariance sums
    d (n - d) / (n - 1) * (n_g / n) (1[g = h] - n_h / n); (O - E)' V^- (O - E) over all but the last level (levels
    in text order) is chi-square with G - 1 degrees of freedom. Without delayed entry it is lifelines'
    `multivariate_logrank_test` (and `logrank_test` for two levels).
    """
    parts = dict(tuple(counts.groupby("level", sort=True)))
    times = np.unique(counts.loc[counts["events"] > 0, "time"])
    at_risk = np.empty((len(parts), len(times)))
    deaths = np.empty_like(at_risk)
    for g, part in enumerate(parts.values()):
        at_risk[g] = at_risk_at(part, times)
        deaths[g] = part.set_index("time")["events"].reindex(times, fill_value=0).to_numpy()
    k = len(parts) - 1
    if k < 1:
        return {"test_statistic": 0.0, "p_value": 1.0, "degrees_of_freedom": 0}
    n, d = at_risk.sum(axis=0), deaths.sum(axis=0)
    observed_minus_expected = (deaths - at_risk * d / n).sum(axis=1)
    scale = np.divide(d * (n - d), n - 1, out=np.zeros_like(n), where=n > 1) / n
    covariance = np.diag((scale * at_risk).sum(axis=1)) - (at_risk / n * scale) @ at_risk.T
    statistic = float(observed_minus_expected[:k] @ np.linalg.pinv(covariance[:k, :k]) @ observed_minus_expected[:k])
    return {"test_statistic": statistic, "p_value": float(stats.chi2.sf(statistic, k)), "degrees_of_freedom": k}


def cumulative_incidence(everyone: pd.DataFrame, causes: pd.DataFrame, *, grid: np.ndarray) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of each competing cause on the month `grid`, with delayed entry.

    `everyone` is the counts of one level holding every customer (for the risk sets); `causes` has one level per
    cause, whose `events` count that cause's exits (its other columns are not read). With the all-cause KM S,
    CIF_c(t) = sum over months s <= t of S(s-) d_c(s) / n(s); ties are exact (lifelines' AalenJohansenFitter
    jitters them instead).
    """
    per_cause = causes.pivot_table(index="time", columns="level", values="events", aggfunc="sum", fill_value=0)
    per_cause = per_cause.loc[per_cause.sum(axis=1) > 0].sort_index()
    times = per_cause.index.to_numpy(dtype=float)
    n = at_risk_at(everyone, times).astype(float)
    d = {c: per_cause[c].to_numpy(dtype=float) for c in sorted(per_cause.columns)}
    total = sum(d.values())
    surv_before = np.concatenate([[1.0], np.cumprod(1 - total / n)[:-1]])
    out = {"time": grid}
    pos = np.searchsorted(times, grid, side="right") - 1
    for c in d:
        cif = np.cumsum(surv_before * d[c] / n)
        out[c] = np.where(pos >= 0, cif[np.clip(pos, 0, None)], 0.0)
    return pd.DataFrame(out)
