"""The "contract" data source: a bank's own tables in the data-contract layout, as Parquet or CSV files.

`find_tables(folder, overrides)` locates the five files: `<table>.parquet`, `.pq`, `.csv` (or `.csv.gz`) in
the folder, or the path given for that table. `read_contract(files, key=...)` reads each with
`churnlab.core.readers.read_table` (so CSV quirks, encodings, separators and number styles are handled as
documented there), converts every column to the contract's type, validates the set with
`churnlab.contract.schema` on the bank's own ids, and only then pseudonymises `customer_id` in every table with
the same key (so the tables still join). Validating first means a blank id is reported, never hashed into a
customer of its own, and an id that breaks a rule is shown as the user can look it up: masked to its last two
characters, with the file and data row.

- Date columns (month-ends, open_date) are parsed as ISO 8601 or a day-first format, or with the format
  given in `date_formats` (column -> strftime format).
- Text columns are stripped, and a blank text is missing, in Parquet files as in CSV files. A number column
  becomes int64 only when every value is a finite whole number; otherwise it stays float64, and validation
  names the missing values, fractions or infinities (never truncated or cast silently).
- `churn_events` and `campaigns` may be absent (a bank that records no closures or ran no randomised
  campaign): an absent file is an empty table, with a warning. The other three are required.
- Type conversion failures are `DataError`s naming the file, the column and example values; contract
  violations are one `ContractError` listing every problem of every file (see `churnlab.contract.schema`).
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.contract.schema import TABLES, empty_table
from churnlab.contract.validation import validate_all
from churnlab.core.checks import DataError
from churnlab.core.privacy import pseudonymise
from churnlab.core.readers import read_table

log = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
OPTIONAL = ("churn_events", "campaigns")
CATALOG = "table:"  # data.tables: {monthly: "table:bank.monthly"} names a Spark catalog table (engine.name spark)


def catalog_table(location) -> str | None:
    """The catalog table a `data.tables` entry names (`table:bank.monthly` -> bank.monthly), or None for a path."""
    return location[len(CATALOG):] if isinstance(location, str) and location.startswith(CATALOG) else None


def find_tables(folder: Path | str | None, overrides: dict[str, str] | None = None) -> dict[str, Path | str | None]:
    """The file of each contract table: `overrides[table]`, else `<folder>/<table><suffix>`, else None. A catalog
    table (`table:<name>`, for the Spark engine: `churnlab.data.contract_spark`) is kept as that text."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    unknown = sorted(set(overrides) - set(TABLES))
    if unknown:
        raise DataError(f"data.tables names {unknown}, which are not contract tables ({list(TABLES)})")
    files: dict[str, Path | None] = {}
    for table in TABLES:
        if table in overrides:
            files[table] = overrides[table] if catalog_table(overrides[table]) else Path(overrides[table])
            continue
        found = [Path(folder) / f"{table}{s}" for s in SUFFIXES if folder and (Path(folder) / f"{table}{s}").exists()]
        if len(found) > 1:
            raise DataError(f"{folder}: both {found[0].name} and {found[1].name} hold table {table!r}: keep one")
        files[table] = found[0] if found else None
    missing = [t for t, f in files.items() if f is None and t not in OPTIONAL]
    if missing:
        raise DataError(f"{folder}: no file for contract table(s) {missing} (expected <table>.parquet or "
                        f"<table>.csv, or a path in data.tables)")
    return files


def to_contract_types(frame: pd.DataFrame, table: str, *, source: str) -> pd.DataFrame:
    """`frame`'s columns converted to the contract types of `table` (unknown columns are left for validation)."""
    out = frame.copy()
    for field in TABLES[table][0]:
        if field.name not in out:
            continue
        values = out[field.name]
        if field.dtype == "str":
            text = values.map(lambda v: str(v).strip(), na_action="ignore").astype(object)
            out[field.name] = text.where(text.ne(""), np.nan)  # blank is missing, as read_table does for CSV
        elif field.dtype in ("float64", "int64"):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values[numbers.isna() & values.notna()]
            if len(bad):
                raise DataError(f"{source}: column {field.name!r} must hold numbers; found {bad.head(3).tolist()}")
            numbers = numbers.astype("float64")  # also nullable Int64/Float64 Parquet columns
            whole = bool(np.isfinite(numbers).all() and (numbers % 1 == 0).all())
            out[field.name] = numbers.astype("int64") if field.dtype == "int64" and whole else numbers
        elif field.dtype == "bool":
            tokens = values.map(lambda v: str(v).strip().casefold(), na_action="ignore")
            mapping = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
            bad = values[~tokens.isin(list(mapping)) & values.notna()]
            if len(bad) or values.isna().any():
                raise DataError(f"{source}: column {field.name!r} must be true/false or 1/0 in every row; found "
                                f"{(bad.head(3).tolist() or ['missing values'])}")
            out[field.name] = tokens.map(mapping).astype(bool)
    return out


def read_contract(files: dict[str, Path | None], *, key: bytes, date_formats: dict[str, str] | None = None,
                  language: str = "en", **read_options) -> dict[str, pd.DataFrame]:
    """The five contract tables from `files` (see `find_tables`), typed, validated (errors in `language`, the report
    language), then pseudonymised."""
    date_formats = dict(date_formats or {})
    catalog = sorted(t for t, path in files.items() if catalog_table(path))
    if catalog:
        raise DataError(f"data.tables names catalog table(s) for {catalog}, which only the Spark engine reads: set "
                        f"engine.name: spark, or give Parquet or CSV files")
    tables, sources = {}, {}
    for table, path in files.items():
        fields = TABLES[table][0]
        if path is None:
            log.warning("contract: no %s file: an empty table (%s)", table,
                        "no closures recorded" if table == "churn_events" else "no randomised campaigns")
            tables[table] = empty_table(table)
            sources[table] = f"contract {table} (absent)"
            continue
        dates = {f.name: date_formats.get(f.name) for f in fields if f.dtype == "datetime64[ns]"}
        raw = read_table(path, dates=dates, text=[f.name for f in fields if f.dtype == "str"], language=language,
                         **read_options)
        tables[table], sources[table] = to_contract_types(raw, table, source=str(path)), str(path)
        log.info("contract: %s from %s: %d rows", table, path.name, len(raw))
    # on the bank's ids: no id is missing once this passes
    checked = validate_all(tables, sources=sources, language=language)
    for frame in checked.values():
        if "customer_id" in frame and len(frame):
            frame["customer_id"] = pseudonymise(frame["customer_id"].astype(str), key=key).to_numpy()
    return checked
