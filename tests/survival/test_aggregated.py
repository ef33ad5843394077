"""Survival statistics from per-month counts: the counts worked out by hand, Kaplan-Meier and log-rank against
lifelines (delayed entry, ties), a customer-by-customer log-rank and incidence, and the same counts from pandas,
DuckDB and Spark (for any partitioning)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.exceptions import StatError
from lifelines.statistics import logrank_test, multivariate_logrank_test
from scipy import stats

from churnlab.core.engine import DuckDBSql, SparkSql
from churnlab.survival import aggregated as agg
from churnlab.survival.aggregated import Counting, count_frame, month_counts
from churnlab.survival.design import prepare_lifetimes
from churnlab.survival.kaplan_meier import describe

TENURE = Counting(entry='"entry"', exit='"exit"', event='"event" = 1')
# The six customers of test_kaplan_meier.py, on the tenure scale: three already customers when the window opened
SIX = pd.DataFrame({"entry": [0, 0, 2, 0, 4, 5], "exit": [2, 3, 3, 5, 6, 8], "event": [1, 1, 0, 1, 0, 1]})


def customers(n: int = 600, seed: int = 0, *, levels=("a", "b", "c")) -> pd.DataFrame:
    """Whole months, so many ties; half enter late; a few without a known level."""
    rng = np.random.default_rng(seed)
    entry = np.where(rng.random(n) < 0.5, rng.integers(1, 24, n), 0)
    level = pd.Series(rng.choice(levels, n), dtype=object)
    level[rng.random(n) < 0.05] = None
    return pd.DataFrame({"entry": entry, "exit": entry + 1 + rng.integers(0, 36, n),
                         "event": (rng.random(n) < 0.6).astype("int8"), "level": level})


def test_the_counts_of_six_customers_worked_out_by_hand():
    """at_risk(t) = #{entry < t <= exit}: entries before t less exits before t.

    t=0: three open (1, 2, 4); t=2: 1 churns, 3 enters; t=3: 2 churns, 3 is censored; t=4: 5 enters;
    t=5: 4 churns, 6 enters (not yet at risk); t=6: 5 censored; t=8: 6 churns.
    """
    counts = count_frame(SIX, entry="entry", exit="exit", event="event")
    assert counts["time"].tolist() == [0, 2, 3, 4, 5, 6, 8]
    assert counts["entries"].tolist() == [3, 1, 0, 1, 1, 0, 0]
    assert counts["events"].tolist() == [0, 1, 1, 0, 1, 0, 1]
    assert counts["censored"].tolist() == [0, 0, 1, 0, 0, 1, 0]
    assert counts["at_risk"].tolist() == [0, 3, 3, 1, 2, 2, 1]
    curve = agg.kaplan_meier(counts).set_index("time")["survival"]
    assert curve.loc[[2, 3, 5, 8]].tolist() == pytest.approx([2 / 3, 4 / 9, 2 / 9, 0.0], abs=1e-15)


def test_duckdb_counts_equal_the_pandas_counts():
    frame = customers()
    sql = DuckDBSql()
    sql.register("lifetimes", frame)
    counts = month_counts(sql, "lifetimes", {"all": TENURE, "by_level": Counting(**vars(TENURE) | {
        "level": '"level"'})})
    expected = agg.tidy(pd.concat([count_frame(frame, entry="entry", exit="exit", event="event"),
                                   count_frame(frame, entry="entry", exit="exit", event="event", level="level",
                                               grouping="by_level")]))
    pd.testing.assert_frame_equal(counts, expected)
    assert set(counts.loc[counts["grouping"] == "by_level", "level"]) == {"a", "b", "c"}  # no level: left out


def test_a_missing_event_flag_is_censored_on_every_engine():
    frame = SIX.assign(event=pd.array([1, 1, None, 1, None, 1], dtype="Int8"))
    sql = DuckDBSql()
    sql.register("lifetimes", frame)
    counts = month_counts(sql, "lifetimes", {"all": TENURE})
    pd.testing.assert_frame_equal(counts, count_frame(frame, entry="entry", exit="exit", event="event"))
    assert counts["censored"].tolist() == [0, 0, 1, 0, 0, 1, 0]


@pytest.mark.parametrize("late", [False, True])
def test_kaplan_meier_equals_lifelines_with_delayed_entry_and_ties(late):
    frame = customers(seed=1)
    entry = frame["entry"] if late else None
    kmf = KaplanMeierFitter().fit(frame["exit"], frame["event"], entry=entry)
    counts = count_frame(frame, entry="entry" if late else None, exit="exit", event="event")
    curve = agg.kaplan_meier(counts)
    assert curve["time"].tolist() == kmf.timeline.tolist()
    np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve[["lower", "upper"]], kmf.confidence_interval_, rtol=0, atol=1e-12)
    summary = agg.km_summary(counts, times=[6, 12])
    assert summary["median_months"] == kmf.median_survival_time_
    assert summary["survival_12m"] == pytest.approx(kmf.predict(12), abs=1e-12)
    assert summary["n"] == len(frame) and summary["events"] == frame["event"].sum()


def test_a_curve_that_never_reaches_one_half_has_an_infinite_median():
    counts = count_frame(SIX.assign(event=[1, 0, 0, 0, 0, 0]), entry="entry", exit="exit", event="event")
    assert agg.km_summary(counts, times=[3])["median_months"] == np.inf


def test_logrank_equals_lifelines_for_two_and_three_levels():
    frame = customers(seed=2).dropna()
    two = frame[frame["level"] != "c"]
    ours = agg.logrank(count_frame(two, entry=None, exit="exit", event="event", level="level"))
    a, b = two[two["level"] == "a"], two[two["level"] == "b"]
    theirs = logrank_test(a["exit"], b["exit"], a["event"], b["event"])
    assert ours["test_statistic"] == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert ours["p_value"] == pytest.approx(theirs.p_value, rel=1e-8) and ours["degrees_of_freedom"] == 1
    ours = agg.logrank(count_frame(frame, entry=None, exit="exit", event="event", level="level"))
    theirs = multivariate_logrank_test(frame["exit"], frame["level"], frame["event"])
    assert ours["test_statistic"] == pytest.approx(theirs.test_statistic, rel=1e-10)
    assert ours["degrees_of_freedom"] == 2


def logrank_customer_by_customer(frame: pd.DataFrame) -> float:
    """The log-rank statistic with delayed entry, from the customers' own risk sets at each event month."""
    levels = sorted(frame["level"].unique())
    o_e, cov = np.zeros(len(levels)), np.zeros((len(levels), len(levels)))
    for t in sorted(frame.loc[frame["event"] == 1, "exit"].unique()):
        risk = frame[(frame["entry"] < t) & (t <= frame["exit"])]
        n_g = np.array([(risk["level"] == g).sum() for g in levels], dtype=float)
        d_g = np.array([((risk["level"] == g) & (risk["exit"] == t) & (risk["event"] == 1)).sum() for g in levels])
        n, d = n_g.sum(), d_g.sum()
        o_e += d_g - n_g * d / n
        if n > 1:
            cov += d * (n - d) / (n - 1) * (np.diag(n_g / n) - np.outer(n_g, n_g) / n**2)
    return float(o_e[:-1] @ np.linalg.inv(cov[:-1, :-1]) @ o_e[:-1])


