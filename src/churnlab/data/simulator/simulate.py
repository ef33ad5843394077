"""Simulate a retail bank month by month: the contract tables plus separate ground-truth (oracle) files.

Customers are independent given the market, so they are simulated in blocks of `BLOCK` customers, each with
its own random stream derived from (seed, block): the output does not depend on memory or chunking, and the
same seed gives byte-identical tables. The market path is drawn once from (seed, "market"). The oracle's
Monte Carlo uses streams of its own, so the observed tables do not depend on `oracle_paths`. One block's month
loop is `simulator.block`; the tables' frames and Arrow schemas are `simulator.tables`.

Outputs (see churnlab.core.paths), written by `write_simulation` for the `data` stage:
data/raw/{customers,monthly,market,churn_events,campaigns}.parquet, and
data/oracle/{monthly_truth,customer_truth,campaign_effects,survival_truth}.parquet, which no feature may read.
"""

import functools
import logging
import multiprocessing
from collections.abc import Iterator

import pandas as pd

from churnlab.data.simulator.block import BLOCK, simulate_block
from churnlab.data.simulator.market import MARKET_PARAMS, market_for
from churnlab.data.simulator.summary import summarise, tally
from churnlab.data.simulator.tables import table_schema

log = logging.getLogger(__name__)


def simulate(*, n_customers: int, seed: int, market: pd.DataFrame, workers: int = 1, spark=None,
             **kwargs) -> Iterator[dict[str, pd.DataFrame]]:
    """Yield the tables block by block (BLOCK customers each, in order), so callers can write them in chunks.

    Blocks are independent, so `workers` processes simulate them in parallel; each block has its own random
    stream, so the result does not depend on `workers`. Given a SparkSession `spark`, the blocks are Spark tasks
    instead, `workers` of them a job (`simulator.spark_blocks`), with the same result.
    """
    if spark is not None:
        from churnlab.data.simulator.spark_blocks import blocks_on_spark

        yield from blocks_on_spark(spark, n_customers=n_customers, seed=seed, market=market, tasks_per_job=workers,
                                   **kwargs)
        return
    blocks = [(block, min(BLOCK, n_customers - first)) for block, first in enumerate(range(0, n_customers, BLOCK))]
    run = functools.partial(_run_block, seed=seed, market=market, **kwargs)
    if workers <= 1 or len(blocks) == 1:
        yield from map(run, blocks)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(run, blocks)


def _run_block(block_size: tuple[int, int], **kwargs) -> dict[str, pd.DataFrame]:
    return simulate_block(*block_size, **kwargs)


def block_params(params: dict) -> dict:
    """The `simulate` params that `simulate_block` takes: all but the market's own (already in the market path),
    the number of customers and the number of worker processes."""
    market_only = set(MARKET_PARAMS) - {"n_months", "burn_in_months", "oracle_survival_months"}
    return {k: v for k, v in params.items() if k not in market_only | {"n_customers", "workers"}}


def write_simulation(*, seed: int, horizon: int, params: dict, spark=None) -> dict:
    """Simulate with the `simulate` params section; write data/raw and data/oracle; return the summary.

    Called by the `data` stage's `main()` when `data.source` is simulator, with its SparkSession `spark` when
    `engine.name` is spark (the blocks are then Spark tasks; the files are the same byte for byte). Every file is
    written atomically (chunked Parquet renamed into place at the end), so a failed run leaves the last good tables.
    """
    from tqdm import tqdm

    from churnlab.contract.validation import validate, validate_relations
    from churnlab.core import paths
    from churnlab.core.io import ParquetChunks, write_parquet

    burn_in = params["burn_in_months"]
    market = market_for(seed=seed, horizon=horizon, **{k: params[k] for k in MARKET_PARAMS})
    window = market.iloc[burn_in: burn_in + params["n_months"]].reset_index(drop=True)
    validate(window, "market")
    targets = {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "churn_events": paths.CHURN_EVENTS,
               "campaigns": paths.CAMPAIGNS, "monthly_truth": paths.ORACLE_MONTHLY,
               "customer_truth": paths.ORACLE_CUSTOMERS, "campaign_effects": paths.ORACLE_EFFECTS,
               "survival_truth": paths.ORACLE_SURVIVAL}
    writers = {name: ParquetChunks(target, table_schema(name)) for name, target in targets.items()}
    months, tallies, ok = pd.DatetimeIndex(window["month"]), [], False
    log.info("simulating %d customers over %d months in blocks of %d", params["n_customers"], params["n_months"], BLOCK)
    try:
        blocks = simulate(n_customers=params["n_customers"], seed=seed, market=market, workers=params["workers"],
                          spark=spark, horizon=horizon, **block_params(params))
        for tables in tqdm(blocks, total=-(-params["n_customers"] // BLOCK), desc="simulate", unit="block"):
            contract = ("customers", "monthly", "churn_events", "campaigns")
            validate_relations({k: validate(tables[k], k) for k in contract})
            for name, writer in writers.items():
                writer.write(tables[name])
            tallies.append(tally(tables, months, horizon))
        ok = True
    finally:
        for writer in writers.values():
            writer.close(ok)
    write_parquet(window, paths.MARKET)
    metrics = summarise(tallies, n_months=params["n_months"], horizon=horizon)
    metrics["rows"]["market"] = len(window)
    log.info("annual churn %.1f %%, oracle AUC %.3f", 100 * metrics["annual_churn_rate"], metrics["oracle"]["auc"])
    return metrics
