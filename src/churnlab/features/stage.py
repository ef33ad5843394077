"""The `features` stage: point-in-time snapshots with churn labels, customer lifetimes, indicator catalogue.

A snapshot is one row per customer active at a cutoff month-end t (a monthly row at t, and no churn at or
before t): customer_id, cutoff, label, labeled, then the indicators of `churnlab.contract.indicators`, all computed
from data dated <= t. The label says whether the customer churned within (t, t+H] months by the definition
chosen in params (`churnlab.contract.labels`); H is `base.horizon_months`.

Cutoffs count back from the last month L every `cutoff_every_months` months, so L is always a cutoff (the
scoring snapshot), and start no earlier than the `first_cutoff_month`-th month of data (1-based), so the
12-month windows are full. Cutoffs with t+H <= L are training cutoffs: every label there is known. Later
cutoffs are for scoring; their labels are missing except for customers already seen to churn.

Snapshots are streamed to Parquet one cutoff at a time (`iter_snapshots` into `write_snapshots`), so a million
customers fit in memory; `LabelTally` keeps the label counts on the way. The lifetimes, the indicator catalogue
and the metrics go through `core.outputs.write_result`, which also logs the MLflow run `features`. A snapshot
source (data/raw/source.json says it has no time axis) has one cutoff and takes `snapshot_run` instead.

The SQL runs on the engine params.yaml `engine` names (`churnlab.core.engine`): DuckDB in this process, or Spark
(`local[N]`, a cluster or Spark Connect) running the same SQL text transpiled; both give the same tables.
With `engine.spark.lake` set, Spark writes the snapshots into the lake instead, every cutoff in one job, and
data/processed/snapshots.parquet becomes their manifest (`lake_snapshots`, `churnlab.core.lake`). A snapshot source
(one small file of rows) always writes a file.

Reads only data/raw (never data/oracle). Run with `python -m churnlab.features`.
"""


import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from churnlab.contract.indicators import FEATURES, catalogue
from churnlab.contract.labels import DEFINITIONS
from churnlab.contract.snapshot_file import snapshot_lifetimes, snapshot_table
from churnlab.contract.snapshots import snapshot_at
from churnlab.contract.source import read_source
from churnlab.contract.tables import connect, month_end, month_range
from churnlab.core import paths
from churnlab.core.engine import Sql, engine_params, lake_of, open_engine
from churnlab.core.io import ParquetChunks
from churnlab.core.lake import read_rows
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.features.lake_snapshots import write_lake_snapshots
from churnlab.features.lifetimes import DEFINITIONS as LIFETIME_DEFINITIONS
from churnlab.features.lifetimes import build_lifetimes
from churnlab.features.screening import screen_indicators
from churnlab.model.churn import KEYS

log = logging.getLogger(__name__)
# metrics/features.json: what `dvc exp show` compares (the detail is in reports/metrics/features.json)
HEADLINE = {
    "snapshots": "snapshots",
    "training_snapshots": "training_snapshots",
    "unlabeled_share": "unlabeled_share",
}

# DuckDB's own cap, well under the 8 GB peak-RSS budget of the 1M-customer benchmark; beyond it, DuckDB
# spills to a temporary directory instead of failing.
DUCKDB_MEMORY_LIMIT = "3GB"
CONTRACT_TABLES = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
                   "churn_events": paths.CHURN_EVENTS}  # what the snapshots and lifetimes read (not campaigns)
# The tables are DVC outputs (up to gigabytes, with customer ids): MLflow keeps the catalogue and features.json.
ARTIFACTS = [paths.INDICATORS]


def choose_cutoffs(first_month: int, last_month: int, *, horizon_months: int, first_cutoff_month: int,
                   cutoff_every_months: int) -> list[int]:
    """Cutoff month indices, ascending: L, L-every, ... back to the `first_cutoff_month`-th month.

    Raises ValueError, naming the param and the data's month range, when no cutoff leaves a full horizon
    of H months before the data end (nothing could be labeled).
    """
    if cutoff_every_months < 1 or first_cutoff_month < 1:
        raise ValueError("features.cutoff_every_months and features.first_cutoff_month must be >= 1")
    earliest = first_month + first_cutoff_month - 1
    span = f"data months {month_end(first_month).date()}..{month_end(last_month).date()}"
    n_months = last_month - first_month + 1
    if earliest > last_month:
        raise ValueError(f"features.first_cutoff_month={first_cutoff_month} is past the data: {span} "
                         f"({n_months} months)")
    cutoffs = list(range(last_month, earliest - 1, -cutoff_every_months))[::-1]
    available = last_month - cutoffs[0]
    if horizon_months > available:
        raise ValueError(
            f"base.horizon_months={horizon_months} is longer than the {available} month(s) available after "
            f"the first cutoff {month_end(cutoffs[0]).date()} (features.first_cutoff_month="
            f"{first_cutoff_month}, features.cutoff_every_months={cutoff_every_months}; {span}, "
            f"{n_months} months): no cutoff could be labeled")
    return cutoffs


