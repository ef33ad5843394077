"""The `data` stage: the tables every later stage reads, from the source that params `data.source` names.

- `simulator` (default): the simulated bank (`churnlab.data.simulator`, params section `simulate`) writes the five
  contract tables to data/raw and its ground truth to data/oracle.
- `contract`: the bank's own five tables in the data-contract layout (`churnlab.data.contract`), from the
  folder `data.path` or the files in `data.tables`; typed, ids pseudonymised, validated. With `engine.name: spark`
  Parquet files and folders, and catalog tables (`data.tables: {monthly: "table:bank.monthly"}`), are read, typed
  and validated by Spark (`churnlab.data.contract_spark`), into the same data/raw files; CSV files are read here.
- `ledger`: a Berka-style transaction ledger in the folder `data.path` (`churnlab.data.ledger`), turned into the
  contract tables (no closures: churn is then defined by dormancy or value run-off in `features.churn`).
- `snapshot`: one row per customer with a churn flag, the file `data.path` (`churnlab.contract.snapshot_file`):
  written as data/raw/snapshot.parquet (pseudonymous id, label, typed features, tenure in months).

Every source writes data/raw/source.json (the source, whether it has a time axis, campaigns and an oracle,
and the MD5 of each input file) and data/oracle/source.json; only the simulator writes oracle tables.
Files of another source left in data/raw or data/oracle by an earlier run are removed after a successful
run, so the later stages never read a stale mix. reports/metrics/data.json summarises the tables, and one MLflow
run `data` records the params, that summary and the two source descriptions. `run()` builds all of that from the
frames read; the simulator alone writes its own tables, streaming them block by block (`write_simulation`).
Run with `python -m churnlab.data`.
"""

import logging
from pathlib import Path

import pandas as pd

from churnlab.contract.snapshot_file import build_snapshot, screen
from churnlab.core import paths
from churnlab.core.checks import DataError
from churnlab.core.engine import engine_params, open_engine
from churnlab.core.io import json_text, remove_temporaries
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.core.privacy import pseudonym_key
from churnlab.core.readers import read_table
from churnlab.core.tracking import file_hash
from churnlab.data.contract import catalog_table, find_tables, read_contract
from churnlab.data.ledger import ledger_tables, read_ledger
from churnlab.data.simulator.simulate import write_simulation

log = logging.getLogger(__name__)
# metrics/data.json: what `dvc exp show` compares (the detail is in reports/metrics/data.json)
HEADLINE = {
    "customers": "rows.customers",
    "annual_churn_rate": "annual_churn_rate",
    "oracle_auc": "oracle.auc",
}

SOURCES = ("simulator", "contract", "snapshot", "ledger")
TABLE_PATHS = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
               "churn_events": paths.CHURN_EVENTS, "campaigns": paths.CAMPAIGNS}
SIMULATED = {*TABLE_PATHS.values(), paths.ORACLE_MONTHLY, paths.ORACLE_CUSTOMERS, paths.ORACLE_EFFECTS,
             paths.ORACLE_SURVIVAL}  # what `write_simulation` streams to data/raw and data/oracle
ORACLE_SOURCE = paths.ORACLE / "source.json"


def check_source(source: str, path) -> None:
    """A clear error for an unknown source, or a user source without `data.path`."""
    if source not in SOURCES:
        raise DataError(f"params.yaml: data.source is {source!r}; it must be one of {SOURCES}")
    if source in ("snapshot", "ledger") and not path:
        what = "file" if source == "snapshot" else "folder"
        raise DataError(f"params.yaml: data.source {source} needs data.path (the {what} to read), "
                        f"e.g. dvc exp run -S data.source={source} -S data.path=...")


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


