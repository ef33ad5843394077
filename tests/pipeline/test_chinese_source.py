"""A Chinese bank's snapshot file end to end: Churn_Modelling.csv rewritten as GB18030 with Chinese column names,
Chinese categories, balances in 万, and resident ID and mobile-number columns, run through the whole pipeline
(`dvc repro` in a temporary copy); no name, ID number or phone number may reach any output, log or MLflow. This is
the snapshot source's end-to-end test: a random split, survival approximate, monitoring and campaigns skipped."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import make_project, run

from churnlab.contract.personal_data import resident_id_check
from churnlab.core import paths

pytestmark = pytest.mark.slow

COLUMNS = {"RowNumber": "行号", "CustomerId": "客户号", "Surname": "姓名", "CreditScore": "信用分",
           "Geography": "地区", "Gender": "性别", "Age": "年龄", "Tenure": "在网年限", "Balance": "余额",
           "NumOfProducts": "产品数", "HasCrCard": "有信用卡", "IsActiveMember": "活跃客户",
           "EstimatedSalary": "预估薪资", "Exited": "是否流失"}
LEVELS = {"France": "法国", "Germany": "德国", "Spain": "西班牙", "Female": "女", "Male": "男"}


def resident_ids(ages: pd.Series, rng: np.random.Generator) -> list[str]:
    """Valid synthetic resident ID numbers: a Beijing district, a birth date matching the age in mid-2016, a
    sequence number and the MOD 11-2 check character."""
    ids = []
    for age in ages:
        first17 = f"110105{2016 - int(age):04d}{rng.integers(1, 13):02d}{rng.integers(1, 29):02d}" \
                  f"{rng.integers(0, 1000):03d}"
        ids.append(first17 + resident_id_check(first17))
    return ids


def chinese_snapshot(source, target) -> pd.DataFrame:
    """Write Churn_Modelling as a Chinese bank's GB18030 export to `target`; return the rows written (text)."""
    rng = np.random.default_rng(0)
    raw = pd.read_csv(source)
    raw["Surname"] = [f"{s}{rng.choice(list('伟芳娜洋静磊敏强'))}{rng.choice(list('华明丽军杰霞'))}"
                      for s in rng.choice(list("王李张刘陈杨黄赵吴周"), len(raw))]
    for column in ("Geography", "Gender"):
        raw[column] = raw[column].map(LEVELS)
    raw["Balance"] = [f"{b / 1e4:.6f}万" if b else "0" for b in raw["Balance"]]  # yuan as 万 with 0.01 exact
    rows = raw.rename(columns=COLUMNS)
    rows.insert(3, "身份证号", resident_ids(raw["Age"], rng))
    rows.insert(4, "手机号", [f"1{rng.choice(list('3456789'))}{rng.integers(0, 10**9):09d}" for _ in range(len(raw))])
    target.write_bytes(rows.to_csv(index=False).encode("gb18030"))
    return rows


def project_bytes(project) -> bytes:
    """Every file the run wrote that a person, a log or MLflow holds, and the text of every Parquet table."""
    chunks = []
    for folder in ("reports", "mlruns", "models", "metrics", ".churnlab/logs", "data"):
        for file in (project / folder).rglob("*"):
            if not file.is_file():
                continue
            if file.suffix == ".parquet":  # compressed: compare its values, not its bytes
                chunks.append(pd.read_parquet(file).astype(str).to_csv().encode("utf-8"))
            else:
                chunks.append(file.read_bytes())
    return b"\n".join(chunks)


@pytest.mark.shared_data
def test_a_gb18030_snapshot_with_chinese_names_runs_end_to_end_and_leaks_no_personal_data(tmp_path, shared_data):
    csv = tmp_path / "客户流失.csv"
    written = chinese_snapshot(shared_data / "churn_modelling" / "Churn_Modelling.csv", csv)
    project = make_project(tmp_path / "chinese", {"data": {
        "source": "snapshot", "path": str(csv), "id": "客户号", "target": "是否流失", "tenure": "在网年限",
        "rename": {"余额": "deposit_balance"}}})
    done = run([sys.executable, "-m", "dvc", "repro"], project)
    data, evaluation = (json.loads((project / paths.METRICS / f"{stage}.json").read_text(encoding="utf-8"))
                        for stage in ("data", "evaluate"))
    assert data["customers"] == 10_000
    assert set(data["dropped_columns"]) == {"行号", "姓名", "身份证号", "手机号"}
    assert data["dropped_columns"]["身份证号"] == "its values are resident ID numbers (身份证号)"
    assert {"信用分", "年龄", "地区", "deposit_balance"} <= set(data["features"])
    assert evaluation["rows"] == 2000 and evaluation["test"]["roc_auc"] > 0.80  # as the English file: 0.85-0.88
    assert "oracle" not in evaluation and json.loads((project / paths.SPLIT).read_text())["kind"] == "random"
    survival, monitor, retention, register = (json.loads((project / paths.METRICS / f"{stage}.json").read_text(
        encoding="utf-8")) for stage in ("survival", "monitor", "retention", "register"))
    assert survival["notes"] and "approximate" in survival["notes"][0] and "oracle_c_index" not in str(survival)
    assert "skipped" in monitor and "skipped" in json.dumps(retention) and register["version"] >= 1
    snapshot = pd.read_parquet(project / "data" / "raw" / "snapshot.parquet")
    assert snapshot["deposit_balance"].max() == pytest.approx(250_898.09)  # Churn_Modelling's largest balance
    found = project_bytes(project) + f"{done.stdout}\n{done.stderr}".encode()  # the stages' logs
    assert "信用分".encode() in found  # the search sees Chinese text: feature names are everywhere
    early_warning = pd.read_parquet(project / paths.EARLY_WARNING)
    assert early_warning.filter(like="_feature").isin(["信用分", "年龄", "地区", "产品数"]).any().any()
    for column in ("客户号", "姓名", "身份证号", "手机号"):
        for value in (str(written[column].iloc[0]), str(written[column].iloc[-1])):
            for encoding in ("utf-8", "gb18030"):
                assert value.encode(encoding) not in found, f"{column} value leaked ({encoding})"
