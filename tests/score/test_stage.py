"""The score stage: its parts (cutoffs, grade table, migration, scoring rows, values) on hand-made frames, `run()`
on synthetic snapshots with a tiny champion, and the segment and score mains end to end with a registered champion
(MLflow in tmp_path), also on a one-cutoff snapshot file without customer values."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from snapshot_frames import churn_model, indicators, monthly_case, snapshots

from churnlab.contract.migration import EXIT
from churnlab.core import paths
from churnlab.model.grades import is_monotone
from churnlab.model.split import RandomSplit, TimeSplit, random_split
from churnlab.score.actions import NO_ACTION
from churnlab.score.stage import (
    NO_MIGRATION,
    cutoffs_to_score,
    grade_migration,
    grade_table_on,
    last_cutoffs,
    run,
    scoring_rows,
    value_skips,
)

ROOT = Path(__file__).resolve().parents[2]
POINTS = {"pdo": 20.0, "base_points": 600.0, "base_odds": 50.0}
GRADING = {"thresholds": [600.0], "labels": ["A", "B"], "points_params": POINTS}  # A: p <= 1/51, B: riskier
T = [pd.Timestamp(t) for t in ("2024-01-31", "2024-04-30", "2024-07-31", "2024-10-31", "2025-01-31")]
SCORE = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["score"]
PARAMS = {**SCORE, "grades": {"labels": ["A", "B", "C"], "shares": [0.5, 0.3, 0.2]}}


def test_the_cutoffs_read_are_validation_test_and_the_last_two():
    split = TimeSplit(train=(T[0],), validation=(T[1],), test=T[2])
    assert cutoffs_to_score(list(reversed(T)), split) == [T[1], T[2], T[3], T[4]]
    assert set(cutoffs_to_score([T[0]], RandomSplit(T[0], 0, 0.25, 0.25))) == {T[0]}
    rows = pd.DataFrame({"cutoff": [T[3], T[4], T[1]]})
    assert last_cutoffs(rows) == (T[4], T[3]) and last_cutoffs(rows.iloc[:1]) == (T[3], None)


def test_grade_table_on_the_test_rows_with_the_lowest_points_of_each_grade():
    """p 0.001 (A), 0.001 (A), 0.5 (B), 0.5 (B); churned 0, 0, 1, 0: A churns 0 of 2, B 1 of 2 (lift 2)."""
    test = pd.DataFrame({"label": pd.array([0, 0, 1, 0], dtype="Int8")})
    table = grade_table_on(test, np.array([0.001, 0.001, 0.5, 0.5]), **GRADING)
    assert table["grade"].astype(str).tolist() == ["A", "B"] and table["min_points"].tolist() == [600.0, -np.inf]
    assert table["customers"].tolist() == [2, 2] and table["churn_rate"].tolist() == [0.0, 0.5]
    assert table["lift"].tolist() == [0.0, 2.0] and is_monotone(table)


def test_grade_migration_counts_moves_and_exits_from_the_previous_cutoff():
    """Previous: a A, b B, c A. Now: a B, c A; b left. From A: 2 customers, half to A, half to B; from B: 1, left."""
    previous = pd.DataFrame({"customer_id": ["a", "b", "c"], "cutoff": T[3]})
    now = pd.DataFrame({"customer_id": ["a", "c"], "cutoff": T[4]})
    moves = grade_migration(previous, [0.001, 0.5, 0.001], now, [0.5, 0.001], **GRADING).set_index("grade_from")
    assert moves["customers"].to_dict() == {"A": 2, "B": 1}
    assert moves.loc["A", ["A", "B", EXIT]].tolist() == [0.5, 0.5, 0.0]
    assert moves.loc["B", ["A", "B", EXIT]].tolist() == [0.0, 0.0, 1.0]


def test_with_one_cutoff_the_customers_who_already_churned_are_not_scored():
    rows = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "cutoff": [T[0]] * 3 + [T[1]],
                         "label": pd.array([1, 0, pd.NA, 1], dtype="Int8")})
    assert scoring_rows(rows, T[0], one_cutoff=True)["customer_id"].tolist() == ["b", "c"]
    assert scoring_rows(rows, T[0], one_cutoff=False)["customer_id"].tolist() == ["a", "b", "c"]


def test_value_skips_count_margin_fallbacks_and_skip_loss_and_actions_without_any_value():
    valued = pd.DataFrame({"clv": [100.0, np.nan, np.nan], "monthly_margin": [1.0, 2.0, np.nan]})
    assert value_skips(valued, clv_fallback_months=24) == (1, {})
    fallback, skipped = value_skips(pd.DataFrame({"customer_id": ["a"]}), clv_fallback_months=24)
    assert fallback == 0 and set(skipped) == {"expected_loss", "actions"}


@pytest.fixture(scope="module")
def monthly():
    """Synthetic snapshots at five cutoffs (the last unlabelled), a time split and a tiny calibrated champion."""
    return monthly_case()[:3]


def segments_at(rows: pd.DataFrame, cutoff) -> pd.DataFrame:
    """Segment rows at the scoring cutoff: a bank segment and a CLV rising with the row number."""
    now = rows[rows["cutoff"] == cutoff]
    return pd.DataFrame({"customer_id": now["customer_id"].to_numpy(), "segment": "private",
                         "clv": np.linspace(100.0, 20000.0, len(now)), "monthly_margin": 10.0})


def test_run_grades_migrates_and_warns_on_monthly_snapshots(monthly):
    rows, split, model = monthly
    scoring_cutoff, previous_cutoff = sorted(rows["cutoff"].unique())[-1], sorted(rows["cutoff"].unique())[-2]
    result = run(rows, segments_at(rows, scoring_cutoff), indicators(), model, split=split, champion_version=7,
                 key=b"k", **PARAMS)
    assert result.skipped == {}
    assert set(result.tables) == {paths.EARLY_WARNING, paths.EARLY_WARNING.with_suffix(".csv"), paths.GRADE_TABLE,
                                  paths.GRADE_MIGRATION}
    warning, table = result.tables[paths.EARLY_WARNING], result.tables[paths.GRADE_TABLE]
    migration, metrics = result.tables[paths.GRADE_MIGRATION], result.metrics
    assert len(warning) == int((rows["cutoff"] == scoring_cutoff).sum()) == metrics["customers_scored"]
    assert "customer_id" not in warning and warning["customer_pseudonym"].str.startswith("p_").all()
    assert warning["expected_loss"].is_monotonic_decreasing and warning["rank"].tolist() == list(
        range(1, len(warning) + 1))
    assert table["customers"].sum() == int((rows["cutoff"] == split.test).sum())
    assert migration["customers"].sum() == int((rows["cutoff"] == previous_cutoff).sum())  # each stays or leaves
    assert (metrics["champion_version"], metrics["test_cutoff"]) == (7, str(split.test.date()))
    assert metrics["scoring_cutoff"] == str(pd.Timestamp(scoring_cutoff).date())
    assert metrics["grades"]["labels"] == table["grade"].astype(str).tolist()
    assert metrics["grades"]["test_monotone"] == is_monotone(table)
    assert metrics["expected_loss_total"] == pytest.approx(warning["expected_loss"].sum())
    assert metrics["actions"]["customers_contacted"] == int((warning["action"] != NO_ACTION).sum())
    assert metrics["actions"]["without_reason_features"] == []


def test_the_pseudonym_key_changes_the_ids_only(monthly):
    rows, split, model = monthly
    segments = segments_at(rows, rows["cutoff"].max())
    first, second = (run(rows, segments, indicators(), model, split=split, champion_version=1, key=key, **PARAMS)
                     for key in (b"one", b"two"))
    a, b = first.tables[paths.EARLY_WARNING], second.tables[paths.EARLY_WARNING]
    assert not set(a["customer_pseudonym"]) & set(b["customer_pseudonym"])
    pd.testing.assert_frame_equal(a.drop(columns="customer_pseudonym"), b.drop(columns="customer_pseudonym"))


def test_the_list_s_text_columns_follow_the_report_language_and_its_column_names_do_not(monthly):
    rows, split, model = monthly
    segments = segments_at(rows, rows["cutoff"].max())
    en, zh = (run(rows, segments, indicators(), model, split=split, champion_version=1, key=b"k", language=language,
                  **PARAMS).tables[paths.EARLY_WARNING.with_suffix(".csv")] for language in ("en", "zh"))
    assert list(en.columns) == list(zh.columns) and en["grade"].equals(zh["grade"])
    assert zh["grade_text"].str.contains("风险").all() and not en["grade_text"].str.contains("风险").any()
    assert zh["reason_1"].dropna().str.contains("[\u4e00-\u9fff]").all()


def test_a_misspelt_params_key_is_a_type_error(monthly):
    rows, split, model = monthly
    params = {**{k: v for k, v in PARAMS.items() if k != "clv_fallback_months"}, "clv_fallback_month": 24}
    with pytest.raises(TypeError, match="clv_fallback_month"):
        run(rows, segments_at(rows, rows["cutoff"].max()), indicators(), model, split=split, champion_version=1,
            key=b"k", **params)


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


FILE_CATALOGUE = pd.DataFrame({"feature": ["credit_score", "age", "is_active_member", "geography"],
                               "meaning": "column of the snapshot file"})


def test_run_on_one_cutoff_without_values_skips_migration_loss_and_actions():
    rows = bank_file()
    split = random_split(rows, seed=0, test_share=0.25, validation_share=0.25)
    model = churn_model(split.parts(rows)["train"])
    segments = pd.DataFrame({"customer_id": rows["customer_id"], "age_band": "35-44"})
    result = run(rows, segments, FILE_CATALOGUE, model, split=split, champion_version=1, key=b"k", **PARAMS)
    assert set(result.skipped) == {"grade_migration", "expected_loss", "actions"}
    assert result.skipped["grade_migration"] == NO_MIGRATION
    assert result.metrics["expected_loss_total"] is None
    assert result.metrics["customers_scored"] == int((rows["label"] != 1).sum())  # churners have left
    assert len(result.metrics["actions"]["without_reason_features"]) == 5  # the catalogue names none of these
    migration = result.tables[paths.GRADE_MIGRATION]
    assert migration.empty and list(migration.columns) == ["grade_from", "customers",
                                                           *result.metrics["grades"]["labels"], EXIT]
    warning = result.tables[paths.EARLY_WARNING]
    assert (warning["p_churn"].diff().dropna() <= 0).all() and (warning["action"] == NO_ACTION).all()


def register_champion(model, rows, name: str) -> None:
    from churnlab.core import tracking
    from churnlab.model.serving import log_churn_model

    mlflow = tracking.start()
    with mlflow.start_run(run_name="train"):
        info = log_churn_model(mlflow, model, rows)
    version = mlflow.register_model(info.model_uri, name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)


def start_project(tmp_path, monkeypatch, edit, *, time_axis: bool = True) -> dict:
    """cwd = tmp_path with its own MLflow store, pseudonym key, output folders, data/raw/source.json (a source
    with or without a time axis) and the repository's params as changed by `edit(params)`; returns the params."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    for folder in ("mlruns", "data/processed", "data/raw", "reports", "models"):
        (tmp_path / folder).mkdir(parents=True)
    source = {"source": "simulator" if time_axis else "snapshot", "time_axis": time_axis, "campaigns": time_axis,
              "oracle": time_axis}
    (tmp_path / "data/raw/source.json").write_text(json.dumps(source), encoding="utf-8")
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


