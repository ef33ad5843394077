"""The monitored months: which they are, the champion's scores on each, and each against the training reference.

Monitoring is monthly, not at the quarterly snapshot cutoffs: a bank scores every month and a shock that starts
between two cutoffs should not wait a quarter. The snapshot of every month after the last training cutoff is
computed with the features stage's own point-in-time SQL (`contract.snapshots.snapshot_at` with DuckDB, ~3 s a
month on the default data, scored and counted on the driver: `observe_locally`; on Spark the same SQL's rows stay
there: `monitor.spark_months`), so the monitored rows are exactly what the model would be fed. Months are month
numbers (`contract.tables.month_number`) until they are written, then month-end dates.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from churnlab.contract.indicators import CATEGORICAL, FLAGS, INDICATORS, point_in_time_features
from churnlab.contract.snapshots import snapshot_at
from churnlab.contract.tables import month_end, month_number, month_range
from churnlab.core.engine import as_sql
from churnlab.model.grades import assign_grades, points
from churnlab.model.split import TimeSplit
from churnlab.monitor.stability import SCORE, MonthSample, Reference, compare_month, fit_reference, sample_month

log = logging.getLogger(__name__)

MARKET_SQL = "SELECT min(customer_id) AS customer_id, m AS t FROM monthly WHERE m BETWEEN {lo} AND {hi} GROUP BY m"


@dataclass(frozen=True)
class Window:
    """The data's first and last month, the training cutoffs, and the months to monitor after them."""

    first: int
    last: int
    train: tuple[pd.Timestamp, ...]  # the training cutoffs of the out-of-time split (month-end dates)
    months: tuple[int, ...]  # every `every_months`-th month after the last training cutoff, up to `last`

    @property
    def train_months(self) -> tuple[int, int]:
        """The first and last training cutoff as month numbers."""
        return month_number(self.train[0]), month_number(self.train[-1])


def monitoring_window(con, split: TimeSplit, *, every_months: int) -> Window:
    """The `Window` of the contract tables in `con` after the training cutoffs of `split`."""
    first, last = month_range(con)
    hi = month_number(split.train[-1])
    return Window(first, last, tuple(split.train), tuple(range(hi + 1, last + 1, every_months)))


def score(model, rows: pd.DataFrame) -> np.ndarray:
    """The champion's churn probabilities (only its signature's columns are passed: no id reaches MLflow)."""
    return model.predict(rows[model.metadata.get_input_schema().input_names()])["p_churn"].to_numpy(float)


def grade_shares(p, grading: dict | None) -> dict[str, float]:
    """Share of rows in each risk grade of the `score` stage (its points and boundaries); {} without grades."""
    if not grading:
        return {}
    grades = assign_grades(points(p, **grading["points"]), grading["min_points"], grading["labels"])
    return {str(k): float(v) for k, v in pd.Series(grades).value_counts(normalize=True, sort=False).items()}


def market_history(con, lo: int, hi: int) -> pd.DataFrame:
    """The market indicators at every month lo..hi, by the catalogue's own SQL (one row per month)."""
    as_sql(con).create("market_asof", MARKET_SQL.format(lo=int(lo), hi=int(hi)))
    market = [i.feature for i in INDICATORS if i.group == "market"]
    return point_in_time_features(con, "market_asof")[["t", *market]].sort_values("t", ignore_index=True)


@dataclass(frozen=True)
class Layout:
    """What the reference is profiled by: each indicator's group (customer, banking or market), the numeric
    features (KS-tested), and the market history the months' market values are judged against."""

    groups: dict[str, str]
    numeric: list[str]
    market_history: pd.DataFrame


def reference_layout(con, *, window: Window, market_reference_months: int) -> Layout:
    """The `Layout` of the training reference. The market series cover the training period, and at least the
    `market_reference_months` up to its end: one or two training cutoffs give no spread to judge a month's market
    by."""
    groups = {i.feature: i.group for i in INDICATORS}
    numeric = [f for f in groups if f not in CATEGORICAL and f not in FLAGS and groups[f] != "market"]
    lo, hi = window.train_months
    market_lo = max(min(lo, hi - market_reference_months + 1), window.first)
    return Layout(groups, numeric, market_history(con, market_lo, hi))


def training_reference(reference: pd.DataFrame, layout: Layout, *, bins: int) -> Reference:
    """Bins and counts of the scored training rows `reference` (a pandas frame), on the driver."""
    return fit_reference(reference, groups=layout.groups, market_history=layout.market_history,
                         numeric=layout.numeric, bins=bins)


def observe_locally(con, t: int, *, reference: Reference, model, window: Window, horizon_months: int,
                    churn: dict) -> tuple[MonthSample, pd.DataFrame]:
    """Month t on the driver: its snapshot (`snapshot_at` on `con`'s engine, collected), scored by `model` in pandas,
    its `MonthSample` counted in numpy; and its scored rows (customer_id, p_churn, label, by customer_id)."""
    current, _ = snapshot_at(con, t, last_month=window.last, horizon_months=horizon_months, **churn)
    current[SCORE] = score(model, current)
    return sample_month(reference, current), current[["customer_id", SCORE, "label"]]


def watch_months(observe: Callable[[int], tuple[MonthSample, pd.DataFrame]], reference: Reference, *, window: Window,
                 horizon_months: int, grading: dict | None, alpha: float, null_draws: int, min_psi: float,
                 min_csi: float, rng: np.random.Generator) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """Every monitored month, scored and sampled by `observe` (`observe_locally`, or on Spark
    `spark_months.SparkMonths.observe`), compared with `reference` (`stability.compare_month`).

    Returns the per-month score summaries, the per-feature stability table (with `month`) and the scored rows
    (month, customer_id, p_churn, label under `churn`, and `complete`: every label of the month has arrived).
    """
    summaries, tables, scores = [], [], []
    for t in tqdm(window.months, desc="monitor", unit="month"):
        sample, rows = observe(t)
        summary, table = compare_month(reference, sample, alpha=alpha, draws=null_draws, min_psi=min_psi,
                                       min_csi=min_csi, rng=rng)
        month = month_end(t)
        summaries.append({"month": month, **summary, "grade_shares": grade_shares(rows[SCORE], grading)})
        tables.append(table.assign(month=month))
        scores.append(pd.DataFrame({"month": month, "customer_id": rows["customer_id"], SCORE: rows[SCORE],
                                    "label": rows["label"], "complete": t + horizon_months <= window.last}))
    return summaries, pd.concat(tables, ignore_index=True), pd.concat(scores, ignore_index=True)


def summarise_months(summaries: list[dict], stability: pd.DataFrame, performance: pd.DataFrame) -> pd.DataFrame:
    """One row per month: score PSI and threshold, drifting features, estimated and realised performance."""
    months = pd.DataFrame(summaries)
    drifting = stability[stability["drifting"]]
    by_month = {
        "market_drifting": drifting[drifting["group"] == "market"].groupby("month")["feature"].agg(list),
        "drifting_features": drifting[drifting["group"] != "market"].groupby("month")["feature"].agg(list),
    }
    for column, lists in by_month.items():
        months[column] = [lists.get(m, []) for m in months["month"]]
    return months.merge(performance.drop(columns="rows"), on="month", how="left")