@dataclass(frozen=True)
class Cutoffs:
    """The snapshot cutoffs (month indices, ascending) of data whose last month index is `last_month` (L)."""

    months: list[int]
    last_month: int
    horizon_months: int  # H

    @property
    def last_training(self) -> int:
        """L - H: the last cutoff whose labels are all known; cutoffs up to it are the training cutoffs."""
        return self.last_month - self.horizon_months


def data_cutoffs(con, *, horizon_months: int, first_cutoff_month: int,
                 cutoff_every_months: int) -> Cutoffs:
    """The cutoffs of the contract tables in `con` (`choose_cutoffs` over their month range)."""
    first, last = month_range(con)
    months = choose_cutoffs(first, last, horizon_months=horizon_months, first_cutoff_month=first_cutoff_month,
                            cutoff_every_months=cutoff_every_months)
    log.info("data %s..%s; %d cutoffs from %s", month_end(first).date(), month_end(last).date(), len(months),
             month_end(months[0]).date())
    return Cutoffs(months, last, horizon_months)


class LabelTally:
    """Running label counts for features.json. Label rates are over the training cutoffs (t <= L - H), where
    every label is known; the unlabeled share is over all snapshots."""

    def __init__(self, *, last_training: int):
        self.last_training = last_training
        self.rows = self.training_rows = 0
        self.positives = dict.fromkeys(DEFINITIONS, 0)
        self.unlabeled = dict.fromkeys(DEFINITIONS, 0)

    def add(self, t: int, labels: pd.DataFrame) -> None:
        """Count the `labels` (one column per definition) of the snapshot at cutoff month index t."""
        self.add_counts(t, rows=len(labels), positives={d: int(labels[d].sum()) for d in DEFINITIONS},
                        unlabeled={d: int(labels[d].isna().sum()) for d in DEFINITIONS})

    def add_counts(self, t: int, *, rows: int, positives: dict[str, int], unlabeled: dict[str, int]) -> None:
        """Count a snapshot at cutoff month index t from its rows, churners and unlabeled rows per definition."""
        self.rows += rows
        for definition in DEFINITIONS:
            self.unlabeled[definition] += unlabeled[definition]
            if t <= self.last_training:
                self.positives[definition] += positives[definition]
        if t <= self.last_training:
            self.training_rows += rows

    def summary(self, definition: str) -> dict:
        share = {d: self.unlabeled[d] / max(self.rows, 1) for d in DEFINITIONS}
        return {
            "label_rate": {d: self.positives[d] / max(self.training_rows, 1) for d in DEFINITIONS},
            "unlabeled_share": share[definition],
            "unlabeled_share_by_definition": share,
            "training_snapshots": self.training_rows,
        }


def iter_snapshots(con, cutoffs: Cutoffs, tally: LabelTally, *,
                   churn: dict) -> Iterator[pd.DataFrame]:
    """Yield the snapshot at each cutoff, ascending (with a progress bar), adding the labels of every churn
    definition to `tally`. `churn` is params.yaml `features.churn`."""
    for t in tqdm(cutoffs.months, desc="snapshots", unit="cutoff"):
        snapshot, labels = snapshot_at(con, t, last_month=cutoffs.last_month, horizon_months=cutoffs.horizon_months,
                                       **churn)
        tally.add(t, labels)
        yield snapshot


def write_snapshots(snapshots: Iterable[pd.DataFrame], target: Path) -> None:
    """Stream `snapshots` into one Parquet file, a row group each, atomically (the old file stays on failure)."""
    writer, ok = None, False
    try:
        for snapshot in snapshots:
            writer = writer or ParquetChunks(target, pa.Schema.from_pandas(snapshot, preserve_index=False))
            writer.write(snapshot)
        ok = True
    finally:
        if writer:
            writer.close(ok)