def stage_run(name: str):
    """The one MLflow run named `name` in the project store, and the paths of its artifacts."""
    import mlflow

    (found,) = mlflow.search_runs(experiment_names=["churnlab"], filter_string=f"attributes.run_name = '{name}'",
                                  output_format="list")
    client = mlflow.MlflowClient()
    return found, {a.path for a in client.list_artifacts(found.info.run_id, name)}


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
    metrics = json.loads((folder / "reports/metrics/score.json").read_text())
    assert metrics["grades"]["test_monotone"] == is_monotone(table)
    assert metrics["customers_scored"] == len(latest) and "skipped" not in metrics
    raw_ids = set(rows["customer_id"])
    outputs = [p for p in (folder / "reports").rglob("*") if p.is_file()]
    outputs += [p for p in (folder / "mlruns").rglob("*") if p.is_file() and p.suffix in (".csv", ".json", ".txt")]
    for path in outputs:
        text = path.read_text(encoding="utf-8", errors="ignore") if path.suffix != ".parquet" else \
            pd.read_parquet(path).astype(str).to_csv()
        assert not any(i in text for i in raw_ids), f"a raw customer id in {path}"
    db = (folder / "mlruns" / "mlflow.db").read_bytes()
    assert not any(i.encode() in db for i in raw_ids)
    assert (folder / "reports/metrics/segment.json").exists()

    logged, artifacts = stage_run("score")
    assert logged.data.tags["champion"] == "churnlab-churn/1" and logged.data.tags["champion_version"] == "1"
    assert logged.data.tags["grades"] == ",".join(metrics["grades"]["labels"])
    assert logged.data.params["register.model_name"] == "churnlab-churn"
    assert logged.data.metrics["customers_scored"] == len(latest)
    assert artifacts == {"score/grade_table.csv", "score/grade_migration.csv", "score/score.json"}  # no list
    logged, artifacts = stage_run("segment")
    assert logged.data.tags["source"] == "simulator" and "segment/segments.csv" in artifacts
    assert not any(a.endswith(".parquet") for a in artifacts)


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


@pytest.fixture
def snapshot_project(tmp_path, monkeypatch):
    """A snapshot-source project: one cutoff, a random split, no CLV, the file's own catalogue, a tiny champion."""

    def snapshot_params(params: dict) -> None:
        params["segment"]["clusters"] |= {"k_min": 2, "k_max": 3, "silhouette_rows": 300}
        params["score"]["grades"] = {"labels": ["A", "B", "C"], "shares": [0.5, 0.3, 0.2]}

    params = start_project(tmp_path, monkeypatch, snapshot_params, time_axis=False)
    rows = bank_file()
    rows.to_parquet("data/processed/snapshots.parquet", index=False)
    pd.DataFrame({"customer_id": pd.Series(dtype="string"), "clv": pd.Series(dtype=float)}).to_parquet(
        "data/processed/clv.parquet", index=False)  # survival skips a source without a time axis
    FILE_CATALOGUE.to_csv("reports/indicators.csv", index=False)
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
    logged, _ = stage_run("score")
    assert {f"skipped.{part}" for part in metrics["skipped"]} <= set(logged.data.tags)
