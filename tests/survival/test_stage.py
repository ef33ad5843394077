"""The survival stage: `run` and its parts on tiny frames (fast), and `main` end to end on a tiny synthetic project
(slow): outputs, metrics, the MLflow run, no raw ids."""

import json
import logging

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PROFILE, ROOT, deep_merge
from matplotlib.figure import Figure

from churnlab.core import paths
from churnlab.core.engine import SparkSql
from churnlab.core.io import json_text
from churnlab.survival import stage as survival
from churnlab.survival.clv import CLV_COLUMNS
from churnlab.survival.design import prepare_lifetimes

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
    paths.RAW.mkdir(parents=True)
    paths.SOURCE.write_text(json.dumps({"source": "simulator", "time_axis": True, "campaigns": True, "oracle": True}))
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


def settings(**overrides) -> dict:
    """params.yaml's `survival` section on the test profile, with `overrides`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = deep_merge(params, yaml.safe_load(PROFILE.read_text(encoding="utf-8")))
    return deep_merge(params["survival"], overrides)


# Six customers on the tenure scale, all at risk from opening (tests/survival/test_kaplan_meier.py works the curve
# out by hand: S(2) = 5/6, S(3) = 2/3, S(5) = 4/9, S(8) = 0, so the median is 5 months).
SIX = pd.DataFrame({"customer_id": list("abcdef"), "entry_tenure": 0, "duration": [2, 3, 3, 5, 6, 8],
                    "event": [1, 1, 0, 1, 0, 1],
                    "churn_type": pd.array(["transfer_out", "voluntary_closure", None, "transfer_out", None,
                                            "voluntary_closure"], dtype="string"),
                    "entry_segment": ["mass", "private"] * 3, "entry_region": ["north"] * 3 + ["south"] * 3})


def test_survival_curves_match_the_hand_worked_curve_and_route_each_grouping():
    lifetimes = prepare_lifetimes(SIX, involuntary_as_censored=True)
    part = survival.survival_curves(lifetimes, declared=["segment", "channel"], times=[3, 12], since_entry=[],
                                    grid_months=10, min_group_size=1,
                                    groups={"segment": "entry_segment", "channel": "entry_acquisition_channel",
                                            "region": "entry_region"})
    km = part.metrics["km"]
    assert km["median_months"] == 5.0 and km["survival_3m"] == pytest.approx(2 / 3)
    assert km["survival_12m"] is None  # beyond the longest follow-up (8 months)
    assert set(part.metrics["logrank_p"]) == {"segment", "region"}  # no channel column: nothing to compare
    declared = {paths.PLOTS / f"km_{name}.csv" for name in ("overall", "segment", "channel")}
    assert set(part.tables) == declared | {paths.PLOTS / "cif.csv", survival.OUT / "km_summary.csv",
                                           survival.OUT / "logrank.csv", survival.OUT / "km_region.csv"}
    assert list(part.tables[paths.PLOTS / "km_channel.csv"].columns) == ["time"]  # declared, not drawable: empty
    overall = part.tables[paths.PLOTS / "km_overall.csv"].set_index("time")["survival"]
    assert overall.loc[[2, 3, 5, 8]].tolist() == pytest.approx([5 / 6, 2 / 3, 4 / 9, 0.0])
    assert set(part.figures) == {survival.FIGURES / "km_curves.png", survival.FIGURES / "cumulative_incidence.png"}
    assert all(isinstance(f, Figure) for f in part.figures.values())
    plt.close("all")


def test_skip_writes_what_dvc_expects_and_says_why():
    result = survival.skip("no tenure column", ["segment", "stage"])
    assert result.metrics == {} and result.skipped == {"survival": "no tenure column"}
    assert json.loads(result.texts[survival.OUT / "skipped.json"]) == {"skipped": {"survival": "no tenure column"}}
    assert set(result.tables) == {paths.CLV, *(paths.PLOTS / f"{n}.csv" for n in ("km_overall", "km_segment",
                                                                                 "km_stage", "cif"))}
    assert list(result.tables[paths.CLV].columns) == list(CLV_COLUMNS) and result.tables[paths.CLV].empty


def test_run_without_a_tenure_column_is_skipped():
    result = survival.run(tiny_lifetimes(50).drop(columns="duration"), time_axis=False, seed=0, horizon=6,
                          **settings())
    assert "tenure column" in result.skipped["survival"] and paths.CLV in result.tables and not result.figures


def test_run_on_monthly_data_without_an_oracle():
    lifetimes = tiny_lifetimes()
    result = survival.run(lifetimes, time_axis=True, seed=0, horizon=6, **settings(models=["cox", "weibull"]))
    metrics = result.metrics
    assert metrics["best_model"] in {"cox", "weibull"} and set(metrics["models"]) == {"cox", "weibull"}
    assert "oracle" not in json.dumps(metrics) and metrics["notes"] == [] and not result.skipped
    assert metrics["customers"]["train"] + metrics["customers"]["test"] == len(lifetimes)
    assert set(metrics["logrank_p"]) == {"segment", "products", "payroll", "channel", "stage"}
    values = result.tables[paths.CLV]
    assert len(values) == int((lifetimes["event"] == 0).sum()) and (values["clv"] > 0).all()
    hazard = result.tables[survival.OUT / "hazard_ratios.csv"].set_index("covariate")
    assert metrics["cox_strata"] == []  # no PH violation on these customers, so payroll has a hazard ratio
    assert hazard.loc["complaints_12m", "hazard_ratio"] > 1 > hazard.loc["payroll", "hazard_ratio"]
    assert hazard.loc["deposit_balance", "per"] == "per doubling of (1 + value)"
    assert set(result.figures) == {survival.FIGURES / f"{n}.png" for n in ("km_curves", "cumulative_incidence",
                                                                           "model_curves", "calibration")}
    plt.close("all")


def test_a_covariate_that_encodes_the_duration_is_left_out_and_named():
    lifetimes = tiny_lifetimes(600)
    lifetimes["entry_total_charges"] = lifetimes["entry_age"] * lifetimes["duration"]
    lifetimes["last_total_charges"] = lifetimes["entry_total_charges"]
    result = survival.run(lifetimes, time_axis=False, seed=0, horizon=6, **settings(models=["cox"]))
    assert list(result.metrics["left_out"]) == ["total_charges"]
    assert result.metrics["left_out"]["total_charges"].endswith("with the duration: almost a function of it")
    hazards = result.tables[survival.OUT / "hazard_ratios.csv"]["covariate"]
    assert not hazards.str.contains("total_charges").any() and hazards.str.contains("age").any()
    plt.close("all")


def test_run_on_a_snapshot_takes_covariates_and_groupings_from_its_columns():
    result = survival.run(tiny_lifetimes(600), time_axis=False, seed=0, horizon=6, **settings(models=["cox"]))
    assert result.metrics["notes"] == [survival.snapshot_note("years")] and result.metrics["left_out"] == {}
    assert "whole years taken at mid-year" in survival.snapshot_note("years")
    assert "months as given" in survival.snapshot_note("months") and "mid-year" not in survival.snapshot_note("months")
    assert list(result.tables[paths.PLOTS / "km_products.csv"].columns) == ["time"]  # declared, not a snapshot column
    assert len(result.tables[paths.PLOTS / "km_segment.csv"]) > 0
    assert survival.OUT / "km_occupation.csv" in result.tables  # a snapshot's own grouping: not a DVC plot
    per = result.tables[survival.OUT / "hazard_ratios.csv"]["per"]
    assert not per.str.startswith("per doubling").any()  # a snapshot's numbers are per unit: no log2 list applies
    plt.close("all")


@pytest.mark.slow
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
    assert run["params.survival.cox.penalizer"] == "0.01" and run["tags.best_model"] == report["best_model"]
    assert not [c for c in runs.columns if c.startswith(("params.data.", "params.features."))]  # not read
    assert run["tags.data_md5.data/raw/source.json"] != "missing" and run["tags.git_commit"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "survival")}
    assert {"survival/km_curves.png", "survival/hazard_ratios.csv", "survival/survival.json"} <= artifacts
    assert not [a for a in artifacts if a.endswith(".parquet")]  # clv.parquet's customer ids stay out of MLflow

    # No raw customer id in the reports or the MLflow run.
    ids = set(lifetimes["customer_id"])
    text = " ".join(p.read_text(errors="ignore") for p in (root / paths.REPORTS).rglob("*.csv"))
    text += (root / paths.METRICS / "survival.json").read_text() + " ".join(map(str, run.to_dict().values()))
    assert not any(i in text for i in ids)


@pytest.mark.slow
def test_engine_spark_sums_the_counts_on_spark_and_changes_no_number(project, spark, monkeypatch):
    """params.yaml `engine` -> main() -> open_engine in one hop; on Spark the stage writes the Kaplan-Meier,
    log-rank and incidence files and metrics of the local engine, to the byte."""
    root, lifetimes = project
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    engine = {"name": "spark", "spark": {"master": "local[2]", "remote": None, "conf": {"spark.ui.enabled": False}}}
    (root / "params.yaml").write_text(yaml.safe_dump({**params, "engine": engine}), encoding="utf-8")
    opened = []

    def test_session(settings):
        opened.append(settings)
        return SparkSql(spark)  # the test session's Spark: close() leaves it running

    monkeypatch.setattr(survival, "open_engine", test_session)
    survival.main()
    assert opened == [engine]
    km = params["survival"]["km"]
    local = survival.survival_curves(prepare_lifetimes(lifetimes, **params["survival"]["event"]),
                                     declared=list(km["groups"]), **km)  # DuckDB, in this process
    report = json.loads((root / paths.METRICS / "survival.json").read_text())
    assert {k: report[k] for k in ("km", "logrank_p")} == json.loads(json_text(local.metrics))
    for path, table in local.tables.items():
        assert (root / path).read_text() == table.to_csv(index=False), path.name
    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="attributes.run_name = 'survival'")
    assert runs.iloc[0]["params.engine.name"] == "spark"
    # the Cox model's sums came from Spark: its hazard ratios and held-out metrics are the local fit's to COX_RTOL
    local_cox = survival.run(lifetimes, time_axis=True, seed=params["base"]["seed"],
                             horizon=params["base"]["horizon_months"],
                             oracle_customers=pd.read_parquet(root / paths.ORACLE_CUSTOMERS),
                             **{**params["survival"], "models": ["cox"]})
    assert_same_cox(report["models"]["cox"], pd.read_csv(root / survival.OUT / "hazard_ratios.csv"), local_cox)
    plt.close("all")


COX_RTOL = 1e-8  # the Spark fit adds the same sums in another order (tests/survival/test_cox_spark.py)


def assert_same_cox(metrics: dict, hazard_ratios: pd.DataFrame, local: survival.StageResult) -> None:
    """The Cox model's held-out `metrics` and `hazard_ratios` are those of the `local` run, to COX_RTOL."""
    expected = local.metrics["models"]["cox"]
    assert set(metrics) == set(expected)
    for key, value in expected.items():
        assert metrics[key] == (value if value is None else pytest.approx(value, rel=COX_RTOL)), key
    table = local.tables[survival.OUT / "hazard_ratios.csv"].set_index("covariate")
    ours = hazard_ratios.set_index("covariate").loc[table.index]
    assert (ours["per"] == table["per"]).all()
    numbers = ["hazard_ratio", "lower_95", "upper_95", "p"]
    np.testing.assert_allclose(ours[numbers].to_numpy(), table[numbers].to_numpy(), rtol=COX_RTOL, atol=1e-300)


