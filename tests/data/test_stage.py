"""The `data` stage: one switch (`data.source`) picks the simulator, a bank's contract tables, a snapshot
file or a ledger; every source leaves a description in data/raw/source.json and nothing of another source."""

import json

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from frames import random_tables

from churnlab.core import paths, tracking
from churnlab.core.checks import DataError
from churnlab.data import stage as data


def project(folder, monkeypatch, **settings) -> dict:
    """A throwaway project: the repository's params with `data` settings overridden."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"].update(settings)
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    return params


def churn_csv(path) -> None:
    pd.DataFrame({"CustomerId": [11, 12, 13, 14, 15, 16], "Surname": ["A", "B", "C", "D", "E", "F"],
                  "Age": [30, 41, 52, 33, 64, 25], "Balance": ["1,200.50", "0", "3,000", "10", "0", "5,500.25"],
                  "Tenure": [1, 2, 3, 4, 5, 0], "Exited": [1, 0, 0, 1, 0, 0]}).to_csv(path, index=False)


def test_unknown_source_and_missing_path_are_clear_errors():
    with pytest.raises(DataError, match="data.source is 'excel'; it must be one of"):
        data.check_source("excel", None)
    with pytest.raises(DataError, match="data.source snapshot needs data.path"):
        data.check_source("snapshot", None)


def test_contract_tables_become_the_five_files_a_description_and_the_summary():
    frames = random_tables(5, n_customers=4, n_months=8) | {"campaigns": pd.DataFrame({"customer_id": ["c0", "c1"]})}
    result = data.run("contract", frames, inputs={"bank/customers.csv": "0" * 32})
    assert result.tables == {path: frames[name] for name, path in data.TABLE_PATHS.items()}
    assert result.metrics == {"source": "contract", "rows": {name: len(f) for name, f in frames.items()},
                              "customers": 4, "months": 8, "first_month": "2022-01-31", "last_month": "2022-08-31",
                              "churners": 1, "campaign_rows": 2}
    assert json.loads(result.texts[paths.SOURCE]) == {
        "source": "contract", "time_axis": True, "campaigns": True, "closures": True, "oracle": False,
        "inputs": {"bank/customers.csv": "0" * 32}}
    assert json.loads(result.texts[data.ORACLE_SOURCE]) == {"source": "contract", "oracle": False}


def test_a_ledger_without_closures_or_campaigns_says_so():
    summary = {"churners": 0, "campaign_rows": 0}
    assert data.describe_source("ledger", summary, inputs={}) == {
        "source": "ledger", "time_axis": True, "campaigns": False, "closures": False, "oracle": False, "inputs": {}}


def test_the_simulator_writes_its_own_tables_so_its_result_has_descriptions_and_metrics_only():
    result = data.run("simulator", {}, inputs={}, simulated={"rows": {"customers": 10}, "annual_churn_rate": 0.15})
    assert result.tables == {} and result.metrics == {"source": "simulator", "rows": {"customers": 10},
                                                      "annual_churn_rate": 0.15}
    description = json.loads(result.texts[paths.SOURCE])
    assert description["oracle"] and description["campaigns"] and description["closures"]
    assert description["time_axis"] and description["inputs"] == {}
    assert result.texts[paths.SOURCE] == data.json_text(description)  # indented and key-sorted, as write_json


def test_a_snapshot_has_no_time_axis_and_its_summary_counts_labels():
    rows = pd.DataFrame({"customer_id": ["p_1", "p_2", "p_3", "p_4"], "label": pd.array([1, 0, 0, None], "Int8"),
                         "labeled": [True, True, True, False], "tenure_months": [3, 40, 12, 7],
                         "age": [30, 41, 52, 33]})
    dropped = {"Surname": "its name says personal data or an identifier"}
    result = data.run("snapshot", {"snapshot": rows}, inputs={"churn.csv": "f" * 32}, dropped=dropped)
    assert list(result.tables) == [paths.SNAPSHOT_SOURCE] and result.tables[paths.SNAPSHOT_SOURCE] is rows
    assert result.metrics == {"source": "snapshot", "rows": {"snapshot": 4}, "customers": 4, "labeled": 3,
                              "churn_rate": pytest.approx(1 / 3), "features": ["age"], "tenure": True,
                              "dropped_columns": dropped}
    description = json.loads(result.texts[paths.SOURCE])
    assert not (description["time_axis"] or description["campaigns"] or description["closures"]
                or description["oracle"])


def test_files_of_another_source_are_removed_and_hidden_files_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for file in (paths.SNAPSHOT_SOURCE, paths.SOURCE, paths.CUSTOMERS, paths.ORACLE_CUSTOMERS, paths.RAW / ".keep"):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"x")
    data.remove_stale({paths.SNAPSHOT_SOURCE, paths.SOURCE})
    assert sorted(p.name for p in [*paths.RAW.iterdir(), *paths.ORACLE.iterdir()]) == [
        ".keep", "snapshot.parquet", "source.json"]


@pytest.mark.slow
def test_snapshot_source_writes_rows_description_and_removes_another_sources_files(tmp_path, monkeypatch):
    churn_csv(tmp_path / "churn.csv")
    project(tmp_path, monkeypatch, source="snapshot", path=str(tmp_path / "churn.csv"), id="CustomerId",
            target="Exited", tenure="Tenure", rename={"Balance": "deposit_balance"})
    paths.RAW.mkdir(parents=True)
    paths.ORACLE.mkdir(parents=True)
    paths.CUSTOMERS.write_bytes(b"left by a simulator run")
    paths.ORACLE_CUSTOMERS.write_bytes(b"left by a simulator run")
    data.main()
    rows = pd.read_parquet(paths.SNAPSHOT_SOURCE)
    assert rows["label"].tolist() == [1, 0, 0, 1, 0, 0] and rows["deposit_balance"].tolist()[:3] == [1200.5, 0, 3000]
    assert "surname" not in rows and rows["customer_id"].str.startswith("p_").all()  # personal data never passes
    assert not paths.CUSTOMERS.exists() and not paths.ORACLE_CUSTOMERS.exists()  # no stale mix of sources
    source = json.loads(paths.SOURCE.read_text())
    assert source["source"] == "snapshot" and source["time_axis"] is False and source["oracle"] is False
    assert list(source["inputs"]) == [str(tmp_path / "churn.csv")]
    assert len(source["inputs"][str(tmp_path / "churn.csv")]) == 32  # an MD5
    metrics = json.loads((paths.METRICS / "data.json").read_text())
    assert metrics["customers"] == 6 and metrics["churn_rate"] == pytest.approx(2 / 6) and metrics["tenure"]
    assert metrics["dropped_columns"] == {"Surname": "its name says personal data or an identifier"}


def test_a_rename_of_a_column_the_file_lacks_is_named(tmp_path, monkeypatch):
    churn_csv(tmp_path / "churn.csv")
    project(tmp_path, monkeypatch, source="snapshot", path=str(tmp_path / "churn.csv"), id="CustomerId",
            target="Exited", rename={"Balanse": "deposit_balance"})
    with pytest.raises(DataError, match=r"data.rename names column\(s\) \['Balanse'\]"):
        data.main()
    assert not paths.SNAPSHOT_SOURCE.exists()  # nothing half-written


def test_the_data_stage_reports_a_bad_file_in_the_report_language(tmp_path, monkeypatch):
    pd.DataFrame({"CustomerId": [11, 11], "Exited": [1, 0]}).to_csv(tmp_path / "churn.csv", index=False)
    params = project(tmp_path, monkeypatch, source="snapshot", path=str(tmp_path / "churn.csv"), id="CustomerId",
                     target="Exited")
    params["report"]["language"] = "zh"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(DataError, match=r"churn.csv：每位客户只应有一行的文件中，客户号列'CustomerId'有1个客户号重复"):
        data.main()


@pytest.mark.slow
def test_contract_source_writes_the_five_tables(tmp_path, monkeypatch):
    (tmp_path / "bank").mkdir()
    for name, frame in random_tables(5, n_customers=4, n_months=8).items():
        frame.to_csv(tmp_path / "bank" / f"{name}.csv", index=False)
    project(tmp_path, monkeypatch, source="contract", path=str(tmp_path / "bank"))
    data.main()
    assert len(pd.read_parquet(paths.CUSTOMERS)) == 4 and pd.read_parquet(paths.CAMPAIGNS).empty
    source = json.loads(paths.SOURCE.read_text())
    assert source["time_axis"] is True and source["campaigns"] is False and len(source["inputs"]) == 4
    metrics = json.loads((paths.METRICS / "data.json").read_text())
    assert metrics["months"] == 8 and metrics["churners"] == 1
    mlflow = tracking.start()
    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="attributes.run_name = 'data'")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["params.data.source"] == "contract" and run["metrics.customers"] == 4
    assert run["tags.data_md5." + (tmp_path / "bank" / "customers.csv").as_posix()] == \
        source["inputs"][str(tmp_path / "bank" / "customers.csv")]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "data")}
    assert artifacts == {"data/source.json", "data/data.json"}  # the tables (customer ids) stay out of MLflow


@pytest.mark.slow
@pytest.mark.shared_data
def test_ledger_source_on_the_berka_extract(tmp_path, monkeypatch, shared_data):
    project(tmp_path, monkeypatch, source="ledger", path=str(shared_data / "berka_pkdd99"))
    data.main()
    metrics = json.loads((paths.METRICS / "data.json").read_text())
    assert metrics["customers"] == 1197 and metrics["rows"]["monthly"] == 9729 and metrics["churners"] == 0
    assert (metrics["first_month"], metrics["last_month"]) == ("1993-01-31", "1994-02-28")


def test_spark_reads_a_contract_of_parquet_and_catalog_tables_and_text_files_stay_local(tmp_path):
    (tmp_path / "monthly.parquet").mkdir()  # a folder of Parquet files
    parquet = {"customers": tmp_path / "customers.parquet", "monthly": tmp_path / "monthly.parquet",
               "market": "table:bank.market", "churn_events": None, "campaigns": None}
    assert data.on_spark(parquet)
    assert not data.on_spark({**parquet, "market": tmp_path / "market.csv"})
    with pytest.raises(DataError, match=r"\['market'\] are catalog tables, which Spark reads, and \['customers'\] "
                                        r"text files"):
        data.on_spark({**parquet, "customers": tmp_path / "customers.csv"})
