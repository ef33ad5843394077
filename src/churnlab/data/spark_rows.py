"""Data rows of a Spark table, numbered as the local reader numbers them, and the few example rows a message shows.

A data row is 1-based: data row 1 is a file's first row. A Parquet file's rows keep their order
(`_metadata.row_index`); a folder's files follow one another in path order, as pyarrow lists a dataset. Spark
reads a folder's files in parallel and in no fixed order, so each row's number is its file's offset (rows in the
files before it: one count per file reaches the driver) plus its index in the file. A table that is not files (a
view, a JDBC table) is numbered in the order Spark reads it: its partitions in order (one count per partition).
"""

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor, wait

import pandas as pd
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

ROW = "_data_row"  # the 1-based data row, a column of every table the Spark contract source reads


def _offsets(counts: list[tuple]) -> tuple[dict, F.Column]:
    """{key: rows before it} over `counts` (key, rows) in key order, and that mapping as a Spark map literal."""
    offsets, total = {}, 0
    for key, rows in sorted(counts):
        offsets[key], total = total, total + rows
    pairs = [F.lit(x) for item in offsets.items() for x in item]
    return offsets, F.create_map(*pairs) if pairs else F.create_map()


def with_data_rows(frame):
    """`frame` with column `ROW`: each row's 1-based data row (see the module doc)."""
    quiet = logging.getLogger("DataFrameQueryContextLogger")  # pyspark logs every AnalysisException as an ERROR
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        located = frame.select("*", F.col("_metadata.file_path").alias("_file"),
                               F.col("_metadata.row_index").alias("_index")) if frame.inputFiles() else None
    except AnalysisException:  # files behind a view have no metadata column here: numbered by partitions below
        located = None
    finally:
        quiet.setLevel(level)
    if located is not None:
        if len(frame.inputFiles()) == 1:  # one file: no offsets to count
            return located.withColumn(ROW, F.col("_index") + 1).drop("_file", "_index")
        _, offsets = _offsets([tuple(r) for r in located.groupBy("_file").count().collect()])
        return located.withColumn(ROW, offsets[F.col("_file")] + F.col("_index") + 1).drop("_file", "_index")
    tagged = frame.withColumns({"_part": F.spark_partition_id(), "_id": F.monotonically_increasing_id()})
    tagged = tagged.localCheckpoint()  # the ids are fixed once: later jobs must see the same numbers
    _, offsets = _offsets([tuple(r) for r in tagged.groupBy("_part").count().collect()])
    position = F.col("_id") - F.shiftleft(F.col("_part").cast("bigint"), 33)  # the row's index in its partition
    return tagged.withColumn(ROW, offsets[F.col("_part")] + position + 1).drop("_part", "_id")


def plain(frame, column: str):
    """`column` to collect: a timestamp as the session's wall clock (UTC, `churnlab.core.engine`), since pyspark
    turns a collected timestamp into this machine's local time (a month-end could move by hours or a day)."""
    kind = dict(frame.dtypes).get(column)
    return F.col(column).cast("timestamp_ntz").alias(column) if kind == "timestamp" else F.col(column)


def examples(frame, condition, columns: list[str], limit: int = 3) -> list[tuple[int, dict]]:
    """The first `limit` rows where `condition` holds, in data-row order: (data row, {column: value})."""
    rows = frame.where(condition).orderBy(ROW).select(ROW, *[plain(frame, c) for c in columns]).limit(limit).collect()
    return [(int(r[ROW]), {c: shown(r[c]) for c in columns}) for r in rows]


def shown(value):
    """A collected Spark value as pandas holds it, for a message (a timestamp as pd.Timestamp)."""
    return pd.Timestamp(value) if isinstance(value, dt.datetime | dt.date) else value


def at_once(calls: dict) -> dict:
    """{name: call()} with the calls run in threads at once: the contract's Spark jobs are many and small, and run
    together they keep the executors busy while the driver plans the next (pyspark runs jobs from several threads).
    Results in `calls`' order; an error is raised after every call ended, the first in that order."""
    with ThreadPoolExecutor(max_workers=max(len(calls), 1), thread_name_prefix="contract") as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        wait(futures.values())
    return {name: future.result() for name, future in futures.items()}