def test_logrank_with_delayed_entry_equals_the_customer_by_customer_statistic():
    frame = customers(300, seed=3).dropna()
    ours = agg.logrank(count_frame(frame, entry="entry", exit="exit", event="event", level="level"))
    expected = logrank_customer_by_customer(frame)
    assert ours["test_statistic"] == pytest.approx(expected, rel=1e-10)
    assert ours["p_value"] == pytest.approx(stats.chi2.sf(expected, 2), rel=1e-8)


def test_cumulative_incidence_with_ties_and_delayed_entry_equals_the_customer_by_customer_sum():
    """CIF_c(t) = sum over event months s <= t of S(s-) d_c(s) / n(s), S the all-cause KM; the causes add up to
    1 - S."""
    frame = customers(400, seed=4)
    frame["cause"] = np.where(frame["event"] == 1, np.where(frame.index % 3 == 0, "closure", "transfer"), None)
    grid = np.arange(0, 61)
    everyone = count_frame(frame, entry="entry", exit="exit", event="event")
    cif = agg.cumulative_incidence(everyone, count_frame(frame, entry="entry", exit="exit", event="event",
                                                         level="cause"), grid=grid)
    expected, survival = {"closure": 0.0, "transfer": 0.0}, 1.0
    by_month = {}
    for t in sorted(frame.loc[frame["event"] == 1, "exit"].unique()):
        n = ((frame["entry"] < t) & (t <= frame["exit"])).sum()
        d = {c: ((frame["exit"] == t) & (frame["cause"] == c)).sum() for c in expected}
        expected = {c: expected[c] + survival * d[c] / n for c in expected}
        survival *= 1 - sum(d.values()) / n
        by_month[t] = (dict(expected), survival)
    for t, (incidence, s) in by_month.items():
        row = cif.loc[cif["time"] == t].iloc[0]
        assert row["closure"] == pytest.approx(incidence["closure"], abs=1e-12)
        assert row["transfer"] == pytest.approx(incidence["transfer"], abs=1e-12)
        assert row["closure"] + row["transfer"] == pytest.approx(1 - s, abs=1e-12)


