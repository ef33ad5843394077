"""Large outputs in a lake, and the small manifest DVC tracks in their place; one reader for both kinds of output.

With `engine.name: spark` and `engine.spark.lake` set, a stage writes a large output (the snapshots of `features`,
the segments of `segment`, the early-warning list of `score`, the months' scores of `monitor`) with Spark as
Parquet partitioned by `cutoff` (or `month`) into an immutable folder `<lake>/<name>/<version>/`
(`core.lake_spark`). At the path DVC tracks (data/processed/snapshots.parquet, ...) it writes only a manifest: a
small Parquet table, one row per partition (its value as the folder names it, its rows, its content hash), whose
file metadata hold

- `churnlab.manifest`: the format version ("1"), the marker that this file is a manifest, not the data;
- `churnlab.location`: the version folder (a path, absolute or relative to the project root, or a URI);
- `churnlab.partition`: the partition column (`cutoff`);
- `churnlab.schema`: the Arrow schema readers get (base64 of its IPC bytes; categories as dictionaries);
- `churnlab.rows`, `churnlab.hash`: the total rows and the whole content hash, which is also the version.

The manifest holds no time stamp, so the same data give the same bytes, and `dvc.lock` changes exactly when the
data do: DVC reruns the downstream stages as it would for an ordinary file.

`read_rows` reads a tracked path whichever kind it is: an ordinary Parquet file with pandas, a manifest's local
folder with pyarrow, any other location (hdfs://, s3a://, file://...) with Spark. It checks the rows of every
partition it reads against the manifest and raises LakeError naming the manifest, the location and the problem.
"""

import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from churnlab.core.io import atomic_path
from churnlab.core.paths import find_root

log = logging.getLogger(__name__)

MARKER = "churnlab.manifest"
FORMAT = "1"
WRITERS = {"snapshots": "features", "segments": "segment", "early_warning": "score",  # lake name -> its stage
           "monitor_scores": "monitor"}
# a lake's integer columns are read as pandas' nullable integers, as pandas reads back the Int8 labels it wrote
NULLABLE_INTEGERS = {pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
                     pa.int64(): pd.Int64Dtype()}


class LakeError(RuntimeError):
    """A manifest and its lake folder disagree (or the folder is gone): which manifest, where, and what is wrong."""


@dataclass(frozen=True)
class Manifest:
    """What a manifest says of one version of a partitioned output (see the module doc).

    `parts` has one row per partition: `<partition>` (the value as the folder names it, e.g. "2021-06-30"),
    `rows` and `hash` (16 hex digits, `core.lake_spark.content_hash`). `order` names the columns the rows are
    sorted by when read (Spark's files come back in any order, so the order a reader gets must be recorded):
    the snapshots' (cutoff, customer_id), as the local engine writes them, or a pandas output's row number `ROW`.
    """

    location: str
    partition: str
    schema: pa.Schema
    parts: pd.DataFrame
    order: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return int(self.parts["rows"].sum())

    @property
    def hash(self) -> str:
        return whole_hash(self.parts, self.schema, partition=self.partition)


DTYPE = b"churnlab.dtype"  # field metadata: the pandas dtype of a column written from pandas (`frame_schema`)
ORDER = "churnlab.order"  # manifest metadata: the columns the rows are sorted by on reading (`Manifest.order`)
ROW = "_churnlab_row"  # a pandas output's row number in the lake: read back in the frame's order, then dropped


def repair(location: str) -> str:
    """What to run when the lake version folder `location` (<lake>/<name>/<version>) no longer matches its manifest:
    a forced rerun of the stage that writes it."""
    stage = WRITERS.get(PurePosixPath(location).parent.name, "<the stage that writes it>")
    return f"the lake was changed outside churnlab; run dvc repro -f {stage}"


def frame_schema(frame: pd.DataFrame) -> pa.Schema:
    """The Arrow schema to record for a pandas `frame` written to the lake: its own types, and in each field's
    metadata its pandas dtype (`churnlab.dtype`: "int64", "Int8", "datetime64[us]", or for a category its
    categories in order and whether they are ordered, as JSON), which `read_rows` restores: Parquet written by
    Spark keeps neither a category's order nor whether an integer column may hold nulls."""
    schema = pa.Schema.from_pandas(frame, preserve_index=False).remove_metadata()
    fields = []
    for f in schema:
        dtype = frame[f.name].dtype
        text = (json.dumps({"categories": dtype.categories.tolist(), "ordered": bool(dtype.ordered)})
                if isinstance(dtype, pd.CategoricalDtype) else str(dtype))
        fields.append(f.with_metadata({DTYPE: text.encode()}))
    return pa.schema(fields)


