"""The early-warning list: pseudonymous ids only, expected loss = p x CLV, actions; the segment and score
stages end to end on synthetic files with a registered champion (MLflow in tmp_path), also on a one-cutoff
snapshot file without customer values."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snapshot_frames import churn_model, indicators, snapshots

from churnlab.model.grades import is_monotone
from churnlab.score.actions import NO_ACTION, catalogue
from churnlab.score.stage import build_early_warning, customer_clv

ROOT = Path(__file__).resolve().parents[2]
KEY = b"test-key"
POINTS = {"pdo": 20.0, "base_points": 600.0, "base_odds": 50.0}
ACTIONS = catalogue({"complaint_recovery": {"cost": 40.0, "channel": "phone", "response": 0.4,
                                            "reasons": ["complaints_3m"]}})


def scoring_inputs(n: int = 4):
    scoring = pd.DataFrame({"customer_id": [f"C{i:04d}" for i in range(n)], "cutoff": pd.Timestamp("2024-03-31")})
    reasons = pd.DataFrame({"reason_1": ["Formal complaints over the last 3 months: up"] * n,
                            "reason_1_feature": ["complaints_3m"] * n, "reason_1_direction": ["up"] * n})
    segments = pd.DataFrame({"customer_id": scoring["customer_id"][::-1].to_numpy(), "age_band": "35-44",
                             "income_band": "2.2-3.2k", "segment": "mass", "region": "north", "behaviour_cluster": 0,
                             "cluster_name": "savers", "lifecycle_stage": "maturity", "value_tier": "high",
                             "clv": [np.nan, 1000.0, 100.0, 2000.0][:n], "monthly_margin": 10.0})
    return scoring, reasons, segments


def test_early_warning_has_pseudonyms_expected_loss_and_actions():
    """Customers C0..C3 with p 0.5, 0.5, 0.1, 0.5 and CLV 2000, 100, 1000, none (-> 10 x 24 = 240):
    expected loss 1000, 50, 100, 120; complaint recovery pays for C0 (0.4 x 1000 - 40 = 360) and C3 (48 - 40)."""
    scoring, reasons, segments = scoring_inputs()
    warning = build_early_warning(scoring, [0.5, 0.5, 0.1, 0.5], reasons, segments, thresholds=[600.0],
                                  grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS,
                                  clv_fallback_months=24, key=KEY)
    assert "customer_id" not in warning.columns
    assert warning["customer_pseudonym"].str.match(r"^p_[0-9a-f]{16}$").all()
    assert not warning.astype(str).apply(lambda c: c.str.contains("C000")).any().any()
    np.testing.assert_allclose(warning["expected_loss"], [1000.0, 120.0, 100.0, 50.0])
    assert warning["rank"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(warning["expected_net_benefit"], [360.0, 8.0, 0.0, 0.0])
    assert warning["action"].tolist()[2:] == [NO_ACTION, NO_ACTION]
    assert (warning["grade"] == "B").all()  # p >= 0.1 is below 600 points (600 points = p 1/51)


def test_segments_without_customer_ids_are_named():
    """Segment columns are optional (a snapshot has no lifecycle stage), the customer id is not."""
    scoring, reasons, segments = scoring_inputs()
    with pytest.raises(KeyError, match="customer_id"):
        build_early_warning(scoring, [0.5] * 4, reasons, segments.drop(columns="customer_id"),
                            thresholds=[600.0], grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS,
                            clv_fallback_months=24, key=KEY)


def register_champion(model, rows, name: str) -> None:
    from churnlab.core import tracking
    from churnlab.model.serving import log_churn_model

    mlflow = tracking.start()
    with mlflow.start_run(run_name="train"):
        info = log_churn_model(mlflow, model, rows)
    version = mlflow.register_model(info.model_uri, name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)


def start_project(tmp_path, monkeypatch, edit) -> dict:
    """cwd = tmp_path with its own MLflow store, pseudonym key, output folders and the repository's params as
    changed by `edit(params)`; returns the params."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    for folder in ("mlruns", "data/processed", "reports", "models"):
        (tmp_path / folder).mkdir(parents=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    edit(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return params


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with synthetic snapshots, CLV, catalogue, split and a registered tiny champion."""
    params = start_project(tmp_path, monkeypatch, lambda p: p["segment"]["clusters"].update(
        k_min=2, k_max=4, fit_rows=400, silhouette_rows=300))
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    rows = snapshots(500, seed=3)
    rows.to_parquet("data/processed/snapshots.parquet", index=False)
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    pd.DataFrame({"customer_id": latest["customer_id"], "clv": np.linspace(50, 5000, len(latest))}).to_parquet(
        "data/processed/clv.parquet", index=False)
    indicators().to_csv("reports/indicators.csv", index=False)
    cutoffs = [str(t.date()) for t in sorted(rows["cutoff"].unique())]
    Path("models/split.json").write_text(json.dumps({"train": cutoffs[:1], "validation": cutoffs[1:2],
                                                     "test": cutoffs[3]}), encoding="utf-8")
    train, validation = (rows[rows["cutoff"] == pd.Timestamp(t)] for t in cutoffs[:2])
    register_champion(churn_model(train, calibrate_on=validation), train, params["register"]["model_name"])
    return tmp_path, rows


@pytest.mark.slow
def test_segment_and_score_stages_write_outputs_without_raw_ids(project):
    from churnlab.score import stage as score
    from churnlab.segment import stage as segment

    folder, rows = project
    segment.main()
    score.main()
    warning = pd.read_csv(folder / "reports/early_warning.csv")
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    assert len(warning) == len(latest)
    assert warning["reason_1"].notna().mean() > 0.9
    assert {"p_churn", "points", "grade", "cluster_name", "lifecycle_stage", "clv", "expected_loss", "action",
            "expected_net_benefit"} <= set(warning.columns)
    table = pd.read_csv(folder / "reports/grade_table.csv")
    assert is_monotone(table) or json.loads((folder / "reports/metrics/score.json").read_text())["grades"][
        "test_monotone"] is False
    raw_ids = set(rows["customer_id"])
    outputs = [p for p in (folder / "reports").rglob("*") if p.is_file()]
    outputs += [p for p in (folder / "mlruns").rglob("*") if p.is_file() and p.suffix in (".csv", ".json", ".txt")]
    for path in outputs:
        text = path.read_text(encoding="utf-8", errors="ignore") if path.suffix != ".parquet" else \
            pd.read_parquet(path).astype(str).to_csv()
        assert not any(i in text for i in raw_ids), f"a raw customer id in {path}"
    db = (folder / "mlruns" / "mlflow.db").read_bytes()
    assert not any(i.encode() in db for i in raw_ids)
    for name in ("segment.json", "score.json"):
        assert (folder / "reports/metrics" / name).exists()


@pytest.mark.slow
def test_pipeline_early_warning_has_no_raw_ids_and_monotone_grades(pipeline_dir):
    """After `dvc repro` on the test profile: the list exists, holds pseudonyms only, and grades are monotone."""
    warning = pd.read_csv(pipeline_dir / "reports/early_warning.csv")
    snapshots = pd.read_parquet(pipeline_dir / "data/processed/snapshots.parquet", columns=["customer_id"])
    ids = set(snapshots["customer_id"])
    assert len(warning) and warning["customer_pseudonym"].str.startswith("p_").all()
    text = (pipeline_dir / "reports/early_warning.csv").read_text(encoding="utf-8")
    assert not any(i in text for i in ids)
    metrics = json.loads((pipeline_dir / "reports/metrics/score.json").read_text(encoding="utf-8"))
    assert metrics["grades"]["test_monotone"], pd.read_csv(pipeline_dir / "reports/grade_table.csv").to_string()


def test_early_warning_without_customer_values_ranks_by_risk_and_recommends_nothing():
    """A snapshot file's segments: no CLV, no margin, no bank segment, no lifecycle stage or value tier. The list
    keeps the columns that exist, has no expected loss, ranks by churn probability and offers no action."""
    scoring, reasons, _ = scoring_inputs()
    segments = pd.DataFrame({"customer_id": scoring["customer_id"], "age_band": "35-44", "behaviour_cluster": 0,
                             "cluster_name": "everyday customers (high age)"})
    assert customer_clv(segments, fallback_months=24)[0].isna().all()
    warning = build_early_warning(scoring, [0.2, 0.7, 0.1, 0.4], reasons, segments, thresholds=[600.0],
                                  grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS,
                                  clv_fallback_months=24, key=KEY)
    assert warning["p_churn"].tolist() == [0.7, 0.4, 0.2, 0.1]
    assert warning["expected_loss"].isna().all() and (warning["action"] == NO_ACTION).all()
    assert {"age_band", "cluster_name"} <= set(warning.columns)
    assert not {"segment", "lifecycle_stage", "value_tier", "income_band"} & set(warning.columns)
    with pytest.raises(KeyError, match="no row for 1 scored customer"):
        build_early_warning(scoring, [0.5] * 4, reasons, segments.iloc[1:], thresholds=[600.0],
                            grade_labels=["A", "B"], points_params=POINTS, actions=ACTIONS, clv_fallback_months=24,
                            key=KEY)


def bank_file(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """One cutoff of a bank's customer file (Churn_Modelling-like columns); older, inactive customers leave more."""
    rng = np.random.default_rng(seed)
    age, active = rng.integers(18, 80, n).astype(float), rng.random(n) < 0.5
    churn = rng.random(n) < 1 / (1 + np.exp(-(-3.0 + 0.06 * (age - 40) + 1.2 * ~active)))
    return pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(n)], "cutoff": pd.Timestamp("2000-01-31"),
        "label": pd.array(churn.astype(int), dtype="Int8"), "labeled": True,
        "credit_score": rng.normal(650, 90, n), "age": age, "is_active_member": active,
        "geography": pd.Categorical(rng.choice(["France", "Spain", "Germany"], n)),
    })