def training_columns(snapshots: Path, *, last_training: pd.Timestamp,
                     spark=None) -> tuple[Iterator[pd.Series], pd.Series]:
    """The indicators (one Series at a time, to hold a single column in memory) and 0/1 labels of the labeled
    rows at cutoffs up to `last_training`, read from the snapshot Parquet file or its lake (`core.lake.read_rows`;
    `spark` reads a lake that is not a local folder)."""
    rows = read_rows(snapshots, columns=["cutoff", "labeled", "label"], spark=spark)
    keep = (rows["labeled"] & (rows["cutoff"] <= last_training)).to_numpy()
    columns = (read_rows(snapshots, columns=[f], spark=spark)[f][keep] for f in FEATURES)
    return columns, rows.loc[keep, "label"].astype("int8")


def lifetime_churn(churn: dict) -> dict:
    """The churn settings lifetimes follow: `churn` itself, or closure where a lifetime cannot follow its
    definition (value and partial churn need a cutoff month; survival needs a churn month)."""
    if churn["definition"] in LIFETIME_DEFINITIONS:
        return churn
    log.warning("lifetimes follow %s, not %r: survival needs a churn month (lifetimes support %s)", "closure",
                churn["definition"], LIFETIME_DEFINITIONS)
    return {**churn, "definition": "closure"}


def features_metrics(cutoffs: Cutoffs, tally: LabelTally, lifetimes: pd.DataFrame, *, definition: str) -> dict:
    """features.json of a time-axis source: counts, the training cutoffs, label rates and unlabeled shares."""
    return {"snapshots": tally.rows, "features": len(FEATURES), "cutoffs": len(cutoffs.months),
            "training_cutoffs": sum(t <= cutoffs.last_training for t in cutoffs.months),
            "last_training_cutoff": str(month_end(cutoffs.last_training).date()), "definition": definition,
            "horizon_months": cutoffs.horizon_months, "customers": len(lifetimes),
            "lifetime_events": int(lifetimes["event"].sum()), **tally.summary(definition)}


def indicator_catalogue(columns: Iterable[pd.Series], labels: pd.Series, *, catalogue_params: dict) -> pd.DataFrame:
    """The indicators of `churnlab.contract.indicators` (meaning, unit, lookback), each with its screening on the
    training rows (`screening.screen_indicators`; `columns` in FEATURES order, `labels` 0/1 aligned with them)."""
    screening = screen_indicators(columns, labels, total=len(FEATURES), **catalogue_params)
    return catalogue().merge(screening, on="feature")


def snapshot_catalogue(snapshots: pd.DataFrame, *, catalogue_params: dict) -> pd.DataFrame:
    """The indicator catalogue of a snapshot file: its own columns, screened like the simulator's indicators."""
    features = [c for c in snapshots.columns if c not in KEYS]
    known = snapshots[snapshots["labeled"]]
    screening = screen_indicators((known[f] for f in features), known["label"].astype("int8"), total=len(features),
                                  **catalogue_params)
    meaning = pd.DataFrame({"feature": features, "group": "snapshot", "meaning": "column of the snapshot file",
                            "unit": "", "lookback_months": 0})
    return meaning.merge(screening, on="feature")


def snapshot_run(rows: pd.DataFrame, *, as_of: str, tenure_unit: str, catalogue_params: dict) -> StageResult:
    """The features stage on a snapshot source's rows: one cutoff, lifetimes from tenure (if any), the catalogue."""
    snapshots = snapshot_table(rows, as_of=as_of)
    if "tenure_months" in rows:
        lifetimes = snapshot_lifetimes(rows, as_of=as_of, tenure_unit=tenure_unit)
    else:
        log.warning("snapshot has no tenure column (data.tenure): no lifetimes, so the survival stage will skip")
        lifetimes = pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    labeled = snapshots["labeled"]
    metrics = {"source": "snapshot", "snapshots": len(snapshots), "features": len(snapshots.columns) - len(KEYS),
               "cutoffs": 1, "training_cutoffs": 1, "customers": len(snapshots),
               "lifetime_events": int(lifetimes["event"].sum()) if "event" in lifetimes else 0,
               "label_rate": {"snapshot": float(snapshots.loc[labeled, "label"].mean())},
               "unlabeled_share": float(1 - labeled.mean()), "training_snapshots": int(labeled.sum())}
    log.info("snapshot: %d rows, %d features, churn rate %.3f; %d lifetimes", len(snapshots), metrics["features"],
             metrics["label_rate"]["snapshot"], len(lifetimes))
    indicators = snapshot_catalogue(snapshots, catalogue_params=catalogue_params)
    return StageResult(metrics, tables={paths.SNAPSHOTS: snapshots, paths.LIFETIMES: lifetimes,
                                        paths.INDICATORS: indicators})


