"""The monitor stage's table helpers, its skips (no time axis, no month after training), and end to end on the
small pipeline profile (slow)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from frames import customer, month, months, tables

from churnlab.model.split import TimeSplit
from churnlab.monitor import stage as monitor
from churnlab.monitor.stage import HEADERS, grade_shares, jsonable, summarise_months

ROOT = Path(__file__).resolve().parents[2]


def test_summarise_months_lists_drifting_features_per_month():
    months = [pd.Timestamp("2024-01-31"), pd.Timestamp("2024-02-29")]
    scores = [{"month": m, "rows": 10, "score_psi": 0.01, "score_threshold": 0.1} for m in months]
    stability = pd.DataFrame({"month": [months[0], months[0], months[1]],
                              "feature": ["promo_index", "age", "age"], "group": ["market", "customer", "customer"],
                              "drifting": [True, True, False]})
    performance = pd.DataFrame({"month": months, "rows": [10, 10], "expected_auc": [0.7, 0.71],
                                "auc": [0.72, np.nan]})
    table = summarise_months(scores, stability, performance)
    assert table["market_drifting"].tolist() == [["promo_index"], []]
    assert table["drifting_features"].tolist() == [["age"], []]
    table = table.assign(expected_auc_low=0.6, expected_auc_high=0.8, expected_churn_rate=0.1, churn_rate=0.1,
                         alert=[True, False], retrain=[True, False], reasons=[["x"], []], score_null_quantile=0.001,
                         grade_shares=[{}, {}])
    payload = jsonable(table)
    assert payload["2024-02-29"]["auc"] is None and payload["2024-01-31"]["alert"] is True
    json.dumps(payload)


def test_grade_shares_uses_the_score_stage_boundaries():
    grading = {"labels": ["A", "B"], "min_points": [600.0],
               "points": {"pdo": 20, "base_points": 600, "base_odds": 50}}
    shares = grade_shares(np.array([0.01, 0.01, 0.5, 0.5]), grading)  # p = 1/101 -> 620 points (A); 0.5 -> B
    assert shares == {"A": 0.5, "B": 0.5}
    assert grade_shares(np.array([0.1]), None) == {}


@pytest.mark.slow
def test_monitor_stage_on_the_small_pipeline(pipeline_dir):
    metrics = json.loads((pipeline_dir / "reports/metrics/monitor.json").read_text())
    assert metrics["months_monitored"] >= 3 and metrics["champion"]["version"] >= 1
    sim = metrics["simulator"]
    assert sim["false_alarm_rate"] is not None and sim["detection_rate"] is not None
    assert sim["detection_rate_promotion"] == 1.0  # every month of the promotion is in alert
    stability = pd.read_csv(pipeline_dir / "reports/monitor/stability.csv", parse_dates=["month"])
    promo = stability[stability["feature"] == "promo_index"].set_index("month")["drifting"]
    in_promotion = (promo.index >= pd.Timestamp(sim["shock_start"])) & (promo.index <= pd.Timestamp(sim["shock_end"]))
    assert promo[in_promotion].all()  # the promotion is flagged
    assert not promo[promo.index < pd.Timestamp(sim["shock_start"])].any()  # quiet months are not


def monitor_project(folder: Path, monkeypatch, source: str) -> None:
    monkeypatch.chdir(folder)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"] = source
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")


def check_written_empty(folder: Path) -> dict:
    """Every declared output exists with its header and no rows; returns monitor.json."""
    for name, header in (("reports/monitor/months.csv", HEADERS["months"]),
                         ("reports/monitor/stability.csv", HEADERS["stability"]),
                         ("reports/plots/monitor_psi.csv", HEADERS["psi"]),
                         ("reports/plots/monitor_decay.csv", HEADERS["decay"])):
        table = pd.read_csv(folder / name)
        assert table.empty and list(table.columns) == header, name
    scores = pd.read_parquet(folder / "data/processed/monitor_scores.parquet")
    assert scores.empty and list(scores.columns) == HEADERS["scores"]
    return json.loads((folder / "reports/metrics/monitor.json").read_text())


def test_on_a_snapshot_the_stage_is_skipped_and_its_outputs_written_empty(tmp_path, monkeypatch):
    monitor_project(tmp_path, monkeypatch, "snapshot")
    monitor.main()  # no model, no tables: nothing is read
    metrics = check_written_empty(tmp_path)
    assert "no time axis" in metrics["skipped"]["monitor"] and metrics["months_monitored"] == 0


def test_without_a_month_after_training_the_stage_is_skipped(tmp_path, monkeypatch):
    """A ledger-like source whose last training cutoff is its last month (month 9 of 0..9): nothing to monitor."""
    monitor_project(tmp_path, monkeypatch, "ledger")
    (tmp_path / "data/raw").mkdir(parents=True)
    raw = tables([customer("a"), customer("b")], months("a", 0, 9) + months("b", 0, 9), n_months=10)
    for name, frame in raw.items():
        frame.to_parquet(tmp_path / "data/raw" / f"{name}.parquet", index=False)
    (tmp_path / "models").mkdir()
    split = TimeSplit((month(6), month(9)), (month(9),), month(9))
    (tmp_path / "models/split.json").write_text(json.dumps(split.as_dict()), encoding="utf-8")
    monitor.main()
    metrics = check_written_empty(tmp_path)
    assert metrics["skipped"]["monitor"] == "no month follows the last training cutoff 2022-10-31: the data end at " \
                                           "2022-10-31"
