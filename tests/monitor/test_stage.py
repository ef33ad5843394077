"""The monitor stage: `run()` on the tiny bank of conftest.py, its parts on constructed tables, its skips through
`main()` (no time axis, no month after training), and end to end on the small pipeline profile (slow)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from frames import customer, month, months, tables

from churnlab.contract.source import Source
from churnlab.core import paths
from churnlab.core.outputs import StageResult, write_result
from churnlab.model.split import RandomSplit, TimeSplit
from churnlab.monitor import stage as monitor
from churnlab.monitor.alerts import alert_states
from churnlab.monitor.estimate import recalibrated_auc
from churnlab.monitor.months import Window, monitoring_window, score
from churnlab.monitor.stage import (
    HEADERS,
    NO_SHOCK_MONTHS,
    NO_TIME_AXIS,
    OUTPUTS,
    Settings,
    jsonable,
    log_monthly,
    mean_abs,
    output_tables,
    run,
    simulator_alarms,
    unmonitored,
    why_unmonitored,
)

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = Source("simulator", time_axis=True, campaigns=True, oracle=True, closures=True)
LEDGER = Source("ledger", time_axis=True, campaigns=False, oracle=False, closures=True)
SNAPSHOT = Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False)


def months_table(**columns) -> pd.DataFrame:
    """Four months after training with their signals (the shape `alert_states` needs)."""
    table = pd.DataFrame({
        "month": pd.to_datetime(["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]),
        "score_psi": 0.001, "score_threshold": 0.1,
        "market_drifting": [[], ["unemployment"], ["promo_index", "unemployment"], []],
        "drifting_features": [[], [], [], ["age", "income", "tenure_months"]],
        "expected_auc": 0.80, "auc": [0.81, np.nan, np.nan, np.nan],
    }).assign(**columns)
    return alert_states(table, reference_auc=0.80, max_auc_drop=0.03, min_drifting_features=3)


# ---- run() on the tiny bank ---------------------------------------------------------------------------------------

def run_bank_kwargs(bank, settings) -> dict:
    window = monitoring_window(bank.con, bank.split, every_months=settings.every_months)
    return {"window": window, "source": SIMULATOR, "grading": None, "shock": {"shock_month": 12, "shock_months": 2},
            "churn": bank.churn, "seed": 0, "horizon_months": bank.horizon_months, "settings": settings}


def run_bank(bank, reference, champion, settings, **overrides) -> StageResult:
    return run(bank.con, reference, champion, **(run_bank_kwargs(bank, settings) | overrides))


def test_run_on_the_tiny_bank(bank, reference, champion, settings):
    """Months 9..15 are monitored; labels (3 months) are complete up to month 12; the shock starts at month 12.

    Reference: 36 customers at month 5 (four closed in month 4), four of whom close in month 7, and 32 at month 8,
    three of whom close in month 10: churn rate 7 / 68.
    """
    result = run_bank(bank, reference, champion, settings)
    metrics = result.metrics
    assert result.skipped == {}
    assert metrics["source"] == "simulator" and metrics["months_monitored"] == 7
    assert metrics["champion"] == {"name": "churn-model", "version": 3}  # no run id: monitor.json is a DVC output
    ref = metrics["reference"]
    assert ref["cutoffs"] == ["2022-06-30", "2022-09-30"] and ref["rows"] == 68 == len(reference)
    assert ref["churn_rate"] == pytest.approx(7 / 68)
    # on the estimate's basis: the reference scores weighted by their own isotonic map (its labels are all in)
    assert ref["expected_auc"] == pytest.approx(recalibrated_auc(score(champion.pyfunc, reference), reference["label"]))
    assert list(metrics["months"]) == [str(month(i).date()) for i in range(9, 16)]
    assert metrics["label_free"]["labelled_months"] == 4
    assert metrics["latest"]["month"] == "2023-04-30"
    sim = metrics["simulator"]
    assert (sim["shock_start"], sim["shock_end"]) == ("2023-01-31", "2023-02-28")  # months 12 and 13
    assert (sim["quiet_months"], sim["drift_months"], sim["promotion_months"]) == (3, 4, 2)
    assert sim["shock_indicators"] == settings.shock_indicators
    json.dumps(metrics)  # monitor.json holds plain JSON values only

    assert set(result.tables) == set(OUTPUTS.values())
    for name, path in OUTPUTS.items():  # the empty outputs of a skipped stage have the same columns
        assert list(result.tables[path].columns) == HEADERS[name], name
    assert result.tables[OUTPUTS["months"]]["month"].tolist() == [pd.Timestamp(month(i)) for i in range(9, 16)]


def test_without_the_simulator_the_alarm_rates_are_skipped_and_the_tables_unchanged(bank, reference, champion,
                                                                                     settings):
    with_shock = run_bank(bank, reference, champion, settings)
    without = run_bank(bank, reference, champion, settings, source=LEDGER, shock=None)
    assert without.skipped == {"simulator": NO_SHOCK_MONTHS}
    assert "simulator" not in without.metrics and "auc_mae_quiet" not in without.metrics["label_free"]
    assert without.metrics["source"] == "ledger"
    for path, table in with_shock.tables.items():  # seeded: the same draws give the same tables
        pd.testing.assert_frame_equal(table, without.tables[path])


def deposit_model_on_spark(rows):
    """conftest.DepositModel as Spark computes it: p_churn = 1000 / (deposits + 2000), the same doubles."""
    from pyspark.sql import functions as F

    return rows.withColumn("p_churn", F.lit(1000.0) / (F.col("deposit_balance") + 2000.0))


@pytest.mark.slow
def test_the_months_on_spark_change_no_output(bank, reference, champion, settings, spark_tables, spark, monkeypatch):
    """The monitored months built, scored and counted on Spark (the stage on the spark engine): every table and
    metric is the DuckDB run's, exactly (bin counts, KS statistics and p-values, medians, scores). No month is
    collected as a snapshot (`snapshot_at` is not called), the reference is read by Spark only (the driver's frame
    is None), and no pandas frame goes back to Spark (at 1M customers each month's did, only to be counted, and ran
    the driver's heap out)."""
    from churnlab.core.engine import plain_categories

    local = run_bank(bank, reference, champion, settings)
    stability = local.tables[OUTPUTS["stability"]]
    assert (stability["statistic"] > 0).any() and stability["ks"].notna().any()  # something to compare
    handed = []
    monkeypatch.setattr(spark_tables, "register", lambda name, frame: handed.append(name))
    monkeypatch.setattr("churnlab.monitor.months.snapshot_at", lambda *a, **k: pytest.fail("a month was collected"))
    on_spark = run(spark_tables, None, champion, spark_score=deposit_model_on_spark,  # no reference on the driver
                   spark_reference=spark.createDataFrame(plain_categories(reference)),
                   **run_bank_kwargs(bank, settings))
    assert handed == []
    assert on_spark.metrics == local.metrics
    for path, table in local.tables.items():
        pd.testing.assert_frame_equal(on_spark.tables[path], table, check_exact=True, obj=f"spark {path}")
    with pytest.raises(ValueError, match="spark_score"):
        run(spark_tables, reference, champion, **run_bank_kwargs(bank, settings))


# ---- the parts of run() -------------------------------------------------------------------------------------------

def test_why_unmonitored_names_each_reason():
    split = TimeSplit((month(6), month(9)), (month(9),), month(9))
    window = Window(first=0, last=24273, train=split.train, months=())
    assert why_unmonitored(SNAPSHOT, None, None) == NO_TIME_AXIS
    random = RandomSplit(month(9), seed=1, test_share=0.2, validation_share=0.2)
    assert "holds a random split, not one out of time" in why_unmonitored(LEDGER, random, None)
    assert why_unmonitored(LEDGER, split, window) == \
        "no month follows the last training cutoff 2022-10-31: the data end at 2022-10-31"
    assert why_unmonitored(LEDGER, split, Window(0, 24274, split.train, (24274,))) is None


def test_a_skipped_stage_writes_every_output_with_its_header_only():
    result = unmonitored("why", LEDGER)
    assert result.metrics == {"source": "ledger", "months_monitored": 0} and result.skipped == {"monitor": "why"}
    assert set(result.tables) == set(OUTPUTS.values())
    for name, path in OUTPUTS.items():
        assert result.tables[path].empty and list(result.tables[path].columns) == HEADERS[name]
    assert str(result.tables[OUTPUTS["scores"]]["month"].dtype) == "datetime64[ns]"


def test_simulator_alarms_count_only_the_promotion_indicators_in_the_headline_rates(settings):
    """Shock at month 2 of a window starting 2023-12 (first = 2023-12-31 + 0): 2024-02 and later drift.

    January is quiet. February's unemployment alarm (the recession) is not a false alarm of the promotion, but it
    is a detection by all market indicators; April's three drifting features are detected by both views.
    """
    first = 2023 * 12 + 11  # month number of 2023-12-31
    alarms = simulator_alarms(months_table(), first=first, shock={"shock_month": 2, "shock_months": 2},
                              reference_auc=0.80, horizon_months=0, settings=settings)
    assert (alarms["shock_start"], alarms["shock_end"]) == ("2024-02-29", "2024-03-31")
    assert alarms["quiet_months"] == 1 and alarms["drift_months"] == 3 and alarms["promotion_months"] == 2
    assert alarms["false_alarm_rate"] == 0.0
    assert alarms["detection_rate"] == pytest.approx(2 / 3)  # March (promo_index) and April (features)
    assert alarms["all_market_indicators"]["detection_rate"] == 1.0  # February's unemployment counts here


def test_output_tables_join_lists_and_keep_the_plot_columns():
    months = months_table().assign(score_null_quantile=0.002, pr_auc=np.nan, expected_churn_rate=0.1,
                                   churn_rate=np.nan)
    scores, stability = pd.DataFrame({"customer_id": ["a"]}), pd.DataFrame({"feature": ["age"]})
    written = output_tables(scores, stability, months, last_training_cutoff=pd.Timestamp("2023-12-31"))
    table = written[OUTPUTS["months"]]
    assert table["market_drifting"].tolist() == ["", "unemployment", "promo_index; unemployment", ""]
    assert table["reasons"].iloc[0] == ""
    assert table["reasons"].iloc[3] == "3 features drifting: age, income, tenure_months"
    assert written[OUTPUTS["scores"]] is scores and written[OUTPUTS["stability"]] is stability
    assert list(written[OUTPUTS["psi"]].columns) == HEADERS["psi"]
    assert written[OUTPUTS["psi"]]["months_after_training"].tolist() == [1, 2, 3, 4]  # a number DVC plots can draw
    assert list(written[OUTPUTS["decay"]].columns) == [c for c in HEADERS["decay"] if c != "ece"]  # no labels: no ECE


def test_jsonable_turns_missing_values_into_null():
    table = months_table().assign(rows=10, score_null_quantile=0.001, expected_auc_low=0.6, expected_auc_high=0.8,
                                  expected_churn_rate=0.1, churn_rate=[0.1, np.nan, np.nan, np.nan],
                                  grade_shares=[{"A": 1.0}, {}, {}, {}])
    payload = jsonable(table)
    assert list(payload) == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]
    assert payload["2024-02-29"]["auc"] is None and payload["2024-01-31"]["auc"] == 0.81
    assert payload["2024-04-30"]["alert"] is True and payload["2024-01-31"]["grade_shares"] == {"A": 1.0}
    assert json.loads(json.dumps(payload)) == payload


