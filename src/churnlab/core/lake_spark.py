"""Write a Spark DataFrame into the lake as an immutable, versioned, partitioned Parquet folder, then its manifest.

`write_lake` runs one Spark job that writes every partition into a staging folder `<lake>/<name>/_staging-<id>`,
reads back what was written to hash it (`content_hash`), renames the folder to `<lake>/<name>/<version>` (the
version is the whole content hash, so the same data land in the same folder) and only then writes the manifest at
the path DVC tracks (`core.lake`). A failure at any step leaves the previous manifest and its version folder as
they were; the staging folder is removed. Nothing is collected to the driver but one row per partition.
"""

import logging
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from churnlab.core.engine import plain_categories
from churnlab.core.lake import (
    ROW,
    Manifest,
    frame_schema,
    is_local,
    local_folder,
    read_manifest,
    whole_hash,
    write_manifest,
)
from churnlab.core.outputs import StageResult

log = logging.getLogger(__name__)

LOW_BITS = 0xFFFFFFFF


def content_hash(frame, *, partition: str) -> pd.DataFrame:
    """Per value of `partition`: its rows and the sum modulo 2^64 of Spark's `xxhash64` over every other column of
    each row (in the frame's column order), as 16 hex digits. One small aggregate, one row per partition.

    A sum of row hashes does not depend on the row order, the number of files, partitions or workers. It catches
    any changed, added or removed row (unless 64-bit hashes collide: about 2^-64 per change) and a value moved
    between columns of a row; it does not see two identical rows swapped for two other rows with the same hash sum
    (a deliberate collision), nor a change of column order or type that keeps every value's hash (the schema is
    hashed separately, in `core.lake.whole_hash`). A duplicated row changes it; a row duplicated 2^64 times would
    not. The hash is over the values as Spark holds them (xxhash64 of a double's bits, so -0.0 and 0.0 differ).
    """
    from pyspark.sql import functions as F

    columns = [c for c in frame.columns if c != partition]
    row = F.xxhash64(*[F.col(c) for c in columns])
    # summed as two 32-bit halves in decimals: a 64-bit sum would overflow (an error under ANSI SQL)
    sums = frame.groupBy(F.col(partition).cast("string").alias(partition)).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(row.bitwiseAND(F.lit(LOW_BITS)).cast("decimal(38,0)")).alias("low"),
        F.sum(F.shiftright(row, 32).cast("decimal(38,0)")).alias("high"),
    ).collect()
    parts = [{partition: r[partition], "rows": int(r["rows"]),
              "hash": f"{(int(r['high']) * 2**32 + int(r['low'])) % 2**64:016x}"} for r in sums]
    return pd.DataFrame(parts, columns=[partition, "rows", "hash"]).sort_values(partition, ignore_index=True)


def write_lake(frame, *, lake: str, name: str, manifest: Path, schema: pa.Schema, partition: str = "cutoff",
               order: tuple[str, ...] = ()) -> Manifest:
    """Write `frame` (a Spark DataFrame) to `<lake>/<name>/<version>/`, partitioned by `partition`, then the
    manifest at `manifest`; returns the manifest. `schema` is the Arrow schema readers get (`core.lake.read_rows`
    casts to it), recorded in the manifest and hashed with the data; `order` the columns readers sort the rows by
    (`core.lake.Manifest.order`).

    `lake` is a folder of this machine (relative to the project root, or absolute) or a URI Spark writes
    (hdfs://, s3a://, abfss://, file://). The manifest records the version folder as `lake` gives it, so a
    relative lake gives the same manifest bytes in every clone of the project.
    """
    spark = frame.sparkSession
    base = f"{lake.rstrip('/')}/{name}"
    staging = f"{base}/_staging-{uuid.uuid4().hex}"
    fs = _FileSystem(spark, lake)
    try:
        frame.write.partitionBy(partition).parquet(fs.spark_path(staging))
        written = spark.read.schema(frame.schema).parquet(fs.spark_path(staging))
        parts = content_hash(written, partition=partition)
        version = f"{base}/{whole_hash(parts, schema, partition=partition)}"
        if fs.exists(version):  # the same rows were written before: that folder holds them already
            log.info("lake: %s already holds these rows (%d); keeping it", version, int(parts["rows"].sum()))
        else:
            fs.rename(staging, version)
    finally:
        fs.remove(staging)
    result = Manifest(version, partition, schema, parts, tuple(order))
    write_manifest(result, manifest)
    log.info("lake: %d rows in %d partitions at %s; manifest %s", result.rows, len(parts), version, manifest)
    return result


