"""The `features` stage: point-in-time snapshots with churn labels, customer lifetimes, indicator catalogue.

A snapshot is one row per customer active at a cutoff month-end t (a monthly row at t, and no churn at or
before t): customer_id, cutoff, label, labeled, then the indicators of `churnlab.contract.indicators`, all computed
from data dated <= t. The label says whether the customer churned within (t, t+H] months by the definition
chosen in params (`churnlab.contract.labels`); H is `base.horizon_months`.

Cutoffs count back from the last month L every `cutoff_every_months` months, so L is always a cutoff (the
scoring snapshot), and start no earlier than the `first_cutoff_month`-th month of data (1-based), so the
12-month windows are full. Cutoffs with t+H <= L are training cutoffs: every label there is known. Later
cutoffs are for scoring; their labels are missing except for customers already seen to churn.

Reads only the contract tables in data/raw (never data/oracle). Run with `python -m churnlab.features`.
"""

import logging
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from churnlab.contract.indicators import FEATURES, catalogue
from churnlab.contract.labels import DEFINITIONS
from churnlab.contract.snapshot_file import snapshot_lifetimes, snapshot_table
from churnlab.contract.snapshots import snapshot_at
from churnlab.contract.tables import Source, connect, month_end, month_range
from churnlab.core import paths
from churnlab.core.io import ParquetChunks, write_csv, write_json, write_parquet
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.features.lifetimes import DEFINITIONS as LIFETIME_DEFINITIONS
from churnlab.features.lifetimes import build_lifetimes
from churnlab.features.screening import screen_indicators
from churnlab.model.churn import KEYS

log = logging.getLogger(__name__)

# DuckDB's own cap, well under the 8 GB peak-RSS budget of the 1M-customer benchmark; beyond it, DuckDB
# spills to a temporary directory instead of failing.
DUCKDB_MEMORY_LIMIT = "3GB"

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


def iter_snapshots(con: duckdb.DuckDBPyConnection, *, cutoffs: list[int], last_month: int,
                   horizon_months: int, **churn) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame]]:
    """Yield (cutoff month index, snapshot, labels of every definition) per cutoff, with a progress bar."""
    for t in tqdm(cutoffs, desc="snapshots", unit="cutoff"):
        yield t, *snapshot_at(con, t, last_month=last_month, horizon_months=horizon_months, **churn)


def build_snapshots(tables: Mapping[str, Source], *, horizon_months: int, first_cutoff_month: int,
                    cutoff_every_months: int, churn: dict) -> pd.DataFrame:
    """All snapshots of the contract `tables` (DataFrames or Parquet paths) as one DataFrame (small data)."""
    con = connect(tables)
    first, last = month_range(con)
    cutoffs = choose_cutoffs(first, last, horizon_months=horizon_months, first_cutoff_month=first_cutoff_month,
                             cutoff_every_months=cutoff_every_months)
    chunks = [s for _, s, _ in iter_snapshots(con, cutoffs=cutoffs, last_month=last, horizon_months=horizon_months,
                                           **churn)]
    return pd.concat(chunks, ignore_index=True)


class LabelTally:
    """Running counts for features.json. Label rates are over the training cutoffs (t+H <= L), where every
    label is known; the unlabeled share is over all snapshots."""

    def __init__(self, *, last_month: int, horizon_months: int):
        self.last_training = last_month - horizon_months
        self.rows = self.training_rows = 0
        self.positives = dict.fromkeys(DEFINITIONS, 0)
        self.unlabeled = dict.fromkeys(DEFINITIONS, 0)

    def add(self, t: int, labels: pd.DataFrame) -> None:
        self.rows += len(labels)
        for definition in DEFINITIONS:
            self.unlabeled[definition] += int(labels[definition].isna().sum())
            if t <= self.last_training:
                self.positives[definition] += int(labels[definition].sum())
        if t <= self.last_training:
            self.training_rows += len(labels)

    def summary(self, definition: str) -> dict:
        share = {d: self.unlabeled[d] / max(self.rows, 1) for d in DEFINITIONS}
        return {
            "label_rate": {d: self.positives[d] / max(self.training_rows, 1) for d in DEFINITIONS},
            "unlabeled_share": share[definition],
            "unlabeled_share_by_definition": share,
            "training_snapshots": self.training_rows,
        }


def snapshot_catalogue(snapshots: pd.DataFrame, *, catalogue_params: dict) -> pd.DataFrame:
    """The indicator catalogue of a snapshot file: its own columns, screened like the simulator's indicators."""
    features = [c for c in snapshots.columns if c not in KEYS]
    known = snapshots[snapshots["labeled"]]
    screening = screen_indicators((known[f] for f in features), known["label"].astype("int8"), total=len(features),
                                  **catalogue_params)
    meaning = pd.DataFrame({"feature": features, "group": "snapshot", "meaning": "column of the snapshot file",
                            "unit": "", "lookback_months": 0})
    return meaning.merge(screening, on="feature")


