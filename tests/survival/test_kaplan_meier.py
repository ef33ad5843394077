"""Kaplan-Meier with and without left truncation (hand-worked), log-rank and competing-risk incidence."""

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter
from lifelines.statistics import multivariate_logrank_test

from churnlab.survival.aggregated import count_frame, km_on_grid
from churnlab.survival.design import entry_stage, prepare_lifetimes
from churnlab.survival.kaplan_meier import (
    cumulative_incidence,
    describe,
    fit_km,
    km_summary,
    logrank_test,
)

# Six customers on the tenure scale (months since opening).
DURATION = [2, 3, 3, 5, 6, 8]
EVENT = [1, 1, 0, 1, 0, 1]
ENTRY = [0, 0, 2, 0, 4, 5]  # customers 3, 5 and 6 were already customers when the window opened


def test_km_without_truncation_matches_the_hand_worked_curve():
    """Everyone at risk from tenure 0.

    t=2: 6 at risk, 1 churns:            S = 5/6
    t=3: 5 at risk (the one censored at 3 still counts), 1 churns: S = 5/6 * 4/5 = 2/3
    t=5: 3 at risk (tenures 5, 6, 8), 1 churns:                      S = 2/3 * 2/3 = 4/9
    t=8: 1 at risk, 1 churns:                                        S = 0
    """
    kmf = fit_km(DURATION, EVENT)
    assert kmf.predict([2, 3, 4, 5, 7, 8]).tolist() == pytest.approx([5 / 6, 2 / 3, 2 / 3, 4 / 9, 4 / 9, 0.0])


def test_km_with_left_truncation_matches_the_hand_worked_curve():
    """A customer is at risk at t only if entry < t <= duration.

    t=2: customers 1, 2, 4 (3 enters at 2, 5 at 4, 6 at 5), 1 churns:   S = 2/3
    t=3: customers 2, 3, 4, 1 churns:                                   S = 2/3 * 2/3 = 4/9
    t=5: customers 4 and 5 (6 enters at 5, so is not yet at risk), 1 churns: S = 4/9 * 1/2 = 2/9
    t=8: customer 6 alone, churns:                                      S = 0
    Ignoring the truncation (previous test) overstates survival: S(5) = 4/9 instead of 2/9, because the
    three late entrants are credited with months before anyone observed them.
    """
    kmf = fit_km(DURATION, EVENT, ENTRY)
    assert kmf.predict([2, 3, 4, 5, 7, 8]).tolist() == pytest.approx([2 / 3, 4 / 9, 4 / 9, 2 / 9, 2 / 9, 0.0])
    summary = km_summary(kmf, times=[3, 5])
    assert summary["survival_3m"] == pytest.approx(4 / 9) and summary["survival_5m"] == pytest.approx(2 / 9)
    assert summary["median_months"] == 3  # first time S <= 0.5
    assert summary["survival_5m_lower"] <= 2 / 9 <= summary["survival_5m_upper"]


def test_logrank_without_entry_equals_lifelines():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 300)
    durations = np.ceil(rng.exponential(10 + 4 * groups))
    events = rng.random(300) < 0.7
    ours = logrank_test(durations, events, groups)
    theirs = multivariate_logrank_test(durations, groups, events)
    assert ours["test_statistic"] == pytest.approx(theirs.test_statistic, rel=1e-8)
    assert ours["p_value"] == pytest.approx(theirs.p_value, rel=1e-6)
    assert ours["degrees_of_freedom"] == 2


def test_logrank_with_entry_uses_the_delayed_risk_sets():
    # Same hazard in both groups, but group b enters late: ignoring entry would invent a difference.
    rng = np.random.default_rng(1)
    n = 4000
    group = np.where(rng.random(n) < 0.5, "a", "b")
    entry = np.where(group == "b", 20.0, 0.0)
    durations = entry + rng.exponential(15, n)
    events = np.ones(n, dtype=bool)
    assert logrank_test(durations, events, group, entry)["p_value"] > 0.01
    assert logrank_test(durations, events, group)["p_value"] < 1e-6


def test_cumulative_incidence_equals_aalen_johansen_without_ties():
    rng = np.random.default_rng(2)
    durations = rng.exponential(10, 200)
    causes = pd.Series(rng.choice(["closure", "transfer", None], 200, p=[0.4, 0.3, 0.3]))
    grid = np.array([2.0, 5.0, 10.0, 20.0])
    ours = cumulative_incidence(durations, causes, grid=grid)
    codes = causes.map({"closure": 1, "transfer": 2}).fillna(0).astype(int)
    ajf = AalenJohansenFitter(calculate_variance=False).fit(durations, codes, event_of_interest=1)
    theirs = ajf.cumulative_density_.iloc[:, 0]
    expected = [theirs[theirs.index <= t].iloc[-1] for t in grid]
    assert ours["closure"].to_numpy() == pytest.approx(expected, abs=1e-9)
    all_cause = 1 - fit_km(durations, causes.notna()).predict(grid).to_numpy()
    assert (ours["closure"] + ours["transfer"]).to_numpy() == pytest.approx(all_cause, abs=1e-9)


