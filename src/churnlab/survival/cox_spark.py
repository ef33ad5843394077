"""The delayed-entry Cox model's per-month sums from Spark: exact, every customer, one Spark job per Newton step.

`DelayedEntryCox` needs the customers only through per-month sums (`churnlab.survival.cox.StratumSums`). Here each
partition of a Spark DataFrame computes its own sums with numpy inside `mapInPandas` (the code of the in-memory
fit, `cox.stratum_sums`) and returns them as one row per stratum: the stratum, its shift and the arrays as bytes.
The driver adds the partitions' rows up (`cox.combine`) and runs the Newton update. Sums of sums are the sums, so
the fit is the in-memory fit, exactly, up to the order of floating-point additions: the coefficients and standard
errors agree to 1e-8 (tests/survival/test_cox_spark.py), for any number of partitions.

The shift that keeps exp(x'b) in range: each partition uses the largest x'b of its own customers, and the driver
rescales each partition's sums by exp(top_partition - top) to the largest shift of all, so no extra pass over the
data computes the global maximum. The standardisation (means, standard deviations with ddof=1, as in memory) and
the check that every duration exceeds its entry come from one Spark aggregation before the first step.

What a step moves: per partition and stratum, (3 + 3 d + 2 d^2) x T doubles (d covariates, T months), about 6 MB
for 35 covariates and 300 months, collected to the driver: the driver needs room for that times the
number of partitions times the number of strata. Spark's Python workers must import churnlab (installed on the
executors, or the worktree on PYTHONPATH on one machine), as for any Python function on Spark.
"""

import contextlib
import logging

import numpy as np
import pandas as pd

from churnlab.survival.cox import ENTRY_ERROR, StratumSums, combine, stratum_sums

log = logging.getLogger(__name__)

STOP, ENTRY, EVENT, STRATUM = "stop", "entry", "event", "stratum"
NO_STRATUM = ""  # the stratum column's value when the model has no strata
PARTIAL_SCHEMA = "stratum string, top double, sums binary"


def to_bytes(sums: StratumSums) -> bytes:
    """One stratum's sums as raw float64 bytes: risk (3 arrays), dead (3 arrays), counts, x_dead, in that order."""
    arrays = [*sums.risk, *sums.dead, sums.counts.astype(float), sums.x_dead]
    return b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in arrays)


def from_bytes(blob: bytes, top: float, *, n_times: int, d: int) -> StratumSums:
    """The `StratumSums` that `to_bytes` wrote, for T = `n_times` months and `d` covariates."""
    shapes = [(n_times,), (n_times, d), (n_times, d, d)] * 2 + [(n_times,), (n_times, d)]
    flat, arrays, at = np.frombuffer(blob, dtype=np.float64), [], 0
    expected = sum(int(np.prod(shape)) for shape in shapes)
    if len(flat) != expected:
        raise ValueError(f"a partition's sums hold {len(flat)} numbers, not the {expected} of {n_times} months x "
                         f"{d} covariates")
    for shape in shapes:
        size = int(np.prod(shape))
        arrays.append(flat[at:at + size].reshape(shape))
        at += size
    return StratumSums(tuple(arrays[0:3]), tuple(arrays[3:6]), arrays[6].astype(np.int64), arrays[7], top)


def partial_sums(columns: list[str], *, beta: np.ndarray, mean: np.ndarray, std: np.ndarray, n_times: int):
    """The `mapInPandas` function of one Newton step: a partition's customers (covariates `columns`, stop, entry,
    event, stratum) in, one row per stratum out (stratum, shift, `to_bytes` sums at `beta`)."""

    def partials(batches):
        batches = [b for b in batches if len(b)]
        if not batches:
            return
        part = pd.concat(batches, ignore_index=True)
        z = (part[columns].to_numpy(float) - mean) / std
        stop, entry = part[STOP].to_numpy(np.int64), part[ENTRY].to_numpy(np.int64)
        event, keys = part[EVENT].to_numpy(bool), part[STRATUM].to_numpy(object)
        rows = []
        for key in pd.unique(keys):
            at = keys == key
            sums = stratum_sums(z[at], z[at] @ beta, stop[at], entry[at], event[at], n_times)
            rows.append((key, float(sums.top), to_bytes(sums)))
        yield pd.DataFrame(rows, columns=["stratum", "top", "sums"])

    return partials