@pytest.fixture
def snapshot_project(tmp_path, monkeypatch):
    """A snapshot-source project: one cutoff, a random split, no CLV, the file's own catalogue, a tiny champion."""
    from churnlab.model.split import random_split

    def snapshot_params(params: dict) -> None:
        params["data"]["source"] = "snapshot"
        params["segment"]["clusters"] |= {"k_min": 2, "k_max": 3, "silhouette_rows": 300}
        params["score"]["grades"] = {"labels": ["A", "B", "C"], "shares": [0.5, 0.3, 0.2]}

    params = start_project(tmp_path, monkeypatch, snapshot_params)
    rows = bank_file()
    rows.to_parquet("data/processed/snapshots.parquet", index=False)
    pd.DataFrame({"feature": ["credit_score", "age", "is_active_member", "geography"],
                  "meaning": "column of the snapshot file"}).to_csv("reports/indicators.csv", index=False)
    split = random_split(rows, seed=0, test_share=0.25, validation_share=0.25)
    Path("models/split.json").write_text(json.dumps(split.as_dict()), encoding="utf-8")
    train = split.parts(rows)["train"]
    register_champion(churn_model(train), train, params["register"]["model_name"])
    return tmp_path, rows


@pytest.mark.slow
def test_segment_and_score_stages_on_a_snapshot_skip_what_the_file_cannot_give(snapshot_project):
    from churnlab.score import stage as score
    from churnlab.segment import stage as segment

    folder, rows = snapshot_project
    segment.main()
    score.main()
    metrics = json.loads((folder / "reports/metrics/score.json").read_text())
    assert set(metrics["skipped"]) == {"grade_migration", "expected_loss", "actions"}
    assert metrics["expected_loss_total"] is None
    assert metrics["customers_scored"] == int((rows["label"] != 1).sum())  # churners have left: nobody to warn
    assert len(metrics["actions"]["without_reason_features"]) == 5  # the bank catalogue names none of these columns
    warning = pd.read_csv(folder / "reports/early_warning.csv")
    assert (warning["p_churn"].diff().dropna() <= 0).all() and (warning["action"] == NO_ACTION).all()
    assert {"age_band", "cluster_name"} <= set(warning.columns) and "lifecycle_stage" not in warning
    assert warning["reason_1"].dropna().str.match(r"^(credit score|age|is active member|geography): ").all()
    migration = pd.read_csv(folder / "reports/grade_migration.csv")
    assert migration.empty and list(migration.columns)[:2] == ["grade_from", "customers"]
    assert len(pd.read_csv(folder / "reports/grade_table.csv")) >= 2