def test_mean_abs_is_none_without_labelled_months():
    assert mean_abs(pd.Series([-0.1, 0.3])) == pytest.approx(0.2)
    assert mean_abs(pd.Series([-0.1, 0.3]), worst=True) == pytest.approx(0.3)
    assert mean_abs(pd.Series([], dtype=float)) is None


def test_settings_match_the_monitor_section_of_params_yaml():
    section = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["monitor"]
    assert Settings(**section).alpha == section["alpha"]
    with pytest.raises(TypeError, match="alpah"):
        Settings(**{**section, "alpah": 0.05})


def test_log_monthly_adds_step_series_to_the_run_write_result_logged(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    table = months_table()
    write_result("monitor", StageResult({"months_monitored": 4}), params={}, inputs=[])
    log_monthly(table)
    runs = mlflow.search_runs(experiment_names=["churnlab"], output_format="list")
    assert len(runs) == 1
    history = mlflow.MlflowClient().get_metric_history(runs[0].info.run_id, "alert")
    assert [(m.step, m.value) for m in history] == [(24288, 0.0), (24289, 1.0), (24290, 1.0), (24291, 1.0)]
    assert runs[0].data.metrics["months_monitored"] == 4


# ---- main(): the skips, and end to end ----------------------------------------------------------------------------

def monitor_project(folder: Path, monkeypatch, source: Source) -> None:
    """`folder` as the project root: the repository's params.yaml, data/raw/source.json, MLflow inside it."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    (folder / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    paths.RAW.mkdir(parents=True)
    paths.SOURCE.write_text(json.dumps({"source": source.name, "time_axis": source.time_axis,
                                        "campaigns": source.campaigns, "oracle": source.oracle}), encoding="utf-8")


def check_written_empty(folder: Path, reason: str) -> dict:
    """Every declared output exists with its header and no rows, and one MLflow run says why; returns monitor.json."""
    import mlflow

    for name in ("months", "stability", "psi", "decay"):
        table = pd.read_csv(folder / OUTPUTS[name])
        assert table.empty and list(table.columns) == HEADERS[name], name
    scores = pd.read_parquet(folder / OUTPUTS["scores"])
    assert scores.empty and list(scores.columns) == HEADERS["scores"]
    (run_,) = mlflow.search_runs(experiment_names=["churnlab"], output_format="list")
    assert run_.info.run_name == "monitor" and run_.data.tags["skipped.monitor"] == reason[:250]
    return json.loads((folder / "reports/metrics/monitor.json").read_text())


def test_on_a_snapshot_the_stage_is_skipped_and_its_outputs_written_empty(tmp_path, monkeypatch):
    monitor_project(tmp_path, monkeypatch, SNAPSHOT)
    monitor.main()  # no model, no tables, no split: nothing else is read
    metrics = check_written_empty(tmp_path, NO_TIME_AXIS)
    assert metrics == {"source": "snapshot", "months_monitored": 0, "skipped": {"monitor": NO_TIME_AXIS}}


def test_without_a_month_after_training_the_stage_is_skipped(tmp_path, monkeypatch):
    """A ledger whose last training cutoff is its last month (month 9 of 0..9): nothing to monitor, no champion read."""
    monitor_project(tmp_path, monkeypatch, LEDGER)
    raw = tables([customer("a"), customer("b")], months("a", 0, 9) + months("b", 0, 9), n_months=10)
    for name, frame in raw.items():
        frame.to_parquet(paths.RAW / f"{name}.parquet", index=False)
    paths.MODELS.mkdir()
    split = TimeSplit((month(6), month(9)), (month(9),), month(9))
    paths.SPLIT.write_text(json.dumps(split.as_dict()), encoding="utf-8")
    monitor.main()
    reason = "no month follows the last training cutoff 2022-10-31: the data end at 2022-10-31"
    metrics = check_written_empty(tmp_path, reason)
    assert metrics == {"source": "ledger", "months_monitored": 0, "skipped": {"monitor": reason}}


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
    months_ = pd.read_csv(pipeline_dir / "reports/monitor/months.csv", parse_dates=["month"])
    assert len(months_) == metrics["months_monitored"] and list(months_.columns) == HEADERS["months"]