def snapshot_file(path: str, *, key: bytes, read: dict, rename: dict, language: str = "en",
                  **columns) -> tuple[pd.DataFrame, dict[str, str]]:
    """The snapshot source's rows: the file read (`read` options), renamed, then `build_snapshot(**columns)`;
    and {column: reason} of the columns the personal-data screen dropped (for data.json). Errors in `language`."""
    raw = read_table(path, language=language, **read)
    unknown = [c for c in rename if c not in raw]
    if unknown:
        raise DataError(f"{path}: data.rename names column(s) {unknown} not in the file ({list(raw.columns)})")
    raw = raw.rename(columns=rename)
    rows = build_snapshot(raw, key=key, source=str(path), language=language, **columns)
    named = [columns["id_column"], columns["target"], *([columns["tenure"]] if columns.get("tenure") else []),
             *columns.get("drop", [])]
    return rows, screen(raw.drop(columns=named), keep=columns.get("keep", []))


def on_spark(files: dict) -> bool:
    """Whether Spark reads the contract tables `files` (`find_tables`): when every one is Parquet (a file or a
    folder) or a catalog table. CSV files are read here (Spark has no reader for their quirks, `read_table`), so a
    set naming both CSV files and catalog tables is an error."""
    located = {t: f for t, f in files.items() if f is not None}
    text = sorted(t for t, f in located.items() if not catalog_table(f) and not Path(f).is_dir()
                  and Path(f).suffix.lower() not in (".parquet", ".pq"))
    catalog = sorted(t for t, f in located.items() if catalog_table(f))
    if text and catalog:
        raise DataError(f"data.tables: {catalog} are catalog tables, which Spark reads, and {text} text files, "
                        f"which only the local reader reads: store those as Parquet (or catalog tables)")
    if text:
        log.info("engine.name spark: contract table(s) %s are text files: all five are read locally", text)
    return not text


def source_tables(source: str, path: str, *, key: bytes, read: dict, tables: dict, date_formats: dict,
                  ledger: dict, language: str = "en", spark=None) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """The five contract tables of a ledger or contract source, validated (errors in `language`), and the files
    they came from. With a SparkSession `spark`, Spark reads a contract source's Parquet and catalog tables."""
    if source == "ledger":
        files = sorted(p for p in Path(path).iterdir() if p.is_file())
        return ledger_tables(read_ledger(path), key=key, language=language, **ledger), files
    files = find_tables(path, tables)
    read_files = [f for f in files.values() if f and not catalog_table(f)]
    if spark is not None and on_spark(files):
        from churnlab.data import contract_spark  # pyspark is an optional extra

        return contract_spark.read_contract(spark, files, key=key, date_formats=date_formats,
                                            language=language), read_files
    return read_contract(files, key=key, date_formats=date_formats, language=language, **read), read_files


def contract_on_engine(engine: dict, **options) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """`source_tables` of the contract source on the engine `engine` names (a Spark session is opened for it and
    stopped after, unless the tables are text files, which are read here)."""
    if engine["name"] != "spark" or not on_spark(find_tables(options["path"], options["tables"])):
        return source_tables("contract", **options)
    sql = open_engine(engine)
    try:
        return source_tables("contract", spark=sql.spark, **options)
    finally:
        sql.close()


def describe_source(source: str, summary: dict, *, inputs: dict[str, str]) -> dict:
    """data/raw/source.json: the source, what it offers (`churnlab.contract.source.Source`), each input's MD5."""
    tables = source not in ("simulator", "snapshot")  # a user's contract tables or a ledger
    return {"source": source, "time_axis": source != "snapshot",
            "campaigns": source == "simulator" or (tables and summary["campaign_rows"] > 0),
            "closures": source == "simulator" or (tables and summary["churners"] > 0),
            "oracle": source == "simulator", "inputs": inputs}


