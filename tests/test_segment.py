"""Segmentation: income bands, value tiers from CLV or margin, the profile table, and clear errors."""

import numpy as np
import pandas as pd
import pytest
from snapshot_frames import snapshots

from churnlab.clusters import BehaviourClusters
from churnlab.segment import customer_value, income_band, profile_table, segment_snapshots, value_tiers

BANDS = {"edges": [0, 1500, 3000, np.inf], "labels": ["low", "mid", "high"]}
MARGINS = {"deposit_margin": 0.012, "investment_fee_rate": 0.0, "loan_margin": 0.0}
LIFECYCLE = {"acquisition_months": 6, "growth_months": 24, "decline_balance_ratio": 0.8, "decline_product_drop": 1,
             "growth_balance_ratio": 1.25}
CLUSTERS = {"log1p": ["deposit_balance", "investment_balance", "loan_balance", "tx_count", "fees_3m"],
            "plain": ["n_products", "digital_share_3m"], "k_min": 2, "k_max": 3, "silhouette_rows": 300,
            "name_threshold_sd": 0.5, "seed": 0}


def test_income_bands_are_left_closed_and_missing_is_not_declared():
    bands = income_band(pd.Series([0, 1499.99, 1500, 2999, 3000, 20000, np.nan]), **BANDS)
    assert bands.astype(str).tolist() == ["low", "low", "mid", "mid", "high", "high", "not declared"]
    with pytest.raises(ValueError, match="labels"):
        income_band(pd.Series([1.0]), edges=[0, 1], labels=["a", "b"])


def test_value_tiers_are_equal_count_within_each_cutoff():
    cutoff = pd.Series(["t1"] * 6 + ["t2"] * 3)
    value = pd.Series([6, 5, 4, 3, 2, 1, 100, 300, 200], dtype=float)
    tiers = value_tiers(value, cutoff, labels=["low", "medium", "high"])
    assert tiers.astype(str).tolist() == ["high", "high", "medium", "medium", "low", "low", "low", "high", "medium"]


def test_value_is_the_clv_at_the_scoring_cutoff_and_the_margin_before():
    """Margin = 0.012 x deposit / 12 + fees_3m / 3: 1000 EUR and 30 EUR of fees -> 1 + 10 = 11 EUR a month."""
    rows = pd.DataFrame({"customer_id": ["a", "a", "b"], "cutoff": pd.to_datetime(["2024-01-31", "2024-04-30",
                         "2024-04-30"]), "deposit_balance": 1000.0, "investment_balance": 0.0, "loan_balance": 0.0,
                         "fees_3m": 30.0})
    clv = pd.DataFrame({"customer_id": ["a"], "clv": [500.0]})
    value = customer_value(rows, clv, scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    np.testing.assert_allclose(value["monthly_margin"], [11.0, 11.0, 11.0])
    assert value["clv"].tolist()[1] == 500.0 and np.isnan(value["clv"].tolist()[0])
    np.testing.assert_allclose(value["value"], [11.0, 500.0, 11.0])  # b has no CLV: its margin
    without = customer_value(rows, None, scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    np.testing.assert_allclose(without["value"], 11.0)


def test_segments_of_synthetic_snapshots_and_their_profiles():
    rows = snapshots(120)
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    clusters = BehaviourClusters(**CLUSTERS).fit(latest)
    segments = segment_snapshots(rows, None, clusters, income_bands=BANDS, tiers=["low", "medium", "high"],
                                 lifecycle=LIFECYCLE, margins=MARGINS)
    assert len(segments) == len(rows)
    assert {"customer_id", "cutoff", "age_band", "income_band", "segment", "region", "behaviour_cluster",
            "cluster_name", "value_tier", "lifecycle_stage"} <= set(segments.columns)
    assert segments["cluster_name"].notna().all() and segments["value_tier"].notna().all()
    profiles = profile_table(segments, rows[["label", "labeled"]].reset_index(drop=True))
    stages = profiles[profiles["dimension"] == "segment"]
    assert stages["customers"].sum() == len(latest)  # size at the scoring cutoff
    labelled = rows[rows["labeled"] & (rows["cutoff"] < rows["cutoff"].max())]
    expected = labelled.groupby("segment", observed=True)["label"].mean()
    got = stages.set_index("level")["churn_rate"]
    np.testing.assert_allclose(got.loc[expected.index.astype(str)], expected.astype(float))
    assert not profiles.astype(str).apply(lambda c: c.str.contains("C0")).any().any()  # no ids in the report


def test_a_missing_snapshot_column_is_named():
    rows = snapshots(60)
    clusters = BehaviourClusters(**CLUSTERS).fit(rows[rows["cutoff"] == rows["cutoff"].max()])
    with pytest.raises(KeyError, match="fees_3m"):
        segment_snapshots(rows.drop(columns="fees_3m"), None, clusters, income_bands=BANDS, tiers=["lo", "hi"],
                          lifecycle=LIFECYCLE, margins=MARGINS)