def write_lake_frame(spark, frame: pd.DataFrame, *, lake: str, name: str, manifest: Path,
                     partition: str) -> Manifest:
    """Write a pandas `frame` (an output a stage built on the driver: the segments, the early-warning list, the
    monitored months' scores) to the lake as `write_lake` does, partitioned by `partition`; returns the manifest
    written at `manifest`. A datetime partition column is written as a date (folders `<partition>=YYYY-MM-DD`).
    Readers get the frame's rows in its order (by a row number column, `core.lake.ROW`) and its own pandas dtypes
    back (`core.lake.frame_schema`: categories in their order, plain integers)."""
    from pyspark.sql import functions as F

    numbered = frame.assign(**{ROW: np.arange(len(frame), dtype=np.int64)})  # read back in this order
    rows = spark.createDataFrame(plain_categories(numbered))
    if pd.api.types.is_datetime64_any_dtype(frame[partition]):
        rows = rows.withColumn(partition, F.to_date(partition))
    return write_lake(rows, lake=lake, name=name, manifest=manifest, schema=frame_schema(numbered),
                      partition=partition, order=(ROW,))


def move_to_lake(result: StageResult, spark, *, lake: str, partitions: dict[Path, str]) -> None:
    """Write each table of a stage's `result` whose path is in `partitions` (path -> partition column) to the lake,
    named by the file's stem, with its manifest at that path, and take it out of `result.tables`, so that
    `write_result` writes the stage's other files and leaves the manifest alone."""
    for path, partition in partitions.items():
        frame = result.tables.pop(path)
        write_lake_frame(spark, frame, lake=lake, name=Path(path).stem, manifest=Path(path), partition=partition)


def spark_rows(sql, path: Path, *, cutoffs, view: str):
    """The rows at the tracked `path` whose `cutoff` is among `cutoffs`, as a Spark DataFrame read where they lie
    (`sql` is a `SparkSql`): the ordinary Parquet file itself, or the lake folder its manifest names (a local folder
    resolved as `core.lake.read_rows` resolves it, or the URI), read as the temporary view `view`. The rows come in
    no particular order, and the manifest's counts are not checked here: a caller that needs `read_rows`'s rows
    compares their count with it."""
    from pyspark.sql import functions as F

    manifest = read_manifest(path)
    if manifest is None:
        location = str(path)
    else:
        location = str(local_folder(manifest, path)) if is_local(manifest.location) else manifest.location
    sql.read_parquet(view, location)
    dates = sorted({str(pd.Timestamp(t).date()) for t in cutoffs})
    return sql.spark.table(view).where(F.to_date("cutoff").cast("string").isin(dates))


class _FileSystem:
    """exists / rename / remove on the lake: Python's on a local folder, Hadoop's FileSystem (through the classic
    session's JVM) on a URI."""

    def __init__(self, spark, lake: str):
        self.spark, self.local = spark, is_local(lake)

    def spark_path(self, location: str) -> str:
        return str(Path(location).resolve()) if self.local else location

    def exists(self, location: str) -> bool:
        return Path(location).exists() if self.local else self._fs(location).exists(self._path(location))

    def rename(self, source: str, target: str) -> None:
        if self.local:
            Path(source).rename(target)
        elif not self._fs(source).rename(self._path(source), self._path(target)):
            raise OSError(f"the lake could not rename {source} to {target}")

    def remove(self, location: str) -> None:
        if self.local:
            shutil.rmtree(location, ignore_errors=True)
        elif self._fs(location).exists(self._path(location)):
            self._fs(location).delete(self._path(location), True)

    def _path(self, location: str):
        jvm = getattr(self.spark, "_jvm", None)
        if jvm is None:
            raise NotImplementedError("engine.spark.lake on a URI needs a classic Spark session (master), not Spark "
                                      "Connect (remote): the version folder is renamed with Hadoop's FileSystem")
        return jvm.org.apache.hadoop.fs.Path(location)

    def _fs(self, location: str):
        return self._path(location).getFileSystem(self.spark._jsc.hadoopConfiguration())
