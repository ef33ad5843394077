"""The retention stage end to end on the small pipeline: report, tables, MLflow run, and no raw customer id anywhere."""

import json

import mlflow
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw_ids(pipeline_dir) -> list[str]:
    return pd.read_parquet(pipeline_dir / "data" / "raw" / "customers.parquet")["customer_id"].tolist()


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


def test_mlflow_run_logs_aggregates_without_ids(pipeline_dir, raw_ids):
    mlflow.set_tracking_uri(f"sqlite:///{pipeline_dir / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="tags.stage = 'retention'")
    assert len(runs) >= 1
    run = runs.iloc[0]
    assert "metrics.policies.oracle.net_value" in run and "metrics.uplift.x_learner.qini" in run
    text = " ".join(str(v) for v in run.to_numpy())
    assert not any(i in text for i in set(raw_ids))