def run(source: str, frames: dict[str, pd.DataFrame], *, inputs: dict[str, str],
        simulated: dict | None = None, dropped: dict[str, str] | None = None) -> StageResult:
    """What the data stage writes for `source`: its tables, data/raw/source.json, data/oracle/source.json and
    the data.json metrics.

    `frames` are the five contract tables (contract and ledger sources) or {"snapshot": rows} (snapshot). The
    simulator streams its tables to data/raw and data/oracle itself (`write_simulation`, for 1M customers), so
    for it `frames` is empty and `simulated` is the summary it returned. `inputs` maps each file read to its MD5;
    `dropped` the columns a snapshot's personal-data screen dropped, with the reason (data.json `dropped_columns`).
    """
    if source == "simulator":
        tables, summary = {}, simulated
    elif source == "snapshot":
        tables = {paths.SNAPSHOT_SOURCE: frames["snapshot"]}
        summary = {**snapshot_summary(frames["snapshot"]), "dropped_columns": dict(dropped or {})}
    else:
        tables, summary = {path: frames[name] for name, path in TABLE_PATHS.items()}, table_summary(frames)
    description = describe_source(source, summary, inputs=inputs)
    return StageResult(metrics={"source": source, **summary}, tables=tables,
                       texts={paths.SOURCE: json_text(description),
                              ORACLE_SOURCE: json_text({"source": source, "oracle": description["oracle"]})})


def simulate_bank(*, seed: int, horizon: int, params: dict, engine: dict) -> dict:
    """Write the simulated bank (`write_simulation`): its blocks simulated locally, or as Spark tasks when
    `engine.name` is spark (the session is opened here and stopped after); the same files either way."""
    if engine["name"] != "spark":
        return write_simulation(seed=seed, horizon=horizon, params=params)
    sql = open_engine(engine)
    try:
        return write_simulation(seed=seed, horizon=horizon, params=params, spark=sql.spark)
    finally:
        sql.close()


def main() -> None:
    """DVC stage `data`: read (or simulate) the source that `data.source` names; write data/raw and data/oracle."""
    setup_logging()
    for left in remove_temporaries(paths.RAW, paths.ORACLE, paths.METRICS):
        log.warning("removed %s, left by an interrupted run", left)
    base, params = load_params("base"), load_params("data")
    language = load_params("report")["language"]  # the language of the data's error messages
    source, path = params["source"], params["path"]
    check_source(source, path)
    read = {k: v for k, v in params["read"].items() if v}
    logged = {"base": {k: base[k] for k in ("seed", "horizon_months")}, "data": params,
              "report": {"language": language}}
    frames, files, simulated, dropped = {}, [], None, None
    if source == "simulator":
        logged["simulate"], logged["engine"] = load_params("simulate"), engine_params()
        simulated = simulate_bank(seed=base["seed"], horizon=base["horizon_months"], params=logged["simulate"],
                                  engine=logged["engine"])
    elif source == "snapshot":
        frames["snapshot"], dropped = snapshot_file(
            path, key=pseudonym_key(), read=read, rename=params["rename"], language=language, id_column=params["id"],
            target=params["target"], positive=params["positive"], negative=params["negative"],
            tenure=params["tenure"], tenure_unit=params["tenure_unit"], drop=params["drop"], keep=params["keep"],
            feature_types=params["feature_types"])
        files = [Path(path)]
    else:
        options = {"path": path, "key": pseudonym_key(), "read": read, "tables": params["tables"],
                   "date_formats": params["date_formats"], "ledger": params["ledger"], "language": language}
        if source == "contract":
            logged["engine"] = engine_params()
            frames, files = contract_on_engine(logged["engine"], **options)
        else:
            frames, files = source_tables(source, **options)
    catalog = {t: "catalog table" for t in params["tables"].values() if catalog_table(t)}  # no file to hash
    result = run(source, frames, inputs={**{str(f): file_hash(f) for f in files}, **catalog}, simulated=simulated,
                 dropped=dropped)
    # the tables are DVC outputs, up to gigabytes: MLflow keeps the source descriptions and data.json only
    write_result("data", result, headline=HEADLINE, params=logged, inputs=files, artifacts=list(result.texts))
    remove_stale({*result.files(), *(SIMULATED if source == "simulator" else ())})
    log.info("data source %s: %s", source,
             {k: v for k, v in result.metrics.items() if k in ("customers", "rows", "months")})
