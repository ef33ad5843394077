"""A snapshot file with Chinese column names: its names survive snake_case, the personal-data screen drops the
Chinese personal columns, and the features keep their Chinese names through the model, TreeSHAP and MLflow."""

import numpy as np
import pandas as pd
import pytest

from churnlab.contract.snapshot_file import build_snapshot, feature_names, is_personal, screen, snake_case
from churnlab.core.outputs import mlflow_metrics, mlflow_params
from churnlab.model.churn import build_baseline, feature_columns, fit_model
from churnlab.model.reasons import contributions, reference_values, top_reasons

KEY = b"test-key"


def chinese_customers(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Raw rows as read_table returns them; churn rises with age and falls with the credit score."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    score = rng.integers(350, 850, n)
    churn = rng.random(n) < 1 / (1 + np.exp(-(age - 50) / 8 + (score - 600) / 150))
    return pd.DataFrame({
        "客户号": np.arange(15_600_000, 15_600_000 + n),
        "姓名": rng.choice(["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊"], n),
        "手机号": [f"1{rng.integers(3, 10)}{rng.integers(0, 10**9):09d}" for _ in range(n)],
        "信用分": score, "年龄": age, "地区": rng.choice(["北京", "上海", "广州"], n),
        "有信用卡": rng.integers(0, 2, n), "是否流失": churn.astype(int),
    })


def test_snake_case_keeps_chinese_characters():
    assert snake_case("信用分") == "信用分" and snake_case("信用分 (分)") == "信用分_分"
    assert snake_case("余额（万元）") == "余额_万元" and snake_case("Age年龄") == "age年龄"


def test_chinese_personal_columns_are_screened_by_name_and_content():
    raw = chinese_customers()
    raw["联系人"] = raw.pop("手机号")  # a name that says nothing: the content gives it away
    assert screen(raw.drop(columns=["客户号", "是否流失"])) == {
        "姓名": "its name says personal data or an identifier",
        "联系人": "its values are mobile phone numbers"}
    assert is_personal("客户姓名") and not is_personal("手机银行登录次数")


def test_chinese_features_keep_their_names():
    rows = build_snapshot(chinese_customers(), key=KEY, id_column="客户号", target="是否流失")
    assert feature_names(rows) == ["信用分", "年龄", "地区", "有信用卡"]
    assert rows["地区"].dtype == "category" and rows["有信用卡"].dtype == bool
    assert not rows.astype(str).apply(lambda c: c.str.contains("张伟|王芳")).any().any()


@pytest.fixture(scope="module")
def model_and_rows():
    rows = build_snapshot(chinese_customers(400), key=KEY, id_column="客户号", target="是否流失")
    kinds = feature_columns(rows, exclude=["label", "labeled"])
    pipeline = build_baseline("xgboost_default", kinds, seed=0, n_jobs=1, n_estimators=30, max_depth=3)
    return fit_model(pipeline, rows, rows["label"].astype(int), kinds, name="tiny"), rows


def test_shap_reasons_name_the_chinese_features(model_and_rows):
    model, rows = model_and_rows
    shap = contributions(model, rows.head(50))
    assert {"信用分", "年龄", "地区", "有信用卡"} <= set(shap.columns)
    reasons = top_reasons(shap, rows.head(50), labels={}, reference=reference_values(rows, model.features))
    assert set(reasons["reason_1_feature"].dropna()) <= {"信用分", "年龄", "地区", "有信用卡"}
    oldest = rows.head(50)["年龄"].idxmax()
    assert "年龄: up" in reasons.loc[oldest, ["reason_1", "reason_2", "reason_3"]].tolist()


@pytest.mark.slow  # ~10 s: creating the MLflow SQLite store
def test_mlflow_names_keep_chinese_characters(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    params = mlflow_params({"data": {"rename": {"余额": "deposit_balance"}, "id": "客户号"}})
    metrics = mlflow_metrics({"importance": {"信用分": 0.4, "年龄 (岁)": 0.6}})
    assert params == {"data.rename.余额": "deposit_balance", "data.id": "客户号"}
    assert metrics == {"importance.信用分": 0.4, "importance.年龄 _岁_": 0.6}
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
    logged = mlflow.get_run(run.info.run_id).data
    assert logged.params["data.rename.余额"] == "deposit_balance" and logged.metrics["importance.信用分"] == 0.4