@pytest.mark.slow
def test_a_stratified_cox_model_on_spark_is_the_local_one(spark, caplog):
    """Every covariate "violates" proportional hazards at alpha = 1, so the two worst are stratified: the Spark
    fit sums each stratum's customers on its own, as the local one does."""
    lifetimes = tiny_lifetimes(600, seed=2)
    common = {"time_axis": True, "seed": 0, "horizon": 6, **settings(models=["cox"], ph_test={"alpha": 1.0})}
    local = survival.run(lifetimes, **common)
    caplog.set_level(logging.INFO, logger="churnlab.survival.cox_spark")
    on_spark = survival.run(lifetimes, sql=SparkSql(spark), **common)
    assert "Cox on Spark: " in caplog.text  # the Spark sums, not the in-memory ones
    assert len(local.metrics["cox_strata"]) == 2 and on_spark.metrics["cox_strata"] == local.metrics["cox_strata"]
    assert_same_cox(on_spark.metrics["models"]["cox"], on_spark.tables[survival.OUT / "hazard_ratios.csv"], local)
    plt.close("all")


@pytest.mark.slow
def test_a_source_without_tenure_skips_the_stage_and_writes_every_declared_file(project):
    root, lifetimes = project
    lifetimes.drop(columns="duration").to_parquet(paths.LIFETIMES)
    survival.main()
    reason = json.loads((root / paths.METRICS / "survival.json").read_text())["skipped"]["survival"]
    assert "no tenure column" in reason
    assert json.loads((root / survival.OUT / "skipped.json").read_text()) == {"skipped": {"survival": reason}}
    assert pd.read_parquet(root / paths.CLV).empty
    for name in ("overall", "segment", "products", "payroll", "channel", "stage"):
        assert (root / paths.PLOTS / f"km_{name}.csv").read_text().strip() == "time"
    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="attributes.run_name = 'survival'")
    assert runs.iloc[0]["tags.skipped.survival"] == reason


def test_missing_input_column_is_named(project):
    root, lifetimes = project
    lifetimes.drop(columns="entry_tenure").to_parquet(paths.LIFETIMES)
    with pytest.raises(KeyError, match="entry_tenure"):
        survival.main()
