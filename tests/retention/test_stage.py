"""The retention stage: what it skips and why on data without campaigns, churn events or a time axis; and end to
end on the small pipeline (slow): report, tables, MLflow run, and no raw customer id anywhere."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from frames import customer, months, tables
from snapshot_frames import churn_model, snapshots

from churnlab.contract.schema import empty_table
from churnlab.retention.campaign import campaign_outcomes
from churnlab.retention.stage import TABLES, campaign_problem, churner_problem

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = pd.DataFrame({"customer_id": ["a", "b", "c"], "month": pd.Timestamp("2022-03-31"),
                          "treated": [True, False, True], "cost": [60.0, 0.0, 60.0]})
EVENTS = pd.DataFrame({"customer_id": ["a"], "churn_month": [pd.Timestamp("2022-05-31")],
                       "churn_type": ["voluntary_closure"]})


def test_campaign_problems_name_what_is_missing():
    assert "no time axis" in campaign_problem(None, None)
    assert "no campaign rows" in campaign_problem(empty_table("campaigns"), None)
    late = campaign_outcomes(CAMPAIGNS, EVENTS, horizon_months=6, last_month=pd.Timestamp("2022-06-30"))
    assert late.empty and "outcome window" in campaign_problem(CAMPAIGNS, late)
    treated_only = CAMPAIGNS[CAMPAIGNS["treated"]]
    outcomes = campaign_outcomes(treated_only, EVENTS, horizon_months=3, last_month=pd.Timestamp("2022-12-31"))
    assert "only treated customers" in campaign_problem(treated_only, outcomes)
    outcomes = campaign_outcomes(CAMPAIGNS, EVENTS, horizon_months=3, last_month=pd.Timestamp("2022-12-31"))
    assert campaign_problem(CAMPAIGNS, outcomes) is None


def test_churner_problems_name_what_is_missing():
    assert "no time axis" in churner_problem(None)
    assert "no churn events" in churner_problem(empty_table("churn_events"))
    assert churner_problem(EVENTS) is None


def retention_project(folder: Path, monkeypatch, *, source: str, retention: dict) -> pd.DataFrame:
    """A project without campaigns or churn events (contract tables unless `source` is snapshot), snapshots with
    the catalogue's columns, CLV at the latest cutoff and a tiny model in models/churn_model.pkl (no registry)."""
    from churnlab.model.churn import save_model

    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"] = source
    params["retention"] |= retention
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    for name in ("data/raw", "data/processed", "models"):
        (folder / name).mkdir(parents=True)
    if source != "snapshot":
        raw = tables([customer("a"), customer("b")], months("a", 0, 9) + months("b", 0, 9), n_months=10)
        raw |= {"churn_events": empty_table("churn_events"), "campaigns": empty_table("campaigns")}
        for name, frame in raw.items():
            frame.to_parquet(f"data/raw/{name}.parquet", index=False)
    rows = snapshots(200)
    rows.to_parquet("data/processed/snapshots.parquet", index=False)
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    pd.DataFrame({"customer_id": latest["customer_id"], "clv": np.linspace(100, 3000, len(latest)),
                  "monthly_margin": 10.0}).to_parquet("data/processed/clv.parquet", index=False)
    save_model(churn_model(rows[rows["labeled"]]), "models/churn_model.pkl")
    return latest


def test_without_campaigns_or_churn_events_only_the_profit_curve_runs(tmp_path, monkeypatch):
    """A contract without campaigns or churn events, with the save rate and offer cost set in params: the profit
    curve runs on the latest cutoff; the campaign's parts and the churners' are skipped, with header-only tables."""
    from churnlab.retention import stage as retention

    latest = retention_project(tmp_path, monkeypatch, source="contract", retention={"save_rate": 0.2,
                                                                                    "offer_cost": 50.0})
    retention.main()
    report = json.loads((tmp_path / "reports/metrics/retention.json").read_text())
    assert set(report["skipped"]) == {"campaign", "uplift", "policies", "campaign_survival", "churners",
                                      "archetypes", "winback"}
    assert "no campaign rows" in report["skipped"]["campaign"] and "no churn events" in report["skipped"]["churners"]
    assert report["profit"]["customers"] == len(latest) and report["profit"]["save_rate"] == 0.2
    assert "campaign" not in report and "policies" not in report
    for name, columns in TABLES.items():
        table = pd.read_csv(tmp_path / "reports/retention" / f"{name}.csv")
        assert list(table.columns)[:len(columns)] == columns
        assert table.empty == (name != "profit_curve")


def test_on_a_snapshot_every_part_is_skipped_with_its_reason(tmp_path, monkeypatch):
    """No time axis, and no save rate to value a contact by: nothing to compute, every reason given."""
    from churnlab.retention import stage as retention

    retention_project(tmp_path, monkeypatch, source="snapshot", retention={"save_rate": None})
    retention.main()
    report = json.loads((tmp_path / "reports/metrics/retention.json").read_text())
    assert "no save rate" in report["skipped"]["profit"]
    assert all("time axis" in report["skipped"][part] for part in ("campaign", "churners", "winback"))
    assert len(list((tmp_path / "reports/retention").glob("*.csv"))) == len(TABLES)


@pytest.fixture(scope="module")
def raw_ids(pipeline_dir) -> list[str]:
    return pd.read_parquet(pipeline_dir / "data" / "raw" / "customers.parquet")["customer_id"].tolist()


@pytest.mark.slow
def test_report_records_every_required_figure(pipeline_dir):
    report = json.loads((pipeline_dir / "reports" / "metrics" / "retention.json").read_text())
    for ranking in ("risk", "expected_loss"):
        assert 0 <= report["profit"][ranking]["optimal_share"] <= 1
        assert "optimal_profit" in report["profit"][ranking]
    for learner in ("t_learner", "x_learner"):
        assert {"qini", "auuc", "uplift_at_10", "uplift_at_30"} <= set(report["uplift"][learner])
    policies = report["policies"]
    assert set(policies) == {"random", "risk", "expected_loss", "uplift", "uplift_value", "oracle"}
    assert policies["oracle"]["share_of_oracle"] == pytest.approx(1.0)
    assert max(policies, key=lambda p: policies[p]["net_value"]) == "oracle"
    assert "rmst_gain_months" in report["survival"] and -1 <= report["archetypes"]["ari"] <= 1


@pytest.mark.slow
def test_no_raw_customer_id_in_any_output(pipeline_dir, raw_ids):
    outputs = [pipeline_dir / "reports" / "metrics" / "retention.json",
               *sorted((pipeline_dir / "reports" / "retention").glob("*.csv"))]
    assert len(outputs) >= 9
    sample = set(raw_ids)
    for path in outputs:
        text = path.read_text()
        leaked = [i for i in sample if i in text]
        assert not leaked, f"{path.name} holds raw customer ids, e.g. {leaked[:3]}"
    winback = pd.read_csv(pipeline_dir / "reports" / "retention" / "winback.csv")
    assert winback["customer"].str.match(r"^p_[0-9a-f]{16}$").all()


@pytest.mark.slow
def test_mlflow_run_logs_aggregates_without_ids(pipeline_dir, raw_ids):
    mlflow.set_tracking_uri(f"sqlite:///{pipeline_dir / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="tags.stage = 'retention'")
    assert len(runs) >= 1
    run = runs.iloc[0]
    assert "metrics.policies.oracle.net_value" in run and "metrics.uplift.x_learner.qini" in run
    text = " ".join(str(v) for v in run.to_numpy())
    assert not any(i in text for i in set(raw_ids))