class SparkSums:
    """The per-month sums of `DelayedEntryCox.fit_sums`, computed by Spark over a DataFrame of customers.

    `customers` (a Spark DataFrame, cached by the caller: it is read once per Newton step) holds the covariates
    `columns`, integer months `stop` and `entry` (at risk in entry < t <= stop), `event` (1: churned at stop, 0:
    censored) and, when `stratum` names one, the stratum of each customer (compared as text). Strata are taken
    in text order (in memory: in order of appearance), which changes only the order of the additions.
    """

    def __init__(self, customers, columns: list[str], *, stop: str = STOP, entry: str = ENTRY, event: str = EVENT,
                 stratum: str | None = None):
        from pyspark.sql import functions as F

        self.columns = list(columns)
        names = [f"x{i}" for i in range(len(columns))]  # covariate names may hold [ ] . that Spark would parse
        self._frame = customers.select(
            *[F.col(f"`{c}`").cast("double").alias(n) for c, n in zip(columns, names, strict=True)],
            F.col(f"`{stop}`").cast("long").alias(STOP), F.col(f"`{entry}`").cast("long").alias(ENTRY),
            F.col(f"`{event}`").cast("boolean").alias(EVENT),
            (F.col(f"`{stratum}`").cast("string") if stratum else F.lit(NO_STRATUM)).alias(STRATUM))
        self._names = names
        found = self._frame.agg(F.count(F.lit(1)), F.sum((F.col(STOP) <= F.col(ENTRY)).cast("long")), F.max(STOP),
                                *[F.avg(n) for n in names], *[F.stddev_samp(n) for n in names],
                                F.collect_set(STRATUM)).first()
        self.n, too_short, longest = int(found[0]), found[1] or 0, found[2]
        if self.n == 0:
            raise ValueError("no customers to fit the Cox model on")
        if too_short:
            raise ValueError(ENTRY_ERROR)
        d = len(names)
        self.mean = np.array(found[3:3 + d], dtype=float)
        spread = np.array([np.nan if s is None else s for s in found[3 + d:3 + 2 * d]], dtype=float) if self.n > 1 \
            else np.ones(d)
        self.std = np.where(spread > 0, spread, 1.0)  # ddof=1 and 1 for a constant column, as cox.standardise
        self.n_times = int(longest) + 1
        keys = sorted(found[-1])
        self.strata = None if stratum is None else keys
        self._keys = keys

    def at(self, beta: np.ndarray) -> list[StratumSums]:
        """Each stratum's sums at beta (standardised scale): one Spark job, the partitions' rows combined here."""
        step = partial_sums(self._names, beta=np.asarray(beta, dtype=float), mean=self.mean, std=self.std,
                            n_times=self.n_times)
        parts: dict[str, list[StratumSums]] = {key: [] for key in self._keys}
        rows = self._frame.mapInPandas(step, PARTIAL_SCHEMA).toPandas()  # Arrow: the bytes travel as they are
        for key, top, blob in zip(rows["stratum"], rows["top"], rows["sums"], strict=True):
            parts[key].append(from_bytes(bytes(blob), top, n_times=self.n_times, d=len(self._names)))
        return [combine(parts[key]) for key in self._keys]


@contextlib.contextmanager
def cached_customers(spark, x: pd.DataFrame, *, stop, event, entry, strata: pd.Series | None = None):
    """The customers of an in-memory fit as a cached Spark DataFrame (covariates under their own names, then stop,
    entry, event, stratum), unpersisted on exit. A pandas frame handed to Spark is a table embedded in the query
    plan, copied by every scan that reads it (docs/scale.md): cached, the Newton steps read Spark's copy instead.

    The frame is cut into as many partitions as Spark has cores (`defaultParallelism`; left as Spark made it on
    Spark Connect, which does not say): every partition returns full T x d^2 arrays each step, so one slice per
    core costs least. Pandas handed to Spark arrive in slices of 10,000 rows (20 partitions at 200,000)."""
    taken = sorted({STOP, ENTRY, EVENT, STRATUM} & set(x.columns))
    if taken:
        raise ValueError(f"covariate(s) {taken} would clash with the columns the Cox fit adds for Spark: rename them")
    customers = x.reset_index(drop=True).astype(float).assign(**{
        STOP: np.asarray(stop).astype(np.int64), ENTRY: np.asarray(entry).astype(np.int64),
        EVENT: np.asarray(event).astype(bool),
        STRATUM: NO_STRATUM if strata is None else np.asarray(strata).astype(str)})
    frame = spark.createDataFrame(customers)
    cores = _cores(spark)
    frame = (frame.coalesce(cores) if cores else frame).cache()
    try:
        log.info("Cox on Spark: %d customers cached in %s partitions", frame.count(), cores or "Spark's")
        yield frame
    finally:
        frame.unpersist()


def _cores(spark) -> int | None:
    """The cores Spark offers (`defaultParallelism`), or None where the session does not say (Spark Connect)."""
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # noqa: BLE001 - Connect raises its own error classes for the missing SparkContext
        return None