def snapshot_main(params: dict) -> None:
    """`main` on a snapshot source (one row per customer at `data.as_of`)."""
    data = {k: load_params("data")[k] for k in ("as_of", "tenure_unit")}
    result = snapshot_run(pd.read_parquet(paths.SNAPSHOT_SOURCE), **data, catalogue_params=params["catalogue"])
    write_result("features", result, headline=HEADLINE, params={"data": data, "features": params},
                 inputs=[paths.SNAPSHOT_SOURCE, paths.SOURCE], artifacts=ARTIFACTS)


def run(con: Sql, *, snapshots: Path, horizon_months: int, first_cutoff_month: int, cutoff_every_months: int,
        churn: dict, catalogue: dict, lake: str | None = None) -> StageResult:
    """The stage on a time-axis source: the contract tables are views of `con` (`contract.tables.connect`, on
    either engine). Streams the snapshots to the Parquet file `snapshots` (one cutoff at a time, so they never
    sit in memory whole), then returns the lifetimes, the indicator catalogue and the metrics. The keywords
    are params.yaml `base.horizon_months`, the `features` section and `engine.spark.lake`: when set (`con` is then
    Spark), Spark writes the snapshots into the lake and `snapshots` becomes their manifest (`lake_snapshots`)."""
    cutoffs = data_cutoffs(con, horizon_months=horizon_months, first_cutoff_month=first_cutoff_month,
                           cutoff_every_months=cutoff_every_months)
    tally = LabelTally(last_training=cutoffs.last_training)
    if lake is not None and getattr(con, "name", None) != "spark":
        raise ValueError(f"engine.spark.lake={lake!r} needs engine.name: spark (only Spark writes the lake)")
    if lake is None:
        write_snapshots(iter_snapshots(con, cutoffs, tally, churn=churn), snapshots)
    else:
        _, counts = write_lake_snapshots(con, cutoffs.months, last_month=cutoffs.last_month,
                                         horizon_months=cutoffs.horizon_months, churn=churn, lake=lake,
                                         manifest=snapshots)
        for t, count in sorted(counts.items()):
            tally.add_counts(t, **count)
    log.info("wrote %s: %d snapshots (churn definition %s); building lifetimes", snapshots, tally.rows,
             churn["definition"])
    lifetimes = build_lifetimes(con, last_month=cutoffs.last_month, **lifetime_churn(churn))
    log.info("lifetimes: %d customers, %d churn events", len(lifetimes), int(lifetimes["event"].sum()))
    columns, labels = training_columns(snapshots, last_training=month_end(cutoffs.last_training),
                                       spark=getattr(con, "spark", None))
    indicators = indicator_catalogue(columns, labels, catalogue_params=catalogue)
    metrics = features_metrics(cutoffs, tally, lifetimes, definition=churn["definition"])
    return StageResult(metrics, tables={paths.LIFETIMES: lifetimes, paths.INDICATORS: indicators})


def main() -> None:
    """DVC stage `features`: snapshots, lifetimes, the indicator catalogue and reports/metrics/features.json."""
    setup_logging()
    params = load_params("features")
    if not read_source().time_axis:
        snapshot_main(params)
        return
    horizon, engine = load_params("base")["horizon_months"], engine_params()
    with tempfile.TemporaryDirectory(prefix="churnlab-duckdb-") as spill:
        sql = open_engine(engine, memory_limit=DUCKDB_MEMORY_LIMIT, temp_directory=Path(spill))
        try:
            con = connect(CONTRACT_TABLES, engine=sql)
            result = run(con, snapshots=paths.SNAPSHOTS, horizon_months=horizon, lake=lake_of(engine), **params)
        finally:
            sql.close()
    write_result("features", result, headline=HEADLINE,
                 params={"base": {"horizon_months": horizon}, "features": params, "engine": engine},
                 inputs=[*CONTRACT_TABLES.values(), paths.SOURCE], artifacts=ARTIFACTS)
    log.info("engine %s; label rates on training cutoffs: %s; unlabeled share %.3f", engine["name"],
             result.metrics["label_rate"], result.metrics["unlabeled_share"])