def recorded_dtypes(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """`frame` with each column whose field in `schema` records a pandas dtype (`frame_schema`) cast to it (a
    category's categories set in the recorded order: pandas' `astype` keeps the order an unordered one has), and
    the categories of any other category column sorted, as pandas' `astype("category")` sorts those of the local
    engine's snapshots (Arrow gives them in the order the values come in)."""
    columns = {}
    for name in frame.columns:
        text = (schema.field(name).metadata or {}).get(DTYPE)
        if text is None:
            if isinstance(frame[name].dtype, pd.CategoricalDtype):
                columns[name] = frame[name].cat.reorder_categories(sorted(frame[name].cat.categories))
            continue
        text = text.decode()
        if text.startswith("{"):
            spec = json.loads(text)
            columns[name] = frame[name].astype("category").cat.set_categories(spec["categories"],
                                                                              ordered=spec["ordered"])
        else:
            columns[name] = frame[name].astype(text)
    return frame.assign(**columns) if columns else frame


def whole_hash(parts: pd.DataFrame, schema: pa.Schema, *, partition: str) -> str:
    """The hash of a whole version (32 hex digits): sha256 over the schema and each partition's value, rows and
    hash, in the partitions' order; it names the version folder."""
    import hashlib

    lines = [schema.to_string(show_schema_metadata=False)]
    lines += [f"{v}\t{r}\t{h}" for v, r, h in sorted(zip(parts[partition], parts["rows"], parts["hash"],
                                                          strict=True))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


def manifest_table(manifest: Manifest) -> pa.Table:
    """The manifest as the Parquet table written at the tracked path (partitions in ascending order)."""
    parts = manifest.parts.sort_values(manifest.partition, ignore_index=True)
    table = pa.table({manifest.partition: pa.array(parts[manifest.partition].astype(str), pa.string()),
                      "rows": pa.array(parts["rows"], pa.int64()), "hash": pa.array(parts["hash"], pa.string())})
    metadata = {MARKER: FORMAT, "churnlab.location": manifest.location, "churnlab.partition": manifest.partition,
                "churnlab.schema": base64.b64encode(manifest.schema.serialize().to_pybytes()).decode(),
                "churnlab.columns": json.dumps([f"{f.name}: {f.type}" for f in manifest.schema]),
                "churnlab.rows": str(manifest.rows), "churnlab.hash": manifest.hash,
                **({ORDER: json.dumps(list(manifest.order))} if manifest.order else {})}
    return table.replace_schema_metadata(metadata)


def write_manifest(manifest: Manifest, target: Path) -> None:
    """Write the manifest to `target` atomically (the previous manifest stays if this fails)."""
    table = manifest_table(manifest)
    with atomic_path(Path(target)) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at `path`, or None when `path` is an ordinary Parquet file (read from its footer only)."""
    metadata = pq.read_schema(path).metadata or {}
    if MARKER.encode() not in metadata:
        return None
    meta = {k.decode(): v.decode() for k, v in metadata.items()}
    if meta[MARKER] != FORMAT:
        raise LakeError(f"{path}: a churnlab manifest of format {meta[MARKER]}, which this churnlab cannot read "
                        f"(it reads format {FORMAT}); {repair(meta['churnlab.location'])}")
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(meta["churnlab.schema"])))
    parts = pq.read_table(path).to_pandas()
    manifest = Manifest(meta["churnlab.location"], meta["churnlab.partition"], schema, parts,
                        tuple(json.loads(meta.get(ORDER, "[]"))))
    if manifest.hash != meta["churnlab.hash"]:
        raise LakeError(f"{path}: the manifest's partitions do not add up to its hash {meta['churnlab.hash']}: "
                        f"the manifest was edited; {repair(manifest.location)}")
    return manifest


def is_local(location: str) -> bool:
    """Whether `location` is a path of this machine that pyarrow reads (no URI scheme; file:// goes to Spark)."""
    scheme = urlparse(location).scheme
    return scheme == "" or (len(scheme) == 1 and Path(location).is_absolute())  # C:\... on Windows


def local_folder(manifest: Manifest, tracked: Path) -> Path:
    """The version folder of a local lake; a relative location is relative to the project root of `tracked`."""
    folder = Path(manifest.location)
    return folder if folder.is_absolute() else find_root(Path(tracked).resolve().parent) / folder


def read_schema(path: Path) -> pa.Schema:
    """The Arrow schema of the rows at the tracked `path`: the file's own, or the one its manifest records."""
    manifest = read_manifest(path)
    if manifest is None:
        return pq.read_schema(path)
    return pa.schema([f for f in manifest.schema if f.name != ROW])


def read_rows(path: Path, *, columns: list[str] | None = None, cutoffs=None, spark=None) -> pd.DataFrame:
    """The rows at the tracked `path` (an ordinary Parquet file or a manifest), only `columns` (all when None)
    and only the rows whose `cutoff` is among `cutoffs` (all when None), in the manifest's `order`, as pandas with
    the recorded types: the pandas dtypes `frame_schema` recorded, else integers as pandas' nullable integers (the
    snapshots' labels are Int8, as in the file the local engine writes) and categories sorted.

    A local lake folder is read with pyarrow; any other location with Spark (`spark`, or a session from params.yaml
    `engine`, which must then be spark). Raises LakeError when a partition's rows differ from the manifest.
    """
    manifest = read_manifest(path)
    if manifest is None:
        filters = None if cutoffs is None else [("cutoff", "in", [pd.Timestamp(t) for t in cutoffs])]
        return pd.read_parquet(path, columns=columns, filters=filters)
    wanted = manifest.parts
    if cutoffs is not None:
        asked = {pd.Timestamp(t) for t in cutoffs}
        wanted = wanted[[pd.Timestamp(v) in asked for v in wanted[manifest.partition]]]
    values = list(wanted[manifest.partition])
    columns = [c for c in (columns or manifest.schema.names) if c != ROW]
    read = columns + [c for c in manifest.order if c not in columns]
    if is_local(manifest.location):
        table, counts = _read_local(manifest, path, read, values)
    else:
        table, counts = _read_spark(manifest, read, values, spark)
    check_counts(manifest, dict(zip(values, wanted["rows"], strict=True)), counts, tracked=path)
    if manifest.order:
        table = table.sort_by([(c, "ascending") for c in manifest.order]).select(columns)
    frame = as_recorded(table, manifest.schema).to_pandas(types_mapper=NULLABLE_INTEGERS.get)
    return recorded_dtypes(frame, manifest.schema)


def check_counts(manifest: Manifest, expected: dict[str, int], found: dict[str, int], *, tracked: Path) -> None:
    """LakeError unless every partition of `expected` holds exactly its recorded rows in `found`."""
    wrong = [f"{manifest.partition}={v}: {found.get(v, 0)} rows, the manifest says {n}"
             for v, n in expected.items() if found.get(v, 0) != n]
    if wrong:
        listed = "; ".join(wrong[:5]) + ("; ..." if len(wrong) > 5 else "")
        raise LakeError(f"{tracked}: the lake folder {manifest.location} does not hold the rows its manifest "
                        f"records ({listed}): {repair(manifest.location)}")


def as_recorded(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with each column cast to the type `schema` records (categories back to dictionaries, the partition
    value from its folder text back to a timestamp)."""
    fields = [schema.field(name) for name in table.column_names]
    return pa.Table.from_arrays([table[f.name].cast(f.type) for f in fields], schema=pa.schema(fields))


def _read_local(manifest: Manifest, tracked: Path, columns: list[str],
                values: list[str]) -> tuple[pa.Table, dict[str, int]]:
    folder = local_folder(manifest, tracked)
    if not folder.is_dir():
        raise LakeError(f"{tracked}: the lake folder {folder} of this manifest is missing: {repair(manifest.location)}")
    key = manifest.partition
    dataset = ds.dataset(folder, format="parquet",
                         partitioning=ds.partitioning(pa.schema([(key, pa.string())]), flavor="hive"))
    chosen = ds.field(key).isin(pa.array(values, pa.string()))
    counts: dict[str, int] = {}
    for fragment in dataset.get_fragments(filter=chosen):
        value = ds.get_partition_keys(fragment.partition_expression)[key]
        counts[value] = counts.get(value, 0) + fragment.count_rows()
    table = dataset.to_table(columns=columns, filter=chosen)
    return table, counts


def _read_spark(manifest: Manifest, columns: list[str], values: list[str], spark) -> tuple[pa.Table, dict[str, int]]:
    from pyspark.sql import functions as F

    if spark is None:
        spark = _params_session(manifest)
    key = manifest.partition
    try:
        rows = spark.read.parquet(manifest.location)
    except Exception as err:  # noqa: BLE001 - py4j and Connect raise their own classes
        raise LakeError(f"the lake folder {manifest.location} cannot be read ({str(err).splitlines()[0]}): "
                        f"{repair(manifest.location)}") from None
    rows = rows.withColumn(key, F.col(key).cast("string")).where(F.col(key).isin(values))
    counts = {r[key]: int(r["count"]) for r in rows.groupBy(key).count().collect()}
    frame = rows.select(*columns).toPandas()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table, counts


def _params_session(manifest: Manifest):
    from churnlab.core.engine import engine_params, session_settings, spark_session

    engine = engine_params()
    if engine["name"] != "spark":
        raise LakeError(f"the rows are in the lake at {manifest.location}, which only Spark reads: set "
                        "engine.name: spark")
    return spark_session(**session_settings(engine["spark"]))