def test_a_row_without_time_at_risk_is_a_clear_error():
    bad = SIX.assign(exit=[2, 3, 2, 5, 6, 8])  # customer 3 leaves at the month they enter
    with pytest.raises(ValueError, match="without time at risk"):
        count_frame(bad, entry="entry", exit="exit", event="event")
    sql = DuckDBSql()
    sql.register("lifetimes", bad)
    with pytest.raises(ValueError, match=r"lifetimes: 1 row\(s\) of grouping 'all' without time at risk"):
        month_counts(sql, "lifetimes", {"all": TENURE})


def lifetimes_for_describe(n: int = 500, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    entry = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 60, n))
    event = rng.random(n) < 0.6
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)], "entry_tenure": entry,
        "duration": entry + 1 + np.floor(rng.exponential(30, n)).astype(int), "event": event.astype("int8"),
        "churn_type": pd.Series(np.where(event, rng.choice(["voluntary_closure", "transfer_out", "involuntary"], n),
                                         None), dtype="string"),
        "entry_segment": pd.Categorical(rng.choice(["mass", "affluent", "private"], n),
                                        categories=["mass", "affluent", "private"])})
    return prepare_lifetimes(frame, involuntary_as_censored=True)


DESCRIBE = {"groups": {"segment": "entry_segment", "stage": "stage_at_entry"}, "since_entry": ["stage"],
            "times": [12, 24], "grid_months": 48, "min_group_size": 10}


def assert_same_tables(ours: dict, theirs: dict) -> None:
    for name in ("km_summary", "logrank", "cif"):
        pd.testing.assert_frame_equal(ours[name], theirs[name], check_exact=True, obj=name)
    assert ours["curves"].keys() == theirs["curves"].keys()
    for name, curve in ours["curves"].items():
        pd.testing.assert_frame_equal(curve, theirs["curves"][name], check_exact=True, obj=name)


def test_describe_keeps_the_category_order_of_a_grouping():
    out = describe(lifetimes_for_describe(), **DESCRIBE)
    assert out["km_summary"].loc[out["km_summary"]["group"] == "segment", "level"].tolist() == [
        "mass", "affluent", "private"]
    assert out["curves"]["segment"].columns.tolist() == ["time", "mass", "affluent", "private"]


@pytest.mark.slow
def test_spark_counts_equal_duckdb_counts_for_any_partitioning(spark):
    frame = customers(2000, seed=6)
    duck = DuckDBSql()
    duck.register("lifetimes", frame)
    countings = {"all": TENURE, "by_level": Counting(**vars(TENURE) | {"level": '"level"'}),
                 "since_entry": Counting(entry="0", exit='"exit" - "entry"', event='"event" = 1', level='"level"')}
    expected = month_counts(duck, "lifetimes", countings)
    on_spark = SparkSql(spark)
    for partitions in (1, 7):
        spark.createDataFrame(frame).repartition(partitions).createOrReplaceTempView("lifetimes")
        pd.testing.assert_frame_equal(month_counts(on_spark, "lifetimes", countings), expected, check_exact=True)


@pytest.mark.slow
def test_describe_gives_the_same_tables_on_spark(spark, caplog):
    frame = lifetimes_for_describe().assign(entry_education=None)  # a grouping the source never records
    settings = DESCRIBE | {"groups": DESCRIBE["groups"] | {"education": "entry_education"}}
    assert_same_tables(describe(frame, sql=SparkSql(spark), **settings), describe(frame, **settings))
    assert "'education' skipped: column 'entry_education' has 0 known level(s)" in caplog.text


@st.composite
def small_lifetimes(draw) -> pd.DataFrame:
    """Up to 30 customers on a 12-month scale: ties, late entries and gaps in the risk set are likely."""
    n = draw(st.integers(1, 30))
    entry = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    stay = draw(st.lists(st.integers(1, 6), min_size=n, max_size=n))
    event = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    return pd.DataFrame({"entry": entry, "exit": np.add(entry, stay), "event": event,
                         "level": draw(st.lists(st.sampled_from("ab"), min_size=n, max_size=n))})


@settings(max_examples=60, deadline=None)
@given(small_lifetimes())
def test_counts_and_curves_agree_with_lifelines_on_any_small_frame(frame):
    sql = DuckDBSql()
    sql.register("lifetimes", frame)
    counts = month_counts(sql, "lifetimes", {"all": TENURE})
    pd.testing.assert_frame_equal(counts, count_frame(frame, entry="entry", exit="exit", event="event"))
    try:
        kmf = KaplanMeierFitter().fit(frame["exit"], frame["event"], entry=frame["entry"])
    except StatError:  # lifelines refuses a risk set that empties early; the counts go on (module docstring)
        return
    curve = agg.kaplan_meier(counts)
    np.testing.assert_allclose(curve["survival"], kmf.survival_function_.iloc[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(curve[["lower", "upper"]], kmf.confidence_interval_, rtol=0, atol=1e-12)
    assert agg.km_summary(counts, times=[3])["median_months"] == kmf.median_survival_time_
