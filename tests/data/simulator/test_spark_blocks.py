"""The simulator's blocks as Spark tasks (local[2]) give the local engine's tables and files, byte for byte; a block
that fails in its task is a clear error naming the block. Three blocks (20,500 customers) over a short window, so
jobs hold several blocks and the driver hands on one job's blocks while the next runs."""

import hashlib
import sys

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from conftest import ROOT, SPARK_TEST_CONF, make_project, run

from churnlab.core import paths
from churnlab.data.simulator import simulate
from churnlab.data.simulator.market import MARKET_PARAMS, market_for
from churnlab.data.simulator.spark_blocks import BlockError, blocks_on_spark, check_block, from_payloads, to_payloads
from churnlab.data.simulator.tables import table_schema

SEED, HORIZON = 7, 6


def small_simulation(**overrides) -> dict:
    """The repository's `simulate` params over a year, with few oracle paths (a block takes about a second)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["simulate"]
    return params | {"n_customers": 600, "n_months": 12, "campaign_months": [6], "shock_month": 8, "oracle_paths": 2,
                     "oracle_survival_months": 6, "workers": 1} | overrides


PARAMS = small_simulation(n_customers=20_500)  # blocks of 10,000, 10,000 and 500 customers


def digests(root) -> dict[str, str]:
    files = sorted([*(root / paths.RAW).glob("*.parquet"), *(root / paths.ORACLE).glob("*.parquet")])
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def simulated_files(root, monkeypatch, *, seed: int = SEED, horizon: int = HORIZON, **kwargs) -> tuple[dict, dict]:
    """write_simulation's summary and its files' SHA-256 digests, written in the folder `root`."""
    root.mkdir()
    monkeypatch.chdir(root)
    summary = simulate.write_simulation(seed=seed, horizon=horizon, **kwargs)
    return summary, digests(root)


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return market_for(seed=SEED, horizon=HORIZON, **{k: PARAMS[k] for k in MARKET_PARAMS})


@pytest.fixture(scope="module")
def local_blocks(market) -> list[dict[str, pd.DataFrame]]:
    return list(simulate.simulate(n_customers=PARAMS["n_customers"], seed=SEED, market=market, horizon=HORIZON,
                                  **simulate.block_params(PARAMS)))


def as_arrow(tables: dict[str, pd.DataFrame]) -> dict[str, pa.Table]:
    return {name: pa.Table.from_pandas(frame, schema=table_schema(name), preserve_index=False)
            for name, frame in tables.items()}


def test_a_blocks_tables_survive_their_arrow_payloads(local_blocks):
    """What a task sends is what the driver rebuilds: the same frames, dtypes and nulls, in the same order."""
    block = local_blocks[2]
    rows = to_payloads(2, block)
    assert set(rows["block"]) == {2} and list(rows["table"]) == list(block)  # one slice each at 500 customers
    rebuilt = from_payloads(rows.sample(frac=1, random_state=0))  # rows may come in any order
    assert list(rebuilt) == list(block)
    for name, frame in block.items():
        pd.testing.assert_frame_equal(rebuilt[name], frame, check_exact=True)


def test_a_large_table_travels_in_slices(local_blocks, monkeypatch):
    from churnlab.data.simulator import spark_blocks

    monkeypatch.setattr(spark_blocks, "SLICE_ROWS", 1000)
    block = local_blocks[2]
    rows = to_payloads(2, block)
    assert (rows["table"] == "monthly").sum() == -(-len(block["monthly"]) // 1000) > 1
    pd.testing.assert_frame_equal(from_payloads(rows)["monthly"], block["monthly"], check_exact=True)


def test_blocks_per_task_and_tasks_per_job_must_be_positive(market):
    with pytest.raises(ValueError, match=r"blocks_per_task \(0\)"):
        next(blocks_on_spark(None, n_customers=10, seed=SEED, market=market, blocks_per_task=0))


@pytest.mark.slow
@pytest.mark.parametrize(("blocks_per_task", "tasks_per_job"), [(1, 2), (2, 1), (3, 2)])
def test_spark_tasks_give_the_local_tables_exactly(spark, market, local_blocks, blocks_per_task, tasks_per_job):
    """One, two or all three blocks a task; jobs of one, two or three blocks: the same Arrow tables, in order."""
    on_spark = list(blocks_on_spark(spark, n_customers=PARAMS["n_customers"], seed=SEED, market=market,
                                    blocks_per_task=blocks_per_task, tasks_per_job=tasks_per_job, horizon=HORIZON,
                                    **simulate.block_params(PARAMS)))
    assert len(on_spark) == len(local_blocks) == 3
    for local, remote in zip(local_blocks, on_spark, strict=True):
        assert list(remote) == list(local)
        for name, table in as_arrow(local).items():
            assert as_arrow(remote)[name].equals(table), name


@pytest.mark.slow
def test_the_data_files_are_byte_identical_on_spark(spark, tmp_path, monkeypatch):
    """write_simulation with the local engine (2 processes) and with Spark (2 tasks a job): the same 9 files."""
    local_summary, local = simulated_files(tmp_path / "local", monkeypatch, params=PARAMS | {"workers": 2})
    spark_summary, on_spark = simulated_files(tmp_path / "spark", monkeypatch, params=PARAMS | {"workers": 2},
                                              spark=spark)
    assert len(local) == 9 and on_spark == local
    assert spark_summary == local_summary and spark_summary["rows"]["customers"] > 19_000


@pytest.mark.slow
def test_a_block_failing_in_its_task_is_a_clear_error_naming_it(spark, tmp_path, monkeypatch):
    """oracle_every_months: 0 passes `simulate` (the params schema would stop it) and fails in `simulate_block`."""
    monkeypatch.chdir(tmp_path)
    params = small_simulation(n_customers=600, oracle_every_months=0)
    with pytest.raises(BlockError, match=r"block 0 \(customers C00000001 to C00000600\) failed in its Spark task: "
                                         r"ZeroDivisionError") as failed:
        simulate.write_simulation(seed=SEED, horizon=HORIZON, params=params, spark=spark)
    assert "org.apache" not in str(failed.value) and "py4j" not in str(failed.value).lower()
    assert not list(paths.RAW.glob("*.parquet")) and not list(paths.RAW.glob(".*.tmp"))  # nothing half-written


@pytest.mark.slow
def test_the_data_stage_with_engine_spark_writes_the_local_files(spark, tmp_path, monkeypatch):
    """`python -m churnlab.data` with engine.name spark (its own session on local[2], stopped at the end) writes
    the files write_simulation writes locally."""
    project = make_project(tmp_path / "project", {
        "simulate": {"n_customers": 600, "n_months": 12, "campaign_months": [6], "shock_month": 8, "oracle_paths": 2,
                     "oracle_survival_months": 6},
        "engine": {"name": "spark", "spark": {"master": "local[2]", "conf": SPARK_TEST_CONF}}})
    done = run([sys.executable, "-m", "churnlab.data"], project)
    assert "starting Spark (master local[2])" in done.stderr
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    _, local = simulated_files(tmp_path / "local", monkeypatch, seed=params["base"]["seed"],
                               horizon=params["base"]["horizon_months"], params=params["simulate"])
    assert len(local) == 9 and digests(project) == local


@pytest.mark.slow
def test_a_caller_that_stops_reading_interrupts_the_next_job(spark, market):
    """Two blocks a task, one task a job: after block 0 the driver reads no more, so the job simulating blocks 2
    and 3 (started while block 0 was handed on) is cancelled, not run to its end."""
    blocks = blocks_on_spark(spark, n_customers=40_000, seed=SEED, market=market, blocks_per_task=2,
                             tasks_per_job=1, horizon=HORIZON, **simulate.block_params(PARAMS))
    assert next(blocks)["customers"]["customer_id"].iloc[0] == "C00000001"
    tracker = spark.sparkContext.statusTracker()
    running = []
    while not running:  # the next job starts in the driver's background thread
        running = tracker.getActiveJobsIds()
    blocks.close()
    assert [tracker.getJobInfo(job).status for job in running] == ["FAILED"]


@pytest.mark.slow
@pytest.mark.spark_connect
def test_spark_connect_gives_the_local_tables_and_names_a_failed_block(spark_connect, market, local_blocks):
    """engine.spark.remote: the blocks run as tasks of a separate Spark Connect server (no RDD API there), with the
    same tables; a block failing in its task is the same clear error. pyspark makes one process either classic or
    Connect, so this runs in a pytest process of its own (conftest's `spark_connect`)."""
    assert type(spark_connect).__module__.startswith("pyspark.sql.connect")  # a Connect client, not a local session
    on_connect = list(blocks_on_spark(spark_connect, n_customers=PARAMS["n_customers"], seed=SEED, market=market,
                                      blocks_per_task=2, tasks_per_job=1, horizon=HORIZON,
                                      **simulate.block_params(PARAMS)))
    assert len(on_connect) == len(local_blocks) == 3
    for local, remote in zip(local_blocks, on_connect, strict=True):
        for name, table in as_arrow(local).items():
            assert as_arrow(remote)[name].equals(table), name
    with pytest.raises(BlockError, match=r"block 0 \(customers C00000001 to C00000600\) failed in its Spark task: "
                                         r"ZeroDivisionError"):
        next(blocks_on_spark(spark_connect, n_customers=600, seed=SEED, market=market, horizon=HORIZON,
                             **simulate.block_params(small_simulation(oracle_every_months=0))))


def test_a_block_without_tables_or_with_an_error_row_is_named():
    """What the driver checks in each block's rows (`check_block`): an error row, or no rows at all."""
    error = pd.DataFrame([(1, 0, "", 0, b"ValueError: bad share\nTraceback ...")],
                         columns=["block", "position", "table", "slice", "payload"])
    with pytest.raises(BlockError, match=r"block 1 \(customers C00010001 to C00010500\) failed in its Spark task: "
                                         r"ValueError: bad share"):
        check_block(error, block=1, n_customers=10_500)
    with pytest.raises(BlockError, match=r"block 1 .* its task returned no tables"):
        check_block(error.iloc[:0], block=1, n_customers=10_500)
    check_block(error.assign(table="customers"), block=1, n_customers=10_500)  # a table's rows: no error
