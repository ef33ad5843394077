"""The contract source on Spark (`engine.name: spark`): the five tables read, typed and validated by Spark.

The tables come from Parquet files or folders (a folder may be partitioned, `month=2021-01-31/part-0.parquet`)
or from Spark catalog tables, named in params `data.tables` as `table:<name>` (`table:bank.monthly`,
`table:lake.bank.monthly`). Every step is the local source's (`churnlab.data.contract`), done on Spark:

- Reading and type conversion: `churnlab.data.spark_tables`.
- Validation gives the same `ContractError` text as `churnlab.contract.validation` for the same data: the
  column rules are pandera's checks of `churnlab.contract.schema` (`Field.column()`), each translated to a Spark
  condition (`_checks`); the rules between tables are `churnlab.data.relations_spark`; the messages come from the
  validation's own formatters. Counts are Spark aggregations; only the first rows of each broken rule (at most
  five, three for a relation) reach the driver.
- Data rows count from 1 in the order the local reader reads (`churnlab.data.spark_rows`).
- The validated tables are collected and pseudonymised as the local source does it, into the same frames, so the
  data stage writes the same data/raw files.

pandera's PySpark backend (`pandera.pyspark`, 0.35) runs on pyspark 4.3 here, but it reports only that a column
fails a check: no count, row or value, so it cannot give the local messages; and the contract's own checks
(`finite`, `is_month_end`) are pandas functions. Hence the translation.
"""

import functools
import logging
import operator

import pandas as pd
from pyspark.sql import Window
from pyspark.sql import functions as F

from churnlab.contract import validation
from churnlab.contract.schema import TABLES
from churnlab.core.privacy import pseudonymise
from churnlab.core.words import message
from churnlab.data import relations_spark
from churnlab.data.spark_rows import ROW, at_once, examples, plain, shown
from churnlab.data.spark_tables import empty_frame, read_location, to_contract_types

log = logging.getLogger(__name__)


def _checks(field) -> list:
    """(rule name as pandera reports it, Spark condition maker) for each pandera check of a contract field."""
    translations = {
        "greater_than_or_equal_to": lambda c, s: c < F.lit(s["min_value"]),
        "less_than_or_equal_to": lambda c, s: c > F.lit(s["max_value"]),
        "isin": lambda c, s: ~c.isin(list(s["allowed_values"])),
        "is_month_end": lambda c, s: F.last_day(c) != F.to_date(c),
        "finite": lambda c, s: c.isin(float("inf"), float("-inf")),
    }
    out = []
    for check in field.column().checks:
        if check.name not in translations:
            raise NotImplementedError(f"contract check {check.name!r} of {field.name!r} has no Spark translation: "
                                      f"add it to churnlab.data.contract_spark._checks")
        out.append((check.error or check.name, check.name, lambda c, t=translations[check.name],
                    s=dict(check.statistics): t(c, s)))
    return out


# --- one table ---------------------------------------------------------------------------------------------------


def _rules(frame, table: str) -> list[tuple]:
    """(column, rule, condition) for every column rule of `table`, in the order pandera reports them."""
    kinds = dict(frame.dtypes)
    rules = []
    for field in TABLES[table][0]:
        if field.name not in kinds:
            continue
        c = F.col(field.name)
        if not field.nullable:
            rules.append((field.name, "not_nullable", c.isNull()))
        if field.dtype == "int64" and kinds[field.name] == "double":
            rules.append((field.name, "dtype('int64')", c.isNotNull() & ((c % 1 != 0) | F.isnan(c % 1))))
        for rule, kind, condition in _checks(field):
            if kind == "finite" and kinds[field.name] != "double":
                continue  # as `schema._finite`: another type fails its dtype check instead
            rules.append((field.name, rule, c.isNotNull() & condition(c)))
    return rules


def _repeated_keys(counted, keys: list[str], *, count: int, rows: int, language: str, limit: int = 3) -> str:
    """The duplicate-key problem: the first `limit` repeated keys (by first data row), each with its rows."""
    repeated = counted.where(F.col("_repeats") > 1).groupBy(*keys).agg(F.min(ROW).alias("_first"))
    first = repeated.orderBy("_first").limit(limit)
    ranked = (counted.join(F.broadcast(first), keys)
              .withColumn("_rank", F.row_number().over(Window.partitionBy("_first").orderBy(ROW))).where("_rank <= 5"))
    found = {}
    for r in ranked.select("_first", ROW, *[plain(counted, k) for k in keys]).orderBy("_first", ROW).collect():
        found.setdefault(r["_first"], ([], {k: shown(r[k]) for k in keys}))[0].append(int(r[ROW]))
    return validation.duplicate_problem(keys, list(found.values()), count=count, rows=rows, language=language)


def _market_gap(frame, first: int, last: int, count: int, language: str) -> list[str]:
    """The market's month-ends missing between its first and last month (month numbers; `count` present)."""
    if not count or count == last - first + 1:
        return []
    present = frame.select((F.year("month") * 12 + F.month("month") - 1).alias("n"))
    missing = frame.sparkSession.range(first, last + 1).select(F.col("id").alias("n")).subtract(present)
    months = [r[0] for r in missing.orderBy("n").limit(5).collect()]
    return [validation.market_gap_problem(first, last, months, count=last - first + 1 - count, language=language)]


