"""The `data` stage: one switch (`data.source`) picks the simulator, a bank's contract tables, a snapshot
file or a ledger; every source leaves a description in data/raw/source.json and nothing of another source."""

import json

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from frames import random_tables

from churnlab.core import paths
from churnlab.core.checks import DataError
from churnlab.data import stage as data


def project(folder, monkeypatch, **settings) -> dict:
    """A throwaway project: the repository's params with `data` settings overridden."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"].update(settings)
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
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


def test_a_rename_of_a_column_the_file_lacks_is_named(tmp_path, monkeypatch):
    churn_csv(tmp_path / "churn.csv")
    project(tmp_path, monkeypatch, source="snapshot", path=str(tmp_path / "churn.csv"), id="CustomerId",
            target="Exited", rename={"Balanse": "deposit_balance"})
    with pytest.raises(DataError, match=r"data.rename names column\(s\) \['Balanse'\]"):
        data.main()
    assert not paths.SNAPSHOT_SOURCE.exists()  # nothing half-written


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


@pytest.mark.shared_data
def test_ledger_source_on_the_berka_extract(tmp_path, monkeypatch, shared_data):
    project(tmp_path, monkeypatch, source="ledger", path=str(shared_data / "berka_pkdd99"))
    data.main()
    metrics = json.loads((paths.METRICS / "data.json").read_text())
    assert metrics["customers"] == 1197 and metrics["rows"]["monthly"] == 9729 and metrics["churners"] == 0
    assert (metrics["first_month"], metrics["last_month"]) == ("1993-01-31", "1994-02-28")
