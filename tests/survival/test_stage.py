"""The survival stage end to end on a tiny synthetic project: outputs, metrics, MLflow run, no raw ids."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PROFILE, ROOT, deep_merge

from churnlab.core import paths
from churnlab.survival import stage as survival

pytestmark = pytest.mark.slow

COVARIATES = {
    "age": lambda rng, n: rng.normal(45, 12, n), "n_products": lambda rng, n: rng.integers(1, 6, n).astype(float),
    "tx_count": lambda rng, n: rng.poisson(8, n).astype(float), "digital_share_3m": lambda rng, n: rng.random(n),
    "complaints_12m": lambda rng, n: rng.poisson(1.0, n).astype(float),
    "service_contacts_12m": lambda rng, n: rng.poisson(1, n).astype(float),
    "fees_3m": lambda rng, n: rng.uniform(0, 20, n), "competitor_spread": lambda rng, n: rng.normal(0.5, 0.2, n),
    "unemployment": lambda rng, n: rng.normal(6, 0.5, n), "promo_index": lambda rng, n: rng.random(n),
    "income": lambda rng, n: np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(8, 0.4, n)),
    "deposit_balance": lambda rng, n: rng.lognormal(8, 1, n),
    "investment_balance": lambda rng, n: rng.lognormal(6, 2, n),
    "loan_balance": lambda rng, n: np.where(rng.random(n) < 0.7, 0.0, rng.lognormal(9, 1, n)),
    "salary_inflow": lambda rng, n: rng.lognormal(7.5, 0.3, n), "tx_amount": lambda rng, n: rng.lognormal(6, 1, n),
    "payroll": lambda rng, n: pd.array(rng.random(n) < 0.5, dtype="boolean"),
    "has_card": lambda rng, n: pd.array(rng.random(n) < 0.4, dtype="boolean"),
    "segment": lambda rng, n: pd.Categorical(rng.choice(["mass", "affluent", "private"], n, p=[.6, .3, .1])),
    "acquisition_channel": lambda rng, n: pd.Categorical(rng.choice(["branch", "online", "referral"], n)),
    "occupation": lambda rng, n: pd.Categorical(rng.choice(["employee", "retired", "student"], n)),
    "education": lambda rng, n: pd.Categorical(rng.choice(["primary", "secondary", None], n)),
    "region": lambda rng, n: pd.Categorical(rng.choice(["north", "south"], n)),
}


def tiny_lifetimes(n: int = 900, seed: int = 0) -> pd.DataFrame:
    """Customers whose voluntary hazard rises with complaints and falls with payroll, over a 30-month window."""
    rng = np.random.default_rng(seed)
    frame = {"customer_id": [f"C{i:08d}" for i in range(n)]}
    for prefix in ("entry_", "last_"):
        frame |= {prefix + name: draw(rng, n) for name, draw in COVARIATES.items()}
    frame = pd.DataFrame(frame)
    existing = rng.random(n) < 0.6
    entry = np.where(existing, rng.integers(1, 120, n), 0)
    window = np.where(existing, 30, rng.integers(1, 31, n))  # months observed until the data end
    hazard = 0.015 * np.exp(0.8 * frame["entry_complaints_12m"] - 0.8 * frame["entry_payroll"].astype(float))
    t = 1 + np.floor(rng.exponential(1 / hazard))
    event = t <= window
    frame["entry_tenure"] = entry
    frame["duration"] = entry + np.minimum(t, window).astype(int)
    frame["event"] = event.astype("int8")
    kinds = rng.choice(["voluntary_closure", "transfer_out", "involuntary"], n, p=[0.5, 0.4, 0.1])
    frame["churn_type"] = pd.Series(np.where(event, kinds, None), dtype="string")
    return frame


@pytest.fixture
def project(tmp_path, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = deep_merge(params, yaml.safe_load(PROFILE.read_text(encoding="utf-8")))
    sections = ("base", "data", "features", "survival")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({k: params[k] for k in sections}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    lifetimes = tiny_lifetimes()
    paths.PROCESSED.mkdir(parents=True)
    lifetimes.to_parquet(paths.LIFETIMES)
    paths.ORACLE.mkdir(parents=True)
    active = lifetimes.loc[lifetimes["event"] == 0, "customer_id"]
    months = np.arange(1, 25)
    pd.DataFrame({"customer_id": np.repeat(active, 24), "months_ahead": np.tile(months, len(active)),
                  "survival_voluntary": np.tile(0.98 ** months, len(active))}).to_parquet(paths.ORACLE_SURVIVAL)
    risk = 1 - np.exp(-12 * 0.015 * np.exp(0.8 * lifetimes["entry_complaints_12m"]
                                           - 0.8 * lifetimes["entry_payroll"].astype(float)))
    pd.DataFrame({"customer_id": lifetimes["customer_id"], "p_voluntary_12m_at_entry": risk}).to_parquet(
        paths.ORACLE_CUSTOMERS)
    return tmp_path, lifetimes


def test_stage_writes_every_output_and_logs_one_run(project):
    root, lifetimes = project
    survival.main()
    report = json.loads((root / paths.METRICS / "survival.json").read_text())
    assert report["best_model"] in report["models"]
    for name, metrics in report["models"].items():
        for key in ("c_index_harrell", "c_index_uno", "td_auc_12", "ibs", "ici", "oracle_c_index", "oracle_ratio"):
            assert np.isfinite(metrics[key]), (name, key)
    assert report["models"]["cox"]["c_index_harrell"] > 0.6  # complaints and payroll carry real signal
    clv = pd.read_parquet(root / paths.CLV)
    assert len(clv) == int((lifetimes["event"] == 0).sum()) and set(clv["value_tier"]) == {"low", "medium", "high"}
    assert -1 <= report["clv"]["vs_truth"]["rank_corr"] <= 1
    for name in ("overall", "segment", "products", "payroll", "channel", "stage"):
        assert (root / paths.PLOTS / f"km_{name}.csv").exists()
    for name in ("km_curves", "model_curves", "calibration", "cumulative_incidence"):
        assert (root / survival.FIGURES / f"{name}.png").stat().st_size > 0
    hazard = pd.read_csv(root / survival.OUT / "hazard_ratios.csv").set_index("covariate")
    assert hazard.loc["complaints_12m", "hazard_ratio"] > 1 > hazard.loc["payroll", "hazard_ratio"]

    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="attributes.run_name = 'survival'")
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["metrics.models.cox.c_index_uno"] == pytest.approx(report["models"]["cox"]["c_index_uno"])
    assert run["params.survival.cox.penalizer"] == "0.01" and "tags.git_commit" in run

    # No raw customer id in the reports or the MLflow run.
    ids = set(lifetimes["customer_id"])
    text = " ".join(p.read_text(errors="ignore") for p in (root / paths.REPORTS).rglob("*.csv"))
    text += (root / paths.METRICS / "survival.json").read_text() + " ".join(map(str, run.to_dict().values()))
    assert not any(i in text for i in ids)


def test_missing_input_column_is_named(project):
    root, lifetimes = project
    lifetimes.drop(columns="entry_tenure").to_parquet(paths.LIFETIMES)
    with pytest.raises(KeyError, match="entry_tenure"):
        survival.main()
