"""Contract tables read by Spark and converted to the contract's types (`churnlab.data.contract_spark` validates them).

A location is a Parquet file or folder (a folder may be partitioned, `month=2021-01-31/part-0.parquet`), or
`table:<name>`, a Spark catalog table. The conversion is `churnlab.data.contract.to_contract_types` after
`churnlab.core.readers.read_table`, on Spark: text stripped (blank is missing), numbers as doubles (NaN is missing,
as pandas reads it), an int64 column only when every value is a finite whole number, true/false columns from
booleans or the tokens 1/0, true/false, yes/no; the same `DataError` texts. Text dates are ISO 8601, or the format
`data.date_formats` gives (the local reader also tries day-first formats; Spark does not guess). One Spark job per
table counts what the conversion needs; only a table's first bad values reach the driver.
"""

import logging
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from churnlab.contract.schema import TABLES
from churnlab.core.checks import DataError, check_columns
from churnlab.core.engine import nanosecond_columns
from churnlab.core.words import message, messages
from churnlab.data.contract import catalog_table
from churnlab.data.spark_rows import ROW, with_data_rows

log = logging.getLogger(__name__)

SPARK_TYPES = {"str": "string", "datetime64[ns]": "timestamp", "bool": "boolean", "float64": "double",
               "int64": "bigint"}
NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double")
TOKENS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
STRFTIME = {"%Y": "yyyy", "%y": "yy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS",
            "%b": "MMM", "%B": "MMMM"}


def read_location(spark, location, *, language: str = "en"):
    """The table at `location` (a Parquet file or folder, or `table:<name>`) as a Spark DataFrame with data rows
    (`ROW`); nanosecond timestamps (pandas writes them; the engine reads them as numbers) become timestamps, NaN
    becomes missing (as pandas reads it)."""
    name = catalog_table(location)
    if name is not None:
        if not spark.catalog.tableExists(name):
            raise DataError(f"{location}: no such table in the Spark catalog (data.tables names it)")
        frame = spark.table(name)
    else:
        path = Path(location)
        if not path.exists():
            raise DataError(messages("file_not_found", language, file=path))
        frame = spark.read.parquet(str(path))
        kinds = dict(frame.dtypes)
        frame = frame.withColumns({c: F.expr(f"timestamp_micros(`{c}` DIV 1000)")
                                   for c in nanosecond_columns(path) if kinds.get(c) == "bigint"})
    kinds = dict(frame.dtypes)
    frame = frame.withColumns({c: F.when(F.isnan(c), None).otherwise(F.col(c))
                               for c, kind in kinds.items() if kind in ("float", "double")})
    return with_data_rows(frame)


def _date_pattern(fmt: str) -> str:
    """A strftime format as a Spark datetime pattern (letters outside the % codes quoted)."""
    out, i = [], 0
    while i < len(fmt):
        code = fmt[i:i + 2]
        if code in STRFTIME:
            out.append(STRFTIME[code])
            i += 2
        else:
            out.append(f"'{fmt[i]}'" if fmt[i].isalpha() or fmt[i] == "'" else fmt[i])
            i += 1
    return "".join(out)


def _converters(frame, table: str, date_formats: dict) -> dict:
    """Field -> (its conversion to the contract type, the condition of a value it cannot convert or None)."""
    kinds = dict(frame.dtypes)
    out = {}
    for field in TABLES[table][0]:
        name, kind = field.name, kinds.get(field.name)
        if kind is None:
            continue
        c = F.col(name)
        if field.dtype == "str":
            text = F.regexp_replace(c.cast("string"), r"^\s+|\s+$", "")
            out[name] = (F.when(text != "", text), None)
        elif field.dtype in ("float64", "int64"):
            number = c.cast("double") if kind in NUMERIC or kind.startswith("decimal") or kind == "boolean" \
                else F.expr(f"try_cast(`{name}` AS DOUBLE)")
            number = F.when(F.isnan(number), None).otherwise(number)
            out[name] = (number, c.isNotNull() & number.isNull())
        elif field.dtype == "bool":
            if kind == "boolean":
                out[name] = (c, c.isNull())
            else:
                token = F.lower(F.trim(c.cast("string")))
                mapping = F.create_map(*[F.lit(x) for pair in TOKENS.items() for x in pair])
                out[name] = (mapping[token], c.isNull() | ~token.isin(list(TOKENS)))
        elif kind in ("timestamp", "timestamp_ntz", "date"):
            out[name] = (c.cast("timestamp"), None)
        else:
            fmt = date_formats.get(name)
            text = F.trim(c.cast("string"))
            parsed = F.expr(f"try_to_timestamp(trim(CAST(`{name}` AS STRING))"
                            + (f", '{_date_pattern(fmt)}')" if fmt else ")"))
            out[name] = (parsed, text.isNotNull() & parsed.isNull())
    return out


