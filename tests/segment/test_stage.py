"""The segment stage: its parts (columns read, value, clusters, lifecycle skips, the segments table), `run()` on
tiny frames with and without a time axis, and `main()` end to end on a snapshot file with its MLflow run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snapshot_frames import snapshots

from churnlab.contract.lifecycle import lifecycle_reason
from churnlab.contract.source import Source
from churnlab.core import paths
from churnlab.core.engine import SparkSql
from churnlab.core.lake import read_manifest, read_rows
from churnlab.segment.clusters import BehaviourClusters, cluster_columns
from churnlab.segment.profiles import profile_table
from churnlab.segment.stage import (
    fit_clusters,
    lifecycle_skips,
    run,
    segment_snapshots,
    snapshot_columns,
    value_skips,
)
from churnlab.segment.value import ValueBasisWarning, value_basis

ROOT = Path(__file__).resolve().parents[2]
BANDS = {"edges": [0, 1500, 3000, np.inf], "labels": ["low", "mid", "high"]}
MARGINS = {"deposit_margin": 0.012, "investment_fee_rate": 0.0, "loan_margin": 0.0}
LIFECYCLE = {"acquisition_months": 6, "growth_months": 24, "decline_balance_ratio": 0.8, "decline_product_drop": 1,
             "growth_balance_ratio": 1.25}
CLUSTERS = {"log1p": ["deposit_balance", "investment_balance", "loan_balance", "tx_count", "fees_3m"],
            "plain": ["n_products", "digital_share_3m"], "k_min": 2, "k_max": 3, "silhouette_rows": 300,
            "name_threshold_sd": 0.5, "seed": 0}
PARAMS = {"income_bands": BANDS, "value_tiers": ["low", "medium", "high"], "lifecycle": LIFECYCLE,
          "clusters": {**{k: v for k, v in CLUSTERS.items() if k != "seed"}, "fit_rows": 50,
                       "silhouette_tolerance": 0.0}}
MONTHLY = Source("simulator", time_axis=True, campaigns=True, oracle=True, closures=True)
SNAPSHOT = Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False)


def test_the_columns_read_are_those_used_except_on_a_snapshot_file():
    available = ["customer_id", "cutoff", "label", "labeled", "age", "deposit_balance", "fees_3m", "tenure_months",
                 "tx_amount", "geography"]
    used = snapshot_columns(available, clusters={"log1p": ["fees_3m", "tx_count"], "plain": []}, time_axis=True)
    assert used == ["customer_id", "cutoff", "label", "labeled", "age", "deposit_balance", "fees_3m", "tenure_months"]
    assert snapshot_columns(available, clusters=PARAMS["clusters"], time_axis=False) == available


def test_value_skips_warn_on_the_margin_and_skip_without_any_value():
    assert value_skips("clv") == {}
    with pytest.warns(ValueBasisWarning, match="monthly margin"):
        assert value_skips("monthly_margin") == {}
    assert set(value_skips(None)) == {"value_tier"} and "deposit_balance" in value_skips(None)["value_tier"]


def test_lifecycle_needs_a_time_axis_its_columns_and_two_cutoffs_for_transitions():
    rows = snapshots(40)
    assert lifecycle_skips(rows, time_axis=True) == {}
    assert set(lifecycle_skips(rows, time_axis=False)) == {"lifecycle"}
    assert "tenure_months" in lifecycle_skips(rows.drop(columns="tenure_months"), time_axis=True)["lifecycle"]
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    assert set(lifecycle_skips(latest, time_axis=True)) == {"lifecycle_transitions"}


def test_fit_clusters_samples_the_scoring_cutoff_and_skips_what_cannot_be_clustered():
    rows = snapshots(120)
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    options = PARAMS["clusters"]
    clusters, left_out, skipped = fit_clusters(latest, seed=0, **options)
    assert skipped == {} and left_out == {} and clusters.fit_rows_ == 50 and 2 <= clusters.k_ <= 3
    two = pd.DataFrame({"customer_id": [f"C{i}" for i in range(20)], "fees_3m": [1.0, 2.0] * 10})
    none, _, skipped = fit_clusters(two, seed=0, **{**options, "log1p": ["fees_3m"], "plain": [], "k_min": 3})
    assert none is None
    assert skipped == {"clusters": "20 rows hold 2 distinct behaviour profile(s): fewer than k_min = 3 clusters"}


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


def test_run_forms_every_segmentation_on_monthly_snapshots():
    """Five cutoffs with a CLV for every customer at the last (the 60 of 120 who stayed): nothing skipped, tiers on
    CLV, every table formed; the clusters fit on 50 of those 60."""
    rows = snapshots(120)
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    clv = pd.DataFrame({"customer_id": latest["customer_id"], "clv": np.linspace(10, 1000, len(latest))})
    result = run(rows, clv, source=MONTHLY, seed=0, margins=MARGINS, **PARAMS)
    assert result.skipped == {}
    assert set(result.tables) == {paths.SEGMENTS, paths.SEGMENT_PROFILES, paths.CLUSTER_PROFILES,
                                  paths.LIFECYCLE_TRANSITIONS}
    segments, metrics = result.tables[paths.SEGMENTS], result.metrics
    assert len(segments) == len(rows) and segments["clv"].notna().sum() == len(latest)
    assert (metrics["source"], metrics["rows"], metrics["cutoffs"], metrics["customers_now"]) == (
        "simulator", len(rows), 5, len(latest))
    assert (metrics["value_basis"], metrics["clv_missing_now"]) == ("clv", 0)
    assert metrics["dimensions"] == ["age_band", "income_band", "segment", "region", "cluster_name", "value_tier",
                                     "lifecycle_stage"]
    assert metrics["clusters"]["fit_rows"] == 50 and len(metrics["clusters"]["names"]) == metrics["clusters"]["k"]
    assert np.isclose(sum(metrics["lifecycle_share_now"].values()), 1.0)
    now = segments[segments["cutoff"] == segments["cutoff"].max()]
    counts = now["value_tier"].value_counts()
    assert set(counts.index) == {"low", "medium", "high"} and counts.max() - counts.min() <= 1  # equal-count
    assert len(result.tables[paths.LIFECYCLE_TRANSITIONS]) >= 2 and result.files()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::churnlab.segment.value.ValueBasisWarning")  # no CLV: tiers on the margin
def test_clusters_assigned_on_spark_change_no_output(spark):
    """Monthly snapshots, and a bank file clustered on its own numeric and flag columns: the same tables and metrics
    when Spark assigns the clusters."""
    rows = snapshots(120)
    cases = [(rows, MONTHLY), (bank_file(), SNAPSHOT)]
    for frame, source in cases:
        local = run(frame, None, source=source, seed=0, margins=MARGINS, **PARAMS)
        on_spark = run(frame, None, source=source, seed=0, margins=MARGINS, sql=SparkSql(spark), **PARAMS)
        assert "behaviour_cluster" in local.tables[paths.SEGMENTS], source.name
        assert on_spark.metrics == local.metrics and on_spark.skipped == local.skipped
        for path, table in local.tables.items():
            pd.testing.assert_frame_equal(on_spark.tables[path], table, check_exact=True, obj=str(path))


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


def test_run_on_a_snapshot_source_skips_what_needs_a_time_axis_or_a_value():
    """The capability decides, not the name: the same file from a source without a time axis gets no lifecycle
    and its categories as attributes; with an (odd) time axis it would try a lifecycle and lack its columns."""
    empty_clv = pd.DataFrame({"customer_id": pd.Series(dtype="string"), "clv": pd.Series(dtype=float)})
    result = run(bank_file(), empty_clv, source=SNAPSHOT, seed=0, margins=MARGINS, **PARAMS)
    assert set(result.skipped) == {"lifecycle", "value_tier"} and "time axis" in result.skipped["lifecycle"]
    assert result.metrics["value_basis"] is None and result.metrics["source"] == "snapshot"
    assert result.metrics["dimensions"] == ["age_band", "geography", "gender", "cluster_name"]
    assert result.tables[paths.LIFECYCLE_TRANSITIONS].empty
    assert "lifecycle_share_now" not in result.metrics
    monthly = run(bank_file(), empty_clv, source=MONTHLY, seed=0, margins=MARGINS, **PARAMS)
    assert "lack column" in monthly.skipped["lifecycle"] and "geography" not in monthly.metrics["dimensions"]


def test_a_misspelt_params_key_is_a_type_error():
    with pytest.raises(TypeError, match="value_tier"):
        run(bank_file(), None, source=SNAPSHOT, seed=0, margins=MARGINS,
            **{**{k: v for k, v in PARAMS.items() if k != "value_tiers"}, "value_tier": ["a", "b"]})


def snapshot_project(folder: Path, monkeypatch, *, engine: dict | None = None) -> dict:
    """`folder` as the project root of a one-cutoff file with an empty clv.parquet, data/raw/source.json saying
    there is no time axis, MLflow inside it and params.yaml (with `engine` when given); returns the params."""
    import yaml

    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["segment"]["clusters"] |= {"k_min": 2, "k_max": 3, "silhouette_rows": 200}
    (folder / "params.yaml").write_text(yaml.safe_dump({**params, **({"engine": engine} if engine else {})}),
                                        encoding="utf-8")
    for sub in ("data/processed", "data/raw"):
        (folder / sub).mkdir(parents=True)
    (folder / "data/raw/source.json").write_text(json.dumps(
        {"source": "snapshot", "time_axis": False, "campaigns": False, "oracle": False}), encoding="utf-8")
    bank_file().to_parquet(folder / "data/processed/snapshots.parquet", index=False)
    pd.DataFrame({"customer_id": pd.Series(dtype="string"), "clv": pd.Series(dtype=float)}).to_parquet(
        folder / "data/processed/clv.parquet", index=False)
    return params


def test_segment_stage_on_a_snapshot_skips_what_needs_a_time_axis(tmp_path, monkeypatch):
    """`main()` end to end on a one-cutoff file with an empty clv.parquet and data/raw/source.json saying there is
    no time axis: every output written, skips named, and one MLflow run with the reports but no ids."""
    import mlflow

    from churnlab.segment import stage as segment

    params = snapshot_project(tmp_path, monkeypatch)
    segment.main()
    metrics = json.loads((tmp_path / "reports/metrics/segment.json").read_text())
    assert set(metrics["skipped"]) == {"lifecycle", "value_tier"} and metrics["value_basis"] is None
    assert metrics["source"] == "snapshot"
    assert metrics["clusters"]["columns"] == ["credit_score", "age", "is_active_member"]
    assert metrics["dimensions"] == ["age_band", "geography", "gender", "cluster_name"]
    transitions = pd.read_csv(tmp_path / "reports/lifecycle_transitions.csv")
    assert transitions.empty and list(transitions.columns)[:2] == ["lifecycle_stage_from", "customers"]
    assert len(pd.read_parquet(tmp_path / "data/processed/segments.parquet")) == 240
    assert len(pd.read_csv(tmp_path / "reports/clusters.csv")) == metrics["clusters"]["k"]

    (run_,) = mlflow.search_runs(experiment_names=["churnlab"], output_format="list")
    assert run_.info.run_name == "segment"
    tags, logged = run_.data.tags, run_.data.params
    assert (tags["source"], tags["kind"], tags["value_basis"]) == ("snapshot", "segment", "None")
    assert {"skipped.lifecycle", "skipped.value_tier", "data_md5.data/raw/source.json"} <= set(tags)
    assert logged["base.seed"] == str(params["base"]["seed"]) and logged["segment.clusters.k_min"] == "2"
    assert "survival.clv.margins.deposit_margin" in logged
    assert run_.data.metrics["clusters.k"] == metrics["clusters"]["k"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run_.info.run_id, "segment")}
    assert artifacts == {"segment/segments.csv", "segment/clusters.csv", "segment/lifecycle_transitions.csv",
                         "segment/segment.json"}  # not segments.parquet: it holds raw customer ids


@pytest.mark.slow
def test_engine_spark_assigns_the_clusters_on_spark_and_changes_no_output(tmp_path, monkeypatch, spark):
    """params.yaml `engine` -> main() -> open_engine in one hop; the files are the local engine's, to the byte."""
    import mlflow

    from churnlab.segment import stage as segment

    written = {}
    engine = {"name": "spark", "spark": {"master": "local[2]", "remote": None, "conf": {"spark.ui.enabled": False}}}
    opened = []

    def test_session(settings):
        opened.append(settings)
        return SparkSql(spark)  # the test session's Spark: close() leaves it running

    monkeypatch.setattr(segment, "open_engine", test_session)
    for name, chosen in (("local", None), ("spark", engine)):
        (tmp_path / name).mkdir()
        snapshot_project(tmp_path / name, monkeypatch, engine=chosen)
        segment.main()
        written[name] = {path: (tmp_path / name / path).read_bytes() for path in (
            "data/processed/segments.parquet", "reports/segments.csv", "reports/clusters.csv",
            "reports/metrics/segment.json")}
    assert opened == [engine]
    for path, content in written["local"].items():
        assert written["spark"][path] == content, path
    (run_,) = mlflow.search_runs(experiment_names=["churnlab"], output_format="list")
    assert run_.data.params["engine.name"] == "spark"

    # with a lake: the same segments, in the lake; segments.parquet is their manifest
    (tmp_path / "lake").mkdir()
    snapshot_project(tmp_path / "lake", monkeypatch, engine={**engine, "spark": {**engine["spark"], "lake": "lake"}})
    (tmp_path / "lake" / "dvc.yaml").write_text("stages: {}\n")  # the project root a relative lake is under
    segment.main()
    manifest = read_manifest(tmp_path / "lake" / paths.SEGMENTS)
    assert manifest.location == f"lake/segments/{manifest.hash}"
    pd.testing.assert_frame_equal(read_rows(tmp_path / "lake" / paths.SEGMENTS),
                                  pd.read_parquet(tmp_path / "local" / paths.SEGMENTS), check_exact=True)
    assert (tmp_path / "lake/reports/segments.csv").read_bytes() == written["local"]["reports/segments.csv"]
