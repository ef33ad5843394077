"""The simulator's blocks as Spark tasks (`engine.name: spark`): the same tables as the local engine, byte for byte.

Each block of `BLOCK` customers has its own random stream (seed, block), so where it is simulated does not matter.
A job takes a group of blocks: a DataFrame of block numbers (`spark.range`, `blocks_per_task` blocks a partition)
mapped by `mapInPandas`; each task runs `simulate_block` and returns every table as Arrow IPC bytes (LZ4, slices of
`SLICE_ROWS` rows, so no row grows large), with the block number, the table and the slice. The driver collects one
group at a time (the next group's job runs while it hands the current one on), rebuilds the frames in block
order, and the caller writes them with the local engine's writers. Only the DataFrame API is used (no RDDs), so it
runs on a cluster and through Spark Connect alike; the market path, a few dozen rows, travels with the task.

A block that fails inside its task comes back as an error row, raised on the driver as a `BlockError` naming the
block and the Python error (not a Java stack); the job already running for the next blocks is then interrupted, as
it is when the caller stops reading. The executors need the churnlab package (and numpy, pandas, pyarrow)
importable, as for any Python function Spark runs.
"""

import contextlib
import functools
import logging
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from churnlab.data.simulator.block import BLOCK, simulate_block
from churnlab.data.simulator.tables import table_schema

log = logging.getLogger(__name__)

SLICE_ROWS = 100_000  # rows of one table per Arrow payload: a few MB compressed (the monthly table of a block:
#                       ~10,000 customers x ~40 months, about four slices)
PAYLOAD_SCHEMA = "block long, position int, table string, slice int, payload binary"
ERROR = ""  # the `table` of a failed block's row; its payload is the Python error and traceback, as text


class BlockError(RuntimeError):
    """A block of customers could not be simulated in its Spark task: which block, and the Python error."""


def block_sizes(n_customers: int) -> list[int]:
    """Customers in each block: `BLOCK`, the last one the rest."""
    return [min(BLOCK, n_customers - first) for first in range(0, n_customers, BLOCK)]