def to_contract_types(frame, table: str, *, source: str, date_formats: dict | None = None, language: str = "en"):
    """`frame` (with `ROW`) in the contract types of `table`, as `churnlab.data.contract.to_contract_types` after
    `read_table`: the same DataErrors for a table without rows, a missing date column, text in a number, date or
    true/false column; a column without any value dropped with a warning. One Spark job counts, a few rows show."""
    fields = {f.name: f for f in TABLES[table][0]}
    columns = [c for c in frame.columns if c != ROW]
    convert = _converters(frame, table, dict(date_formats or {}))
    counts = {"rows": F.count(F.lit(1)), **{f"present:{c}": F.count(F.col(c)) for c in columns},
              **{f"bad:{c}": F.sum(F.when(bad, 1).otherwise(0)) for c, (_, bad) in convert.items() if bad is not None},
              **{f"whole:{c}": F.sum(F.when(value.isNull() | (value % 1 != 0) | F.isnan(value % 1), 1).otherwise(0))
                 for c, (value, _) in convert.items() if fields[c].dtype == "int64"}}
    found = frame.agg(*[v.alias(k) for k, v in counts.items()]).first().asDict()
    if not found["rows"]:
        raise DataError(f"{source}: the file has no data rows (columns: {columns})")
    check_columns(pd.DataFrame(columns=columns), [f for f, x in fields.items() if x.dtype == "datetime64[ns]"],
                  table=source)
    dates_first = sorted(convert, key=lambda c: fields[c].dtype != "datetime64[ns]")  # the local reader's order
    for c in dates_first:
        bad = convert[c][1]
        if bad is None or not found[f"bad:{c}"]:
            continue
        values = [r[0] for r in frame.filter(bad & F.col(c).isNotNull()).orderBy(ROW).select(c).limit(5).collect()]
        kind = fields[c].dtype
        if kind == "datetime64[ns]":
            fmt = (date_formats or {}).get(c) or "ISO8601"
            raise DataError(message("not_dates", language, source=f"{source}: column {c!r}", count=found[f"bad:{c}"],
                                    tried=message("dates_format", language, format=fmt),
                                    examples=list(dict.fromkeys(values))))
        if kind == "bool":
            raise DataError(f"{source}: column {c!r} must be true/false or 1/0 in every row; found "
                            f"{values[:3] or ['missing values']}")
        raise DataError(f"{source}: column {c!r} must hold numbers; found {values[:3]}")
    empty = [c for c in columns if not found[f"present:{c}"]]
    if empty:
        log.warning("%s: dropped column(s) %s: no value in any row", source, empty)
    typed = {c: convert[c][0] for c in convert}
    typed.update({c: typed[c].cast("bigint") for c in typed if fields[c].dtype == "int64" and not found[f"whole:{c}"]})
    return frame.select(*[typed.get(c, F.col(c)).alias(c) for c in columns if c not in empty], ROW)


def empty_frame(spark, table: str):
    """A contract table with no rows (an absent churn_events or campaigns), in the contract's Spark types."""
    from pyspark.sql.types import LongType, StructField, StructType, _parse_datatype_string

    fields = [StructField(f.name, _parse_datatype_string(SPARK_TYPES[f.dtype])) for f in TABLES[table][0]]
    return spark.createDataFrame([], StructType([*fields, StructField(ROW, LongType())]))
