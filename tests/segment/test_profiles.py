"""The segment reports: the profile table on a hand-made example, cluster profiles and lifecycle transitions."""

import numpy as np
import pandas as pd
from snapshot_frames import snapshots

from churnlab.contract.migration import EXIT
from churnlab.segment.clusters import BehaviourClusters
from churnlab.segment.profiles import PROFILE_COLUMNS, cluster_profiles, lifecycle_transitions, profile_table

T1, T2 = pd.Timestamp("2024-01-31"), pd.Timestamp("2024-04-30")


def two_cutoffs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """T1 fully labelled: a (x, churned), b (x), c (y). T2, the scoring cutoff, labels only a's churn (a partly
    labelled cutoff, left out of churn rates): a (x, CLV 100, margin 10), c (y, 300, 30), d (y, no CLV, 20)."""
    segments = pd.DataFrame({
        "customer_id": ["a", "b", "c", "a", "c", "d"], "cutoff": [T1, T1, T1, T2, T2, T2],
        "segment": pd.Categorical(["x", "x", "y", "x", "y", "y"]),
        "lifecycle_stage": pd.Categorical(["growth", "maturity", "growth", "maturity", "decline", "growth"]),
        "behaviour_cluster": 0,
        "clv": [np.nan, np.nan, np.nan, 100.0, 300.0, np.nan], "monthly_margin": [5.0, 5.0, 5.0, 10.0, 30.0, 20.0],
    })
    labels = pd.DataFrame({"label": pd.array([1, 0, 0, 1, pd.NA, pd.NA], dtype="Int8"),
                           "labeled": [True, True, True, True, False, False]})
    return segments, labels


def test_profile_table_counts_now_and_rates_over_fully_labelled_cutoffs():
    """segment x: 1 customer now (a, share 1/3), churn 1 of 2 at T1 (a's label at T2 does not count), CLV 100,
    margin 10; y: 2 now (c, d), churn 0 of 1, mean CLV 300 (d has none), mean margin (30 + 20) / 2 = 25."""
    segments, labels = two_cutoffs()
    table = profile_table(segments, labels, dimensions=["segment"])
    assert list(table.columns) == PROFILE_COLUMNS
    assert table["level"].tolist() == ["x", "y"] and table["customers"].tolist() == [1, 2]
    np.testing.assert_allclose(table["share"], [1 / 3, 2 / 3])
    assert table["labelled_rows"].tolist() == [2, 1]
    np.testing.assert_allclose(table["churn_rate"], [0.5, 0.0])
    np.testing.assert_allclose(table["mean_clv"], [100.0, 300.0])
    np.testing.assert_allclose(table["mean_monthly_margin"], [10.0, 25.0])


def test_profile_table_takes_the_segmentations_present_the_banks_first():
    segments, labels = two_cutoffs()
    table = profile_table(segments.assign(geography=pd.Categorical(["FR"] * 6)), labels)
    assert list(dict.fromkeys(table["dimension"])) == ["segment", "lifecycle_stage", "geography"]
    assert table.groupby("dimension")["customers"].sum().eq(3).all()
    assert profile_table(segments[["customer_id", "cutoff", "clv", "monthly_margin"]], labels).empty


def test_lifecycle_transitions_pool_moves_and_exits():
    """T1 -> T2: a growth -> maturity, b maturity -> gone, c growth -> decline."""
    segments, _ = two_cutoffs()
    moves = lifecycle_transitions(segments).set_index("lifecycle_stage_from")
    assert moves.loc["growth", "customers"] == 2 and moves.loc["maturity", "customers"] == 1
    assert (moves.loc["growth", ["maturity", "decline"]].tolist(), moves.loc["maturity", EXIT]) == ([0.5, 0.5], 1.0)
    header = lifecycle_transitions(segments[segments["cutoff"] == T2])
    assert header.empty and list(header.columns)[:2] == ["lifecycle_stage_from", "customers"]
    assert lifecycle_transitions(segments.drop(columns="lifecycle_stage")).empty


def test_cluster_profiles_size_the_clusters_at_the_scoring_cutoff():
    rows = snapshots(120)
    features = {"log1p": ["deposit_balance", "fees_3m"], "plain": ["n_products"]}
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    clusters = BehaviourClusters(**features, k_min=2, k_max=3, silhouette_rows=300, name_threshold_sd=0.5,
                                 seed=0).fit(latest)
    segments = rows[["customer_id", "cutoff"]].assign(behaviour_cluster=clusters.predict(rows).to_numpy())
    table = cluster_profiles(segments, rows, clusters)
    assert table["behaviour_cluster"].tolist() == list(range(clusters.k_))
    assert table["customers"].sum() == len(latest) and np.isclose(table["share"].sum(), 1.0)
    assert table["customers"].is_monotonic_decreasing  # numbered by size at fit time, fitted on the same rows
    assert {"z_deposit_balance", "median_deposit_balance", "median_n_products"} <= set(table.columns)
    assert list(cluster_profiles(segments, rows, None).columns) == ["behaviour_cluster", "cluster_name", "customers",
                                                                    "share"]
