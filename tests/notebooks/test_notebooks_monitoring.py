"""notebooks/5.0-monitoring.ipynb on outputs where the monitor stage skipped all or part of its work, and its alarm-rate
table against monitor.json (synthetic simulator outputs, and the rendered page of the small pipeline).

Small synthetic outputs in the shapes the stage writes (for the snapshot, the stage's own `unmonitored` result,
written by the shared writer; monitor.json with sorted keys, as `churnlab.core.io.write_json` writes it); the notebook
on the small pipeline is also covered in tests/report/.
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from notebook_runner import FOLDER, code_cells, figures, run_clean

from churnlab.core.words import label, word

NAME = "5.0-monitoring.ipynb"
NO_SIMULATOR = "false-alarm and detection rates need the simulator's known shock months"
ALERT_ROW = "any_signal"
RATES = ["false_alarm_rate", "detection_rate", "detection_rate_promotion"]
SIGNALS = ["score_drift", "score_drift_statistical", "market_drift", "feature_drift", "estimated_decay",
           "realised_decay", ALERT_ROW]


def monitor_project(root: Path, *, source: str, time_axis: bool) -> Path:
    """A project folder with notebook 5.0, data/raw/source.json and a dvc.yaml for find_root()."""
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(FOLDER / NAME, root / "notebooks" / NAME)
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "source.json").write_text(json.dumps(
        {"source": source, "time_axis": time_axis, "campaigns": False, "oracle": False, "inputs": {}}))
    return root


@pytest.mark.slow
def test_monitoring_notebook_on_a_snapshot_says_why_once(tmp_path, run_notebook, monkeypatch):
    from churnlab.contract.source import Source
    from churnlab.core import paths
    from churnlab.core.io import write_json
    from churnlab.core.outputs import write_files
    from churnlab.monitor.stage import HEADERS, NO_TIME_AXIS, unmonitored

    project = monitor_project(tmp_path / "snapshot", source="snapshot", time_axis=False)
    monkeypatch.chdir(project)
    snapshot = Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False)
    result = unmonitored(NO_TIME_AXIS, snapshot)  # the stage's own outputs: monitor.json and header-only tables
    write_files(result)
    write_json({**result.metrics, "skipped": result.skipped}, paths.METRICS / "monitor.json")
    assert list(pd.read_csv(project / "reports" / "monitor" / "months.csv").columns) == HEADERS["months"]
    notebook, text = run_clean(project, run_notebook, NAME)
    assert "Data source: snapshot" in text
    assert f"This notebook (monitoring) skipped: {NO_TIME_AXIS}." in text
    assert text.count("skipped") == 1, text  # one sentence for the notebook, not one per section
    assert figures(notebook) == 0


def alarm_rates(page: str) -> pd.DataFrame:
    """The alarm-rate table (the one with the "any signal (alert)" row) of an HTML page or displayed frame, as
    displayed (labels in the bank's words), keyed back to the machine names: rows by signal, one column per rate;
    "NaN" cells as NaN. A label that is not the word of its signal or rate fails."""
    from bs4 import BeautifulSoup

    signals, rates = {word(s): s for s in SIGNALS}, {label(r): r for r in RATES}
    for table in BeautifulSoup(page, "html.parser").find_all("table"):
        rows = {tr.th.get_text(strip=True): [float(td.get_text(strip=True)) for td in tr.find_all("td")]
                for tr in table.tbody.find_all("tr")}
        if word(ALERT_ROW) in rows:
            header = [th.get_text(strip=True) for th in table.thead.find_all("tr")[0].find_all("th")][1:]
            shown = pd.DataFrame.from_dict(rows, orient="index", columns=header)
            return shown.rename(index=signals.__getitem__, columns=rates.__getitem__)
    raise AssertionError(f"no table with a {word(ALERT_ROW)!r} row")


def assert_rates_match(rates: pd.DataFrame, simulator: dict) -> None:
    """Every cell of the displayed table is monitor.json's value for that signal and rate (rounded to 3 places)."""
    expected = {**simulator["by_signal"], ALERT_ROW: {rate: simulator[rate] for rate in RATES}}
    assert sorted(rates.columns) == sorted(RATES) and set(rates.index) == set(expected)
    for signal, values in expected.items():
        for rate in RATES:
            shown, truth = rates.loc[signal, rate], values[rate]
            assert (math.isnan(shown) if truth is None else shown == round(truth, 3)), (signal, rate, shown, truth)


def write_monitored_months(project: Path, monitor: dict) -> None:
    """Three monitored months (the third drifting) in reports/monitor/, and `monitor` + the shared fields as
    reports/metrics/monitor.json."""
    from churnlab.core.io import write_json
    from churnlab.monitor.stage import HEADERS

    months = [f"1993-{m:02d}-{d}" for m, d in ((6, 30), (7, 31), (8, 31))]
    table = pd.DataFrame({column: np.nan for column in HEADERS["months"]}, index=range(3)).assign(
        month=months, rows=100, score_psi=[0.02, 0.05, 0.2], score_null_quantile=0.03, score_threshold=0.1,
        mean_score=0.1, expected_churn_rate=0.1, expected_auc=[0.8, 0.79, 0.75], expected_auc_low=0.7,
        expected_auc_high=0.85, market_drifting="", drifting_features=["", "", "tx_count"],
        reasons=["", "", "score PSI 0.2000 > its line 0.1000"], alert=[False, False, True],
        retrain=[False, False, True], **{c: False for c in ("score_drift", "score_drift_statistical", "market_drift",
                                                            "feature_drift", "estimated_decay", "realised_decay")})
    stability = pd.DataFrame({"feature": "tx_count", "group": "banking", "statistic": [0.01, 0.05, 0.3],
                              "null_quantile": 0.05, "threshold": 0.1, "drifting": [False, False, True],
                              "ks": 0.1, "ks_pvalue": 0.2, "value": np.nan, "month": months})
    folder, metrics = project / "reports" / "monitor", project / "reports" / "metrics"
    folder.mkdir(parents=True)
    metrics.mkdir(parents=True)
    table.to_csv(folder / "months.csv", index=False)
    stability.to_csv(folder / "stability.csv", index=False)
    write_json({
        "champion": {"name": "churnlab-churn", "version": 1, "run_id": "abc"}, "months_monitored": 3,
        "reference": {"cutoffs": ["1993-03-31", "1993-05-31"], "rows": 500, "horizon": 3, "grade_shares": {},
                      "expected_auc": 0.8, "mean_score": 0.1, "churn_rate": 0.1},
        "settings": {"alpha": 0.01, "null_draws": 200, "min_psi": 0.1, "min_csi": 0.1, "max_auc_drop": 0.03,
                     "monitoring": "monthly"},
        "months": {m: {"grade_shares": {}} for m in months},
        "label_free": {"labelled_months": 0, "auc_mae": None, "auc_max_error": None, "churn_rate_mae": None},
        "latest": {"month": months[-1], "retrain": True, "reasons": ["score PSI 0.2000 > its line 0.1000"]},
        **monitor}, metrics / "monitor.json")


@pytest.mark.slow
def test_monitoring_notebook_on_real_data_skips_the_alarm_rates_and_unlabelled_decay(tmp_path, run_notebook):
    project = monitor_project(tmp_path / "ledger", source="ledger", time_axis=True)
    write_monitored_months(project, {"source": "ledger", "skipped": {"simulator": NO_SIMULATOR}})
    notebook, text = run_clean(project, run_notebook, NAME)
    assert "Data source: ledger" in text and "3 months monitored" in text
    assert f"The alarm rates against known drift skipped: {NO_SIMULATOR}." in text
    assert ("The realised performance and the error of the label-free estimate skipped: no monitored month's "
            "3-month labels are complete yet.") in text
    assert "Grade shares over time skipped: the score stage has not run" in text
    assert "latest month 1993-08-31: retrain recommended = True" in text and "score PSI 0.2000" in text
    assert figures(notebook) == 3, "the score PSI, drifting features and decay charts"


@pytest.mark.slow
def test_monitoring_notebook_shows_each_alarm_rate_of_monitor_json_in_its_column(tmp_path, run_notebook):
    """The "any signal (alert)" row once had its values one column off (false alarm under detection): every
    value the table shows must be monitor.json's for that signal and rate. The rates differ from each other, so a
    value in the wrong column fails."""
    by_signal = {"score_drift": (0.0, 0.5, 0.25), "market_drift": (0.375, 1.0, 0.625), "realised_decay": (None, 0, 0)}
    simulator = {"false_alarm_rate": 0.125, "detection_rate": 0.875, "detection_rate_promotion": 0.75,
                 "quiet_months": 2, "drift_months": 1, "promotion_months": 1, "shock_start": "1993-08-31",
                 "shock_end": "1993-08-31",
                 "by_signal": {s: dict(zip(RATES, v, strict=True)) for s, v in by_signal.items()}}
    project = monitor_project(tmp_path / "simulator", source="simulator", time_axis=True)
    write_monitored_months(project, {"source": "simulator", "simulator": simulator})
    notebook, text = run_clean(project, run_notebook, NAME)
    assert "2 quiet months, 1 drift months (promotion 1993-08-31..1993-08-31)" in text
    displayed = [o.data["text/html"] for cell in code_cells(notebook) for o in cell.outputs
                 if word(ALERT_ROW) in o.get("data", {}).get("text/html", "")]
    assert len(displayed) == 1
    rates = alarm_rates(displayed[0])
    assert rates.loc[ALERT_ROW].to_dict() == {"false_alarm_rate": 0.125, "detection_rate": 0.875,
                                              "detection_rate_promotion": 0.75}
    assert_rates_match(rates, simulator)


@pytest.mark.slow
def test_monitoring_report_page_of_the_small_pipeline_shows_monitor_json_rates(pipeline_dir):
    """The rendered page, not a re-run: what a reader of reports/notebooks/5.0-monitoring.html sees."""
    simulator = json.loads((pipeline_dir / "reports/metrics/monitor.json").read_text())["simulator"]
    page = (pipeline_dir / "reports/notebooks/5.0-monitoring.html").read_text(encoding="utf-8")
    assert_rates_match(alarm_rates(page), simulator)
