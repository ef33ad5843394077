"""Segmentation: income bands, value tiers from CLV or margin, the profile table, clear errors, and what a
snapshot source (one cutoff, its own columns) gets and skips."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snapshot_frames import snapshots

from churnlab.contract.lifecycle import lifecycle_reason
from churnlab.segment.clusters import BehaviourClusters, cluster_columns
from churnlab.segment.stage import (
    customer_value,
    income_band,
    profile_table,
    segment_snapshots,
    value_basis,
    value_tiers,
)

ROOT = Path(__file__).resolve().parents[2]
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


def bank_file(n: int = 240, *, seed: int = 0) -> pd.DataFrame:
    """A one-cutoff snapshot like a bank's customer file: none of the configured behaviour columns, no lifecycle
    columns, no balances; its own numeric, flag and categorical columns (Churn_Modelling-like names)."""
    rng = np.random.default_rng(seed)
    active = rng.random(n) < 0.5
    return pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)], "cutoff": pd.Timestamp("2000-01-31"),
        "label": pd.array(rng.random(n) < np.where(active, 0.1, 0.3), dtype="Int8"), "labeled": True,
        "credit_score": rng.normal(650, 90, n), "age": rng.integers(18, 80, n).astype(float),
        "geography": pd.Categorical(rng.choice(["France", "Spain", "Germany"], n)),
        "gender": pd.Categorical(rng.choice(["Female", "Male"], n)), "is_active_member": active,
        "constant_flag": True,
    })


def test_a_snapshot_without_the_configured_columns_gets_what_its_columns_allow():
    """Clusters fall back to the file's varying numeric and flag columns; age bands come from age; the file's
    categories are attributes; no value tier (no CLV, no balance) and no lifecycle stage (no time axis)."""
    rows = bank_file()
    log1p, plain, left_out = cluster_columns(rows, log1p=CLUSTERS["log1p"], plain=CLUSTERS["plain"])
    assert log1p == [] and plain == ["credit_score", "age", "is_active_member"]  # the constant flag is out
    assert set(left_out) == {*CLUSTERS["log1p"], *CLUSTERS["plain"]}
    assert value_basis(rows, None) is None and value_basis(rows, pd.DataFrame(columns=["customer_id", "clv"])) is None
    assert "time axis" in lifecycle_reason(rows, time_axis=False)
    clusters = BehaviourClusters(**{**CLUSTERS, "log1p": log1p, "plain": plain}, flags=["is_active_member"]).fit(rows)
    segments = segment_snapshots(rows, None, clusters, income_bands=BANDS, tiers=None, lifecycle=None, margins=MARGINS,
                                 extra_attributes=["geography", "gender"])
    assert {"age_band", "geography", "gender", "cluster_name"} <= set(segments.columns)
    assert not {"income_band", "segment", "region", "value_tier", "lifecycle_stage"} & set(segments.columns)
    assert segments["clv"].isna().all() and segments["monthly_margin"].isna().all()
    assert segments.loc[rows["age"] == 34, "age_band"].astype(str).eq("25-34").all()
    assert segments.loc[rows["age"] == 35, "age_band"].astype(str).eq("35-44").all()
    profiles = profile_table(segments, rows[["label", "labeled"]])
    assert list(dict.fromkeys(profiles["dimension"])) == ["age_band", "cluster_name", "geography", "gender"]
    assert profiles.groupby("dimension")["customers"].sum().eq(len(rows)).all()


def test_configured_columns_that_are_missing_or_constant_are_left_out_not_fatal():
    rows = snapshots(120)
    rows = rows.drop(columns="digital_share_3m").assign(investment_balance=0.0)
    log1p, plain, left_out = cluster_columns(rows, log1p=CLUSTERS["log1p"], plain=CLUSTERS["plain"])
    assert left_out == {"investment_balance": "constant", "digital_share_3m": "missing"}
    assert "investment_balance" not in log1p and plain == ["n_products"]
    assert lifecycle_reason(rows, time_axis=True) is None
    assert "total_balance_trend_3m" in lifecycle_reason(rows.drop(columns="total_balance_trend_3m"), time_axis=True)


def test_value_tiers_fall_back_to_a_partial_margin_and_leave_unvalued_rows_untiered():
    """Only a deposit balance: the margin counts the absent balances and fees as 0 (0.012 x 1200 / 12 = 1.2)."""
    rows = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "cutoff": pd.Timestamp("2024-04-30"),
                         "deposit_balance": [1200.0, 0.0, 2400.0, 600.0]})
    assert value_basis(rows, None) == "monthly_margin"
    assert value_basis(rows, pd.DataFrame({"customer_id": ["a"], "clv": [9.0]})) == "clv"
    value = customer_value(rows, None, scoring_cutoff=pd.Timestamp("2024-04-30"), margins=MARGINS)
    np.testing.assert_allclose(value["monthly_margin"], [1.2, 0.0, 2.4, 0.6])
    tiers = value_tiers(pd.Series([1.0, np.nan, 3.0, 2.0]), pd.Series(["t"] * 4), labels=["low", "medium", "high"])
    assert tiers.astype(object).tolist() == ["low", np.nan, "high", "medium"]


def test_segment_stage_on_a_snapshot_skips_what_needs_a_time_axis(tmp_path, monkeypatch):
    """The stage end to end on a one-cutoff file with an empty clv.parquet: every output written, skips named."""
    import json

    import yaml

    from churnlab.segment import stage as segment

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"] = "snapshot"
    params["segment"]["clusters"] |= {"k_min": 2, "k_max": 3, "silhouette_rows": 200}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    (tmp_path / "data/processed").mkdir(parents=True)
    bank_file().to_parquet("data/processed/snapshots.parquet", index=False)
    pd.DataFrame({"customer_id": pd.Series(dtype="string"), "clv": pd.Series(dtype=float)}).to_parquet(
        "data/processed/clv.parquet", index=False)
    segment.main()
    metrics = json.loads((tmp_path / "reports/metrics/segment.json").read_text())
    assert set(metrics["skipped"]) == {"lifecycle", "value_tier"} and metrics["value_basis"] is None
    assert metrics["clusters"]["columns"] == ["credit_score", "age", "is_active_member"]
    assert metrics["dimensions"] == ["age_band", "geography", "gender", "cluster_name"]
    transitions = pd.read_csv(tmp_path / "reports/lifecycle_transitions.csv")
    assert transitions.empty and list(transitions.columns)[:2] == ["lifecycle_stage_from", "customers"]
    assert len(pd.read_parquet(tmp_path / "data/processed/segments.parquet")) == 240
    assert len(pd.read_csv(tmp_path / "reports/clusters.csv")) == metrics["clusters"]["k"]