def snapshot_main(*, as_of: str, tenure_unit: str, catalogue_params: dict) -> None:
    """The features stage on a snapshot source: one cutoff, lifetimes from tenure (if any), the catalogue."""
    rows = pd.read_parquet(paths.SNAPSHOT_SOURCE)
    snapshots = snapshot_table(rows, as_of=as_of)
    write_parquet(snapshots, paths.SNAPSHOTS)
    if "tenure_months" in rows:
        lifetimes = snapshot_lifetimes(rows, as_of=as_of, tenure_unit=tenure_unit)
    else:
        log.warning("snapshot has no tenure column (data.tenure): no lifetimes, so the survival stage will skip")
        lifetimes = pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    write_parquet(lifetimes, paths.LIFETIMES)
    write_csv(snapshot_catalogue(snapshots, catalogue_params=catalogue_params), paths.INDICATORS)
    labeled = snapshots["labeled"]
    metrics = {"source": "snapshot", "snapshots": len(snapshots), "features": len(snapshots.columns) - len(KEYS),
               "cutoffs": 1, "training_cutoffs": 1, "customers": len(snapshots),
               "lifetime_events": int(lifetimes["event"].sum()) if "event" in lifetimes else 0,
               "label_rate": {"snapshot": float(snapshots.loc[labeled, "label"].mean())},
               "unlabeled_share": float(1 - labeled.mean()), "training_snapshots": int(labeled.sum())}
    write_json(metrics, paths.METRICS / "features.json")
    log.info("snapshot: %d rows, %d features, churn rate %.3f; %d lifetimes", len(snapshots), metrics["features"],
             metrics["label_rate"]["snapshot"], len(lifetimes))


def main() -> None:
    """DVC stage `features`: snapshots, lifetimes, the indicator catalogue and reports/metrics/features.json."""
    setup_logging()
    base, params, data = load_params("base"), load_params("features"), load_params("data")
    if data["source"] == "snapshot":
        snapshot_main(as_of=data["as_of"], tenure_unit=data["tenure_unit"], catalogue_params=params["catalogue"])
        return
    horizon, churn = base["horizon_months"], params["churn"]
    sources = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
               "churn_events": paths.CHURN_EVENTS}
    with tempfile.TemporaryDirectory(prefix="churnlab-duckdb-") as spill:
        con = connect(sources, memory_limit=DUCKDB_MEMORY_LIMIT, temp_directory=Path(spill))
        first, last = month_range(con)
        cutoffs = choose_cutoffs(first, last, horizon_months=horizon,
                                 first_cutoff_month=params["first_cutoff_month"],
                                 cutoff_every_months=params["cutoff_every_months"])
        log.info("data %s..%s; %d cutoffs from %s; churn definition %s", month_end(first).date(),
                 month_end(last).date(), len(cutoffs), month_end(cutoffs[0]).date(), churn["definition"])
        tally = LabelTally(last_month=last, horizon_months=horizon)
        writer, ok = None, False  # streamed one cutoff at a time, so 1M customers fit in memory
        try:
            for t, snapshot, labels in iter_snapshots(con, cutoffs=cutoffs, last_month=last,
                                                      horizon_months=horizon, **churn):
                writer = writer or ParquetChunks(paths.SNAPSHOTS, pa.Schema.from_pandas(snapshot, preserve_index=False))
                writer.write(snapshot)
                tally.add(t, labels)
            ok = True
        finally:
            if writer:
                writer.close(ok)
        log.info("wrote %s: %d snapshots; building lifetimes", paths.SNAPSHOTS, tally.rows)
        follow = churn if churn["definition"] in LIFETIME_DEFINITIONS else {**churn, "definition": "closure"}
        if follow is not churn:
            log.warning("lifetimes follow %s, not %r: survival needs a churn month (lifetimes support %s)",
                        "closure", churn["definition"], LIFETIME_DEFINITIONS)
        lifetimes = build_lifetimes(con, last_month=last, **follow)
        con.close()
    write_parquet(lifetimes, paths.LIFETIMES)
    log.info("wrote %s: %d customers, %d churn events", paths.LIFETIMES, len(lifetimes),
             int(lifetimes["event"].sum()))

    last_training = month_end(last - horizon)
    rows = pq.read_table(paths.SNAPSHOTS, columns=["cutoff", "labeled", "label"]).to_pandas()
    keep = (rows["labeled"] & (rows["cutoff"] <= last_training)).to_numpy()
    label = rows.loc[keep, "label"].astype("int8")
    columns = (pq.read_table(paths.SNAPSHOTS, columns=[f]).column(f).to_pandas()[keep].rename(f)
               for f in FEATURES)  # one column at a time keeps the memory of a single feature
    screening = screen_indicators(columns, label, total=len(FEATURES), **params["catalogue"])
    write_csv(catalogue().merge(screening, on="feature"), paths.INDICATORS)

    metrics = {"snapshots": tally.rows, "features": len(FEATURES), "cutoffs": len(cutoffs),
               "training_cutoffs": sum(t <= last - horizon for t in cutoffs),
               "last_training_cutoff": str(last_training.date()), "definition": churn["definition"],
               "horizon_months": horizon, "customers": len(lifetimes),
               "lifetime_events": int(lifetimes["event"].sum()), **tally.summary(churn["definition"])}
    write_json(metrics, paths.METRICS / "features.json")
    log.info("label rates on training cutoffs: %s; unlabeled share %.3f", metrics["label_rate"],
             metrics["unlabeled_share"])
