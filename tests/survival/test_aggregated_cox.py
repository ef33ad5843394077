"""The Cox model from per-month counts by covariate pattern: lifelines' CoxPHFitter (Efron ties, delayed entry)
on the same customers, the same counts from Spark, and the failure paths."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from churnlab.core.engine import DuckDBSql, SparkSql
from churnlab.survival.aggregated import month_counts
from churnlab.survival.aggregated_cox import design, fit_cox, pattern_counting

COVARIATES = ["segment", "region"]
COUNTING = pattern_counting(COVARIATES, entry='"entry"', exit='"exit"', event='"event" = 1')


def customers(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Monthly lifetimes (many ties), half entering late, with hazard ratios 1.65 for private, 0.74 for affluent
    (against mass) and 1.5 for south."""
    rng = np.random.default_rng(seed)
    segment, region = rng.choice(["mass", "affluent", "private"], n), rng.choice(["north", "south"], n)
    hazard = 0.03 * np.exp(0.5 * (segment == "private") - 0.3 * (segment == "affluent") + 0.4 * (region == "south"))
    entry = np.where(rng.random(n) < 0.5, rng.integers(1, 30, n), 0)
    until, window = 1 + np.floor(rng.exponential(1 / hazard)), rng.integers(1, 40, n)
    return pd.DataFrame({"entry": entry, "exit": entry + np.minimum(until, window),
                         "event": (until <= window).astype("int8"), "segment": segment, "region": region})


def counts_of(frame: pd.DataFrame, sql=None) -> pd.DataFrame:
    sql = sql or DuckDBSql()
    sql.register("lifetimes", frame)
    return month_counts(sql, "lifetimes", {"cox": COUNTING})


def lifelines_cox(frame: pd.DataFrame, **fit_options) -> CoxPHFitter:
    dummies = pd.get_dummies(frame[COVARIATES], drop_first=True, dtype=float)
    return CoxPHFitter().fit(pd.concat([dummies, frame[["entry", "exit", "event"]]], axis=1), "exit", "event",
                             entry_col="entry", fit_options=fit_options or None)


def test_cox_from_counts_equals_lifelines_with_delayed_entry_and_ties():
    frame = customers()
    ours = fit_cox(counts_of(frame), COVARIATES)
    theirs = lifelines_cox(frame)
    assert list(ours.index) == ["segment_mass", "segment_private", "region_south"]  # affluent, north: references
    np.testing.assert_allclose(ours["coef"], theirs.params_[ours.index], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours["se"], theirs.standard_errors_[ours.index], rtol=0, atol=1e-6)
    assert ours.attrs["log_likelihood"] == pytest.approx(theirs.log_likelihood_, abs=1e-6)
    # lifelines stops at a step of 1e-7; pushed to convergence it agrees to rounding
    tight = lifelines_cox(frame, precision=1e-12, r_precision=1e-14)
    np.testing.assert_allclose(ours["coef"], tight.params_[ours.index], rtol=0, atol=1e-9)
    assert ours.loc["region_south", "hazard_ratio"] == pytest.approx(1.5, rel=0.15)  # near the truth


def test_the_design_codes_levels_against_the_first_in_text_order():
    x = design(["mass|north", "private|south"], COVARIATES)
    assert list(x.columns) == ["segment_private", "region_south"]
    assert x.to_numpy().tolist() == [[0.0, 0.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match="does a level contain"):
        design(["mass|north|x"], COVARIATES)


def test_a_level_without_events_does_not_converge_and_says_so():
    frame = customers(600, seed=1)
    frame.loc[frame["segment"] == "private", "event"] = 0
    with pytest.raises(ArithmeticError, match="did not converge"):
        fit_cox(counts_of(frame), COVARIATES, max_steps=30)


@pytest.mark.slow
def test_spark_gives_the_same_cox_counts_and_fit(spark):
    frame = customers(1500, seed=2)
    expected = counts_of(frame)
    spark.createDataFrame(frame).repartition(5).createOrReplaceTempView("lifetimes")
    on_spark = month_counts(SparkSql(spark), "lifetimes", {"cox": COUNTING})
    pd.testing.assert_frame_equal(on_spark, expected, check_exact=True)
    pd.testing.assert_frame_equal(fit_cox(on_spark, COVARIATES), fit_cox(expected, COVARIATES), check_exact=True)