def to_payloads(block: int, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per table slice of `block`: its position among the block's tables, name, slice and Arrow IPC bytes
    (the table's Arrow schema, as the Parquet writer uses)."""
    import pyarrow as pa

    options = pa.ipc.IpcWriteOptions(compression="lz4")
    rows = []
    for position, (name, frame) in enumerate(tables.items()):
        table = pa.Table.from_pandas(frame, schema=table_schema(name), preserve_index=False)
        for number, start in enumerate(range(0, max(table.num_rows, 1), SLICE_ROWS)):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
                writer.write_table(table.slice(start, SLICE_ROWS))
            rows.append((block, position, name, number, sink.getvalue().to_pybytes()))
    return pd.DataFrame(rows, columns=["block", "position", "table", "slice", "payload"])


def from_payloads(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One block's tables from its payload rows, in the order `simulate_block` returned them."""
    import pyarrow as pa

    tables = {}
    for (_, name), parts in rows.sort_values(["position", "slice"]).groupby(["position", "table"], sort=False):
        arrow = pa.concat_tables(pa.ipc.open_stream(payload).read_all() for payload in parts["payload"])
        tables[name] = arrow.to_pandas()
    return tables


def simulate_task(batches: Iterator[pd.DataFrame], *, n_customers: int, **kwargs) -> Iterator[pd.DataFrame]:
    """`mapInPandas` body: simulate each block number in `batches` (column `id`); a failure becomes an error row."""
    for batch in batches:
        for block in batch["id"].tolist():
            try:
                payloads = to_payloads(block, simulate_block(block, min(BLOCK, n_customers - block * BLOCK), **kwargs))
            except Exception as err:  # noqa: BLE001 - sent to the driver, which raises it as BlockError
                text = f"{type(err).__name__}: {err}\n{traceback.format_exc()}".encode()
                yield pd.DataFrame([(block, 0, ERROR, 0, text)], columns=["block", "position", "table", "slice",
                                                                           "payload"])
                return
            yield payloads


def collect_blocks(spark, blocks: range, *, blocks_per_task: int, task, tag: str) -> pd.DataFrame:
    """The payload rows of `blocks`, simulated by one Spark job (`blocks_per_task` blocks a task) tagged `tag`.

    `collect`, not `toPandas`: an interrupted Arrow collection prints Spark's Java stack as a warning."""
    tasks = -(-len(blocks) // blocks_per_task)
    with tagged(spark, tag):
        rows = spark.range(blocks.start, blocks.stop, 1, tasks).mapInPandas(task, PAYLOAD_SCHEMA).collect()
    return pd.DataFrame([tuple(row) for row in rows], columns=["block", "position", "table", "slice", "payload"])


@contextlib.contextmanager
def tagged(spark, tag: str) -> Iterator[None]:
    """The jobs this thread starts inside carry `tag` (Spark Connect: the session's tags; classic: the
    SparkContext's job tags, as the session's do not reach a DataFrame's collection there)."""
    if _is_connect(spark):
        spark.addTag(tag)
        try:
            yield
        finally:
            spark.removeTag(tag)
    else:
        spark.sparkContext.addJobTag(tag)
        try:
            yield
        finally:
            spark.sparkContext.removeJobTag(tag)


def interrupt(spark, tag: str) -> None:
    """Cancel the jobs tagged `tag` (Spark Connect: the session's operations; classic: the SparkContext's jobs)."""
    if _is_connect(spark):
        spark.interruptTag(tag)
    else:
        spark.sparkContext.cancelJobsWithTag(tag)


def _is_connect(spark) -> bool:
    return type(spark).__module__.startswith("pyspark.sql.connect")


def blocks_on_spark(spark, *, n_customers: int, seed: int, market: pd.DataFrame, blocks_per_task: int = 1,
                    tasks_per_job: int = 2, **kwargs) -> Iterator[dict[str, pd.DataFrame]]:
    """Yield each block's tables in block order, as `simulate.simulate` does, with the blocks simulated by Spark.

    `kwargs` are `simulate_block`'s params (`simulate.block_params`). A job simulates `blocks_per_task x
    tasks_per_job` blocks; the driver holds at most two jobs' tables (a 10,000-customer block over 48 months is
    tens of MB of Arrow), so `tasks_per_job` is the cluster's cores, and `spark.driver.maxResultSize` must hold a
    job's compressed tables. Raises `BlockError` for a block that failed in its task.
    """
    if blocks_per_task < 1 or tasks_per_job < 1:
        raise ValueError(f"blocks_per_task ({blocks_per_task}) and tasks_per_job ({tasks_per_job}) must be >= 1")
    n_blocks = len(block_sizes(n_customers))
    size = blocks_per_task * tasks_per_job
    groups = [range(first, min(first + size, n_blocks)) for first in range(0, n_blocks, size)]
    task = functools.partial(simulate_task, n_customers=n_customers, seed=seed, market=market, **kwargs)
    tag = f"churnlab-simulate-{uuid.uuid4().hex}"
    collect = functools.partial(collect_blocks, spark, blocks_per_task=blocks_per_task, task=task, tag=tag)
    log.info("simulating %d blocks on Spark, %d a task, %d tasks a job", n_blocks, blocks_per_task, tasks_per_job)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulate-on-spark") as pool:
        pending = pool.submit(collect, groups[0])
        try:
            for group, following in zip(groups, [*groups[1:], None], strict=True):
                rows = pending.result()
                pending = pool.submit(collect, following) if following is not None else None
                for block in group:
                    block_rows = rows[rows["block"] == block]
                    check_block(block_rows, block=block, n_customers=n_customers)
                    yield from_payloads(block_rows)
        finally:
            if pending is not None and not pending.done():  # a block failed, or the caller stopped reading
                interrupt(spark, tag)


def check_block(rows: pd.DataFrame, *, block: int, n_customers: int) -> None:
    """BlockError if `rows` say the block failed in its task, or hold none of its tables: the block, its
    customers, the Python error."""
    failed = rows[rows["table"] == ERROR]
    if len(failed) or rows.empty:
        first = block * BLOCK + 1
        why = bytes(failed["payload"].iloc[0]).decode() if len(failed) else "its task returned no tables"
        raise BlockError(f"simulating block {block} (customers C{first:08d} to "
                         f"C{first + block_sizes(n_customers)[block] - 1:08d}) failed in its Spark task: {why}")