def lifetimes(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    entry = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 60, n))
    duration = entry + 1 + np.floor(rng.exponential(30, n)).astype(int)
    event = rng.random(n) < 0.6
    return pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(n)], "entry_tenure": entry, "duration": duration,
        "event": event.astype("int8"),
        "churn_type": pd.Series(np.where(event, rng.choice(["voluntary_closure", "transfer_out", "involuntary"], n),
                                         None), dtype="string"),
        "entry_segment": pd.Categorical(rng.choice(["mass", "affluent"], n)),
    })


def test_involuntary_churn_is_censored_by_default():
    frame = lifetimes()
    censored = prepare_lifetimes(frame, involuntary_as_censored=True)
    counted = prepare_lifetimes(frame, involuntary_as_censored=False)
    involuntary = frame["churn_type"] == "involuntary"
    assert censored.loc[involuntary.fillna(False), "churned"].eq(0).all()
    assert counted["churned"].sum() == frame["event"].sum()
    assert (censored["residual"] == frame["duration"] - frame["entry_tenure"]).all()


def test_entry_stage_boundaries():
    stage = entry_stage(pd.Series([0, 5, 6, 24, 25]))
    assert stage.tolist() == ["acquisition", "acquisition", "growth", "growth", "maturity"]


def test_missing_column_is_named():
    with pytest.raises(KeyError, match="churn_type"):
        prepare_lifetimes(lifetimes().drop(columns="churn_type"), involuntary_as_censored=True)


def test_describe_gives_summaries_tests_and_curves():
    frame = prepare_lifetimes(lifetimes(), involuntary_as_censored=True)
    out = describe(frame, groups={"segment": "entry_segment", "stage": "stage_at_entry"}, since_entry=["stage"],
                   times=[12, 24], grid_months=36, min_group_size=10)
    assert set(out["logrank"]["group"]) == {"segment", "stage"}
    assert out["curves"]["segment"].columns.tolist() == ["time", "affluent", "mass"]
    assert out["km_summary"].set_index("group").loc["stage", "time_scale"].eq("since entry").all()
    assert set(out["cif"].columns) == {"time", "voluntary_closure", "transfer_out", "involuntary"}


def test_groupings_without_a_column_or_a_second_level_are_skipped(caplog):
    """A source may lack a grouping (no column) or record one value (the Berka ledger: one channel)."""
    frame = prepare_lifetimes(lifetimes(), involuntary_as_censored=True).assign(entry_acquisition_channel="branch")
    out = describe(frame, groups={"channel": "entry_acquisition_channel", "typo": "entry_chanel",
                                  "segment": "entry_segment"}, since_entry=[], times=[12], grid_months=24,
                   min_group_size=10)
    assert set(out["curves"]) == {"overall", "segment"} and out["logrank"]["group"].tolist() == ["segment"]
    assert "'channel' skipped: column 'entry_acquisition_channel' has 1 known level(s)" in caplog.text
    assert "'typo' skipped: lifetimes have no column 'entry_chanel'" in caplog.text
    none = describe(frame, groups={"channel": "entry_acquisition_channel"}, since_entry=[], times=[12],
                    grid_months=24, min_group_size=10)
    assert none["logrank"].empty and "p_value" in none["logrank"]  # the table keeps its columns


def test_dormancy_is_a_voluntary_event():
    """Under features.churn.definition dormancy the customer stopped using the bank: an event, not censored."""
    frame = lifetimes().assign(churn_type=lambda f: f["churn_type"].where(f["event"] == 0, "dormancy"))
    prepared = prepare_lifetimes(frame, involuntary_as_censored=True)
    assert prepared["churned"].tolist() == frame["event"].tolist()


def test_no_events_is_a_clear_error():
    frame = lifetimes().assign(event=0, churn_type=pd.NA)
    with pytest.raises(ValueError, match="no churn events under definition dormancy: survival needs some"):
        prepare_lifetimes(frame, involuntary_as_censored=True, definition="dormancy")
    only_involuntary = lifetimes().assign(churn_type=lambda f: f["churn_type"].where(f["event"] == 0, "involuntary"))
    with pytest.raises(ValueError, match=r"type\(s\) \['involuntary'\] are censored"):
        prepare_lifetimes(only_involuntary, involuntary_as_censored=True)


def test_a_curve_is_unknown_beyond_the_longest_follow_up():
    """The six customers are followed for at most 8 months: the curve on a 10-month grid stops there."""
    counts = count_frame(pd.DataFrame({"exit": DURATION, "event": EVENT}), entry=None, exit="exit", event="event")
    curve = km_on_grid(counts, np.arange(0, 11))  # the stage's curves (kaplan_meier.describe)
    assert curve["survival"].iloc[8] == 0.0 and curve["survival"].iloc[9:].isna().all()
    assert curve["survival"].iloc[:9].notna().all() and curve["lower"].iloc[9:].isna().all()
