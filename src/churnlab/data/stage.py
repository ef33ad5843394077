"""The `data` stage: the tables every later stage reads, from the source that params `data.source` names.

- `simulator` (default): the simulated bank (`churnlab.data.simulator`, params section `simulate`) writes the five
  contract tables to data/raw and its ground truth to data/oracle.
- `contract`: the bank's own five tables in the data-contract layout (`churnlab.data.contract`), from the
  folder `data.path` or the files in `data.tables`; typed, ids pseudonymised, validated.
- `ledger`: a Berka-style transaction ledger in the folder `data.path` (`churnlab.data.ledger`), turned into the
  contract tables (no closures: churn is then defined by dormancy or value run-off in `features.churn`).
- `snapshot`: one row per customer with a churn flag, the file `data.path` (`churnlab.contract.snapshot_file`):
  written as data/raw/snapshot.parquet (pseudonymous id, label, typed features, tenure in months).

Every source writes data/raw/source.json (the source, whether it has a time axis, campaigns and an oracle,
and the MD5 of each input file) and data/oracle/source.json; only the simulator writes oracle tables.
Files of another source left in data/raw or data/oracle by an earlier run are removed after a successful
run, so the later stages never read a stale mix. reports/metrics/data.json summarises the tables.
Run with `python -m churnlab.data`.
"""

import hashlib
import logging
from pathlib import Path

import pandas as pd

from churnlab.contract.snapshot_file import build_snapshot
from churnlab.core import paths
from churnlab.core.checks import DataError
from churnlab.core.io import write_json, write_parquet
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.core.privacy import pseudonym_key
from churnlab.core.readers import read_table
from churnlab.data.contract import find_tables, read_contract
from churnlab.data.ledger import ledger_tables, read_ledger
from churnlab.data.simulator.simulate import write_simulation

log = logging.getLogger(__name__)

SOURCES = ("simulator", "contract", "snapshot", "ledger")
TABLE_PATHS = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
               "churn_events": paths.CHURN_EVENTS, "campaigns": paths.CAMPAIGNS}


def check_source(source: str, path) -> None:
    """A clear error for an unknown source, or a user source without `data.path`."""
    if source not in SOURCES:
        raise DataError(f"params.yaml: data.source is {source!r}; it must be one of {SOURCES}")
    if source in ("snapshot", "ledger") and not path:
        what = "file" if source == "snapshot" else "folder"
        raise DataError(f"params.yaml: data.source {source} needs data.path (the {what} to read), "
                        f"e.g. dvc exp run -S data.source={source} -S data.path=...")


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_summary(tables: dict[str, pd.DataFrame]) -> dict:
    """data.json for contract tables: rows per table, customers, the months covered, churners, campaign rows."""
    months = tables["market"]["month"]
    return {"rows": {name: len(frame) for name, frame in tables.items()}, "customers": len(tables["customers"]),
            "months": int(months.nunique()), "first_month": str(months.min().date()),
            "last_month": str(months.max().date()), "churners": len(tables["churn_events"]),
            "campaign_rows": len(tables["campaigns"])}


def snapshot_summary(rows: pd.DataFrame) -> dict:
    """data.json for a snapshot: customers, labelled rows, churn rate among them, features, tenure."""
    features = [c for c in rows.columns if c not in ("customer_id", "label", "labeled", "tenure_months")]
    return {"rows": {"snapshot": len(rows)}, "customers": len(rows), "labeled": int(rows["labeled"].sum()),
            "churn_rate": float(rows["label"].astype("float64").mean()), "features": features,
            "tenure": "tenure_months" in rows}


def remove_stale(keep: set[Path]) -> None:
    """Delete files in data/raw and data/oracle that this run did not write (an earlier source's)."""
    for folder in (paths.RAW, paths.ORACLE):
        for file in folder.glob("*"):
            if file.is_file() and file not in keep and not file.name.startswith("."):
                log.info("removing %s: written for another data source", file)
                file.unlink()


def snapshot_file(path: str, *, key: bytes, read: dict, rename: dict, **columns) -> pd.DataFrame:
    """The snapshot source's rows: the file read (`read` options), renamed, then `build_snapshot(**columns)`."""
    raw = read_table(path, **read)
    unknown = [c for c in rename if c not in raw]
    if unknown:
        raise DataError(f"{path}: data.rename names column(s) {unknown} not in the file ({list(raw.columns)})")
    return build_snapshot(raw.rename(columns=rename), key=key, source=str(path), **columns)


def source_tables(source: str, path: str, *, key: bytes, read: dict, tables: dict, date_formats: dict,
                  ledger: dict) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """The five contract tables of a ledger or contract source, validated, and the files they came from."""
    if source == "ledger":
        files = sorted(p for p in Path(path).iterdir() if p.is_file())
        return ledger_tables(read_ledger(path), key=key, **ledger), files
    files = find_tables(path, tables)
    return read_contract(files, key=key, date_formats=date_formats, **read), [f for f in files.values() if f]


def main() -> None:
    setup_logging()
    base, params = load_params("base"), load_params("data")
    source, path = params["source"], params["path"]
    check_source(source, path)
    read = {k: v for k, v in params["read"].items() if v}
    inputs: list[Path] = []
    if source == "simulator":
        summary = write_simulation(seed=base["seed"], horizon=base["horizon_months"], params=load_params("simulate"))
        written = {*TABLE_PATHS.values(), paths.ORACLE_MONTHLY, paths.ORACLE_CUSTOMERS, paths.ORACLE_EFFECTS,
                   paths.ORACLE_SURVIVAL}
    elif source == "snapshot":
        rows = snapshot_file(path, key=pseudonym_key(), read=read, rename=params["rename"], id_column=params["id"],
                             target=params["target"], positive=params["positive"], negative=params["negative"],
                             tenure=params["tenure"], tenure_unit=params["tenure_unit"], drop=params["drop"],
                             feature_types=params["feature_types"])
        inputs, written = [Path(path)], {paths.SNAPSHOT_SOURCE}
        write_parquet(rows, paths.SNAPSHOT_SOURCE)
        summary = snapshot_summary(rows)
    else:
        tables, inputs = source_tables(source, path, key=pseudonym_key(), read=read, tables=params["tables"],
                                       date_formats=params["date_formats"], ledger=params["ledger"])
        for name, target in TABLE_PATHS.items():
            write_parquet(tables[name], target)
        written = set(TABLE_PATHS.values())
        summary = table_summary(tables)
    campaigns = source == "simulator" or (source != "snapshot" and summary["campaign_rows"] > 0)
    closures = source == "simulator" or (source != "snapshot" and summary["churners"] > 0)
    description = {"source": source, "time_axis": source != "snapshot", "campaigns": campaigns,
                   "closures": closures, "oracle": source == "simulator", "inputs": {str(p): md5(p) for p in inputs}}
    write_json(description, paths.SOURCE)
    write_json({"source": source, "oracle": source == "simulator"}, paths.ORACLE / "source.json")
    remove_stale(written | {paths.SOURCE, paths.ORACLE / "source.json"})
    write_json({"source": source, **summary}, paths.METRICS / "data.json")
    log.info("data source %s: %s", source, {k: v for k, v in summary.items() if k in ("customers", "rows", "months")})
