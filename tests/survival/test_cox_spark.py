"""The delayed-entry Cox model from Spark's per-month sums against the in-memory (numpy) fit.

Both fits run the same Newton steps on the same sums; only the order of the floating-point additions differs
(partitions, then strata in text order). So the coefficients, standard errors, log-likelihood and baseline
cumulative hazards agree to TOLERANCE (relative), for one partition and for several.
"""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.engine import SparkSql
from churnlab.survival.cox import DelayedEntryCox, combine, stratum_sums
from churnlab.survival.cox_spark import STRATUM, SparkSums, cached_customers, from_bytes, to_bytes
from churnlab.survival.models import fit_cox

TOLERANCE = 1e-8
COLUMNS = ["complaints", "payroll", "balance", "age"]


def customers(n: int = 400, seed: int = 3) -> pd.DataFrame:
    """Integer tenures (ties), most customers entering late, four covariates on unlike scales, three regions."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"complaints": rng.poisson(1.0, n).astype(float), "payroll": (rng.random(n) < 0.5) * 1.0,
                          "balance": rng.lognormal(8, 1, n), "age": rng.normal(45, 12, n),
                          "region": rng.choice(["north", "south", "west"], n)})
    entry = np.where(rng.random(n) < 0.6, rng.integers(1, 40, n), 0)
    hazard = 0.05 * np.exp(0.5 * frame["complaints"] - 0.7 * frame["payroll"])
    t = entry + 1 + np.floor(rng.exponential(1 / hazard)).astype(int)
    censor = entry + rng.integers(1, 25, n)
    return frame.assign(entry=entry, stop=np.minimum(t, censor), event=(t <= censor).astype(int))


def assert_same_fit(ours: DelayedEntryCox, expected: DelayedEntryCox) -> None:
    np.testing.assert_allclose(ours.params_, expected.params_, rtol=TOLERANCE, atol=1e-12)
    np.testing.assert_allclose(ours.summary["se(coef)"], expected.summary["se(coef)"], rtol=TOLERANCE)
    assert ours.log_likelihood_ == pytest.approx(expected.log_likelihood_, rel=TOLERANCE)
    assert set(ours.baseline_) == set(expected.baseline_)
    for key, hazard in expected.baseline_.items():
        np.testing.assert_allclose(ours.baseline_[key], hazard, rtol=TOLERANCE, atol=1e-14)


def test_sums_of_parts_with_their_own_shifts_combine_to_the_sums_of_all():
    """Two groups whose x'b differ by 800 (exp(800) overflows): each keeps its own shift, and `combine` rescales
    them to the larger one; the result is the sums over everyone with the shift max(x'b)."""
    data = customers(60)
    x = ((data[COLUMNS] - data[COLUMNS].mean()) / data[COLUMNS].std()).to_numpy()
    eta = x @ np.array([0.3, -0.2, 0.1, 0.05]) + np.where(np.arange(60) < 30, 0.0, 800.0)
    stop, entry, event = data["stop"].to_numpy(), data["entry"].to_numpy(), data["event"].to_numpy(bool)
    n_times = int(stop.max()) + 1
    whole = stratum_sums(x, eta, stop, entry, event, n_times)
    halves = [stratum_sums(x[rows], eta[rows], stop[rows], entry[rows], event[rows], n_times)
              for rows in (np.arange(30), np.arange(30, 60))]
    both = combine(halves)
    assert both.top == whole.top == eta.max() and halves[0].top < 800 < halves[1].top
    for ours, expected in zip([*both.risk, *both.dead, both.counts, both.x_dead],
                              [*whole.risk, *whole.dead, whole.counts, whole.x_dead], strict=True):
        assert np.isfinite(ours).all()
        # risk-set sums are differences of tails: where they cancel (month 0), the noise is that of the tails
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_sums_survive_the_trip_through_bytes():
    data = customers(50)
    x = data[COLUMNS].to_numpy()
    sums = stratum_sums(x, x @ np.full(4, 1e-3), data["stop"].to_numpy(), data["entry"].to_numpy(),
                        data["event"].to_numpy(bool), 70)
    back = from_bytes(to_bytes(sums), sums.top, n_times=70, d=4)
    assert back.top == sums.top and back.counts.dtype == np.int64
    for ours, expected in zip([*back.risk, *back.dead, back.counts, back.x_dead],
                              [*sums.risk, *sums.dead, sums.counts, sums.x_dead], strict=True):
        np.testing.assert_array_equal(ours, expected)
    with pytest.raises(ValueError, match="not the .* of 71 months x 4"):
        from_bytes(to_bytes(sums), sums.top, n_times=71, d=4)


def assert_spark_fit_is_the_in_memory_fit(spark, *, stratified: bool, penalizer: float,
                                          partitionings=(1, 4)) -> None:
    """The fit from `SparkSums` on `spark`, the customers cut into each number of partitions of `partitionings`, is
    the in-memory fit, to TOLERANCE."""
    data = customers()
    strata = data["region"] if stratified else None
    expected = DelayedEntryCox(penalizer=penalizer).fit(data[COLUMNS], data["stop"], data["event"], data["entry"],
                                                        strata)
    assert expected.n_times_ > 30 and (data["entry"] > 0).mean() > 0.5  # delayed entry, many tied months
    with cached_customers(spark, data[COLUMNS], stop=data["stop"], event=data["event"], entry=data["entry"],
                          strata=strata) as cached:
        for partitions in partitionings:
            sums = SparkSums(cached.repartition(partitions), COLUMNS, stratum=STRATUM if stratified else None)
            ours = DelayedEntryCox(penalizer=penalizer).fit_sums(sums)
            assert_same_fit(ours, expected)
            assert ours.strata_ == (["north", "south", "west"] if stratified else None)
            np.testing.assert_allclose(ours.mean_, expected.mean_, rtol=1e-12)
            np.testing.assert_allclose(ours.std_, expected.std_, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(("stratified", "penalizer"), [(False, 0.0), (True, 0.05)])
def test_spark_sums_give_the_in_memory_fit_for_any_partitioning(spark, stratified, penalizer):
    assert_spark_fit_is_the_in_memory_fit(spark, stratified=stratified, penalizer=penalizer)


@pytest.mark.spark_connect
def test_spark_connect_sums_give_the_in_memory_fit(spark_connect):
    """engine.spark.remote: the Newton steps' `mapInPandas` jobs, the binary sums and the customers' cache over
    Spark Connect (where `cached_customers` cannot ask for the cores). One case, the stratified and penalized one,
    in three partitions: each Newton step is a Spark job and a Connect round trip, and how the partitions' and
    strata's sums add up is the driver's code, the same on both (tested above)."""
    assert type(spark_connect).__module__.startswith("pyspark.sql.connect")  # a Connect client, not a local session
    assert_spark_fit_is_the_in_memory_fit(spark_connect, stratified=True, penalizer=0.05, partitionings=(3,))


@pytest.mark.slow
def test_fit_cox_on_the_spark_engine_gives_the_local_model(spark):
    data = customers(300, seed=5).rename(columns={"stop": "duration", "event": "churned", "entry": "entry_tenure",
                                                  "payroll": "payroll[yes]"})  # a name Spark would parse
    columns = ["complaints", "payroll[yes]", "balance", "age"]
    local = fit_cox(data, columns, penalizer=0.01, strata=["region"])
    cached = spark.sparkContext._jsc.getPersistentRDDs().size()
    on_spark = fit_cox(data, columns, penalizer=0.01, strata=["region"], sql=SparkSql(spark))
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == cached  # the customers' cache is freed
    assert_same_fit(on_spark.fitter_, local.fitter_)
    months = np.arange(1, 13)
    start = data["entry_tenure"].to_numpy()
    np.testing.assert_allclose(on_spark.survival(data, start, months), local.survival(data, start, months),
                               rtol=TOLERANCE)


@pytest.mark.slow
def test_a_duration_not_after_its_entry_is_the_same_error_on_both(any_spark):
    data = customers(20).assign(stop=lambda d: d["stop"].where(d.index != 7, d["entry"]))
    with pytest.raises(ValueError, match="every duration must exceed its entry time"):
        DelayedEntryCox().fit(data[COLUMNS], data["stop"], data["event"], data["entry"])
    with (cached_customers(any_spark, data[COLUMNS], stop=data["stop"], event=data["event"],
                           entry=data["entry"]) as cached,
          pytest.raises(ValueError, match="every duration must exceed its entry time")):
        SparkSums(cached, COLUMNS)


def test_a_covariate_named_like_an_added_column_is_refused_before_spark_starts():
    data = customers(10)
    with pytest.raises(ValueError, match=r"\['event'\] would clash"), cached_customers(
            None, data[["age", "event"]], stop=data["stop"], event=data["event"], entry=data["entry"]):
        pass