def table_problems(frame, table: str, language: str = "en") -> list[str]:
    """Every way `frame` (typed, with `ROW`) breaks the contract of `table` on its own, in the words and order of
    `churnlab.contract.validation.table_problems`: repeated keys, extra and missing columns, each column's rules,
    then the market's consecutive months. One Spark job counts them all; the rules broken show their first rows."""
    fields, keys = TABLES[table]
    columns = [c for c in frame.columns if c != ROW]
    rules = _rules(frame, table)
    counts, counted = [F.sum(F.when(condition, 1).otherwise(0)) for _, _, condition in rules], frame
    keyed = set(keys) <= set(columns)
    if keyed:
        present = functools.reduce(operator.and_, [F.col(k).isNotNull() for k in keys])
        counted = frame.withColumn("_repeats", F.when(present, F.count(F.lit(1)).over(Window.partitionBy(*keys))))
        counts += [F.sum(F.when(F.col("_repeats") > 1, 1).otherwise(0)),
                   F.count_distinct(F.when(F.col("_repeats") > 1, F.struct(*keys)))]
    market = table == "market" and dict(frame.dtypes).get("month") == "timestamp"
    if market:
        number = F.year("month") * 12 + F.month("month") - 1
        counts += [F.min(number), F.max(number), F.count_distinct(number)]
    found = list(counted.agg(*counts).first()) if counts else []
    problems = []
    if keyed and found[len(rules)]:
        problems.append(_repeated_keys(counted, keys, count=int(found[len(rules) + 1]), rows=int(found[len(rules)]),
                                       language=language))
    extra = sorted(c for c in columns if c not in {f.name for f in fields})
    missing = [f.name for f in fields if f.required and f.name not in columns]
    if extra:
        problems.append(message("extra_columns", language, columns=extra))
    if missing:
        problems.append(message("missing_columns", language, columns=missing))
    for (column, rule, condition), count in zip(rules, found, strict=False):
        if not count:
            continue
        shown_rows = examples(frame, condition, [column], limit=5)
        rows, values = [row for row, _ in shown_rows], [v[column] for _, v in shown_rows]
        if rule.startswith("dtype("):
            problems.append(message("whole_numbers", language, column=column, count=int(count), rows=rows,
                                    values=values))
        else:
            problems.append(validation.rule_problem(column, rule, count=int(count), rows=rows, values=values,
                                                    language=language))
    return problems + (_market_gap(frame, *found[-3:], language) if market else [])


# --- the five tables ---------------------------------------------------------------------------------------------


def all_problems(tables: dict, sources: dict[str, str], language: str = "en"):
    """Every problem of every table and of the relations between them, by table; and the warnings."""
    found = at_once({**{name: functools.partial(table_problems, frame, name, language)
                         for name, frame in tables.items()},
                      "(relations)": functools.partial(relations_spark.relation_problems, tables, sources, language)})
    errors, warnings = found["(relations)"]
    return {name: found[name] + errors[name] for name in tables}, warnings


def to_pandas(frame, table: str, *, key: bytes) -> pd.DataFrame:
    """A validated table in the local source's pandas types and row order, `customer_id` pseudonymised as the local
    source does it (`pseudonymise`, the same key: the tables still join, and equal the local engine's). The table
    is collected whole, as data/raw holds it in one file (`churnlab.core.outputs`); the rows are put in data-row
    order here, which costs no Spark sort."""
    kinds = {f.name: f.dtype for f in TABLES[table][0]}
    rows = frame.toPandas().sort_values(ROW, kind="stable").drop(columns=ROW).reset_index(drop=True)
    rows = rows.astype({c: kinds[c] for c in rows.columns if c in kinds and kinds[c] != "str"})
    if "customer_id" in rows and len(rows):
        rows["customer_id"] = pseudonymise(rows["customer_id"].astype(str), key=key).to_numpy()
    return rows


def read_contract(spark, locations: dict, *, key: bytes, date_formats: dict | None = None,
                  language: str = "en") -> dict[str, pd.DataFrame]:
    """The five contract tables from `locations` (table -> Parquet path or `table:<name>`, None for an absent
    optional table), read, typed and validated on Spark (errors in `language`), then pseudonymised: the same
    frames `churnlab.data.contract.read_contract` returns for the same data."""
    tables = {}  # filled by the threads, so every table cached is freed below, also after an error
    sources = {t: str(location) if location is not None else f"contract {t} (absent)"
               for t, location in locations.items()}

    def typed(table: str, location) -> None:
        if location is None:
            log.warning("contract: no %s file: an empty table (%s)", table,
                        "no closures recorded" if table == "churn_events" else "no randomised campaigns")
            tables[table] = empty_frame(spark, table)
            return
        raw = read_location(spark, location, language=language)
        tables[table] = to_contract_types(raw, table, source=sources[table], date_formats=date_formats,
                                          language=language).cache()

    try:
        at_once({t: functools.partial(typed, t, location) for t, location in locations.items()})
        checked = {name: tables[name] for name in TABLES}
        validation.check_problems(lambda lang: all_problems(checked, sources, lang), language, sources)
        frames = {name: to_pandas(frame, name, key=key) for name, frame in checked.items()}
    finally:
        for frame in tables.values():
            frame.unpersist()
    for name, frame in frames.items():
        log.info("contract: %s from %s: %d rows", name, sources[name], len(frame))
    return frames
