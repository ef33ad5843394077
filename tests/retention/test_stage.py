"""The retention stage: its parts on hand-made frames with known answers; what it skips and why on data without
campaigns, churn events or a time axis; and end to end on the small pipeline (slow): report, tables, MLflow run,
and no raw customer id anywhere."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from frames import customer, month, months, tables
from snapshot_frames import churn_model, snapshots

from churnlab.contract.schema import empty_table
from churnlab.contract.source import Source
from churnlab.contract.tables import connect
from churnlab.core import paths
from churnlab.retention.campaign import campaign_outcomes
from churnlab.retention.stage import (
    TABLES,
    Campaign,
    History,
    campaign_problem,
    churner_problem,
    measure_campaign,
    profit_part,
    run,
    targeting_part,
)

ROOT = Path(__file__).resolve().parents[2]
RETENTION = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["retention"]
MARGINS = {"deposit_margin": 0.015, "investment_fee_rate": 0.008, "loan_margin": 0.02}
CAMPAIGNS = pd.DataFrame({"customer_id": ["a", "b", "c"], "month": pd.Timestamp("2022-03-31"),
                          "treated": [True, False, True], "cost": [60.0, 0.0, 60.0]})
EVENTS = pd.DataFrame({"customer_id": ["a"], "churn_month": [pd.Timestamp("2022-05-31")],
                       "churn_type": ["voluntary_closure"]})


class Probabilities:
    """A stand-in churn model: the frame's `p` column; 0.1 to 0.5 in row order for a frame without one."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["p"].to_numpy(float) if "p" in frame else np.linspace(0.1, 0.5, len(frame))


def test_campaign_problems_name_what_is_missing():
    assert "no time axis" in campaign_problem(None, None)
    assert "no campaign rows" in campaign_problem(empty_table("campaigns"), None)
    late = campaign_outcomes(CAMPAIGNS, EVENTS, horizon_months=6, last_month=pd.Timestamp("2022-06-30"))
    assert late.empty and "outcome window" in campaign_problem(CAMPAIGNS, late)
    treated_only = CAMPAIGNS[CAMPAIGNS["treated"]]
    outcomes = campaign_outcomes(treated_only, EVENTS, horizon_months=3, last_month=pd.Timestamp("2022-12-31"))
    assert "only treated customers" in campaign_problem(treated_only, outcomes)
    outcomes = campaign_outcomes(CAMPAIGNS, EVENTS, horizon_months=3, last_month=pd.Timestamp("2022-12-31"))
    assert campaign_problem(CAMPAIGNS, outcomes) is None


def test_churner_problems_name_what_is_missing():
    assert "no time axis" in churner_problem(None)
    assert "no churn events" in churner_problem(empty_table("churn_events"))
    assert churner_problem(EVENTS) is None


def campaign_history() -> History:
    """Eight customers over months 0..9; in month 2 the bank offered a, c, e, g (costs 60, 60, 60, 40) and kept
    b, d, f, h as the control. Within H = 3 months of it (months 3-5) a churned (month 4) and b and d (months 3 and
    5); f left in month 8, after the window."""
    people = [customer(c) for c in "abcdefgh"]
    last = {"a": 4, "b": 3, "d": 5, "f": 8}
    rows = [row for c in "abcdefgh" for row in months(c, 0, last.get(c, 9))]
    raw = tables(people, rows, [(c, m, "voluntary_closure") for c, m in last.items()], n_months=10)
    campaigns = pd.DataFrame({"customer_id": list("abcdefgh"), "month": month(2), "treated": [True, False] * 4,
                              "offer": "rate_match", "cost": [60.0, 0.0, 60.0, 0.0, 60.0, 0.0, 40.0, 0.0]})
    return History(customers=raw["customers"], events=raw["churn_events"], campaigns=campaigns, con=connect(raw))


def test_measure_campaign_by_hand():
    """Control churn 2/4 = 0.5, treated 1/4 = 0.25: the offer keeps (0.5 - 0.25) / 0.5 = half of the would-be
    churners; an offer costs the treated rows' mean, (3 x 60 + 40) / 4 = EUR 55."""
    campaign = measure_campaign(campaign_history(), horizon_months=3, save_rate=None, offer_cost=None)
    assert campaign.problem is None and len(campaign.rows) == 8 and "deposit_balance" in campaign.rows
    assert campaign.rows.set_index("customer_id")["churned"].to_dict() == {
        "a": 1, "b": 1, "c": 0, "d": 1, "e": 0, "f": 0, "g": 0, "h": 0}
    assert (campaign.save_rate, campaign.offer_cost) == (pytest.approx(0.5), pytest.approx(55.0))
    assert campaign.result().metrics == {"campaign": {"rows": 8, "treated_share": 0.5,
                                                      "churn_rate": {"False": 0.5, "True": 0.25},
                                                      "save_rate": pytest.approx(0.5), "offer_cost": 55.0}}


def test_params_win_over_the_campaign_and_no_campaign_keeps_them():
    campaign = measure_campaign(campaign_history(), horizon_months=3, save_rate=0.3, offer_cost=50.0)
    assert (campaign.save_rate, campaign.offer_cost) == (0.3, 50.0)
    none = measure_campaign(None, horizon_months=3, save_rate=0.3, offer_cost=None)
    assert (none.save_rate, none.offer_cost, none.rows) == (0.3, None, None)
    assert none.result().skipped == {"campaign": campaign_problem(None, None)}
    too_late = measure_campaign(campaign_history(), horizon_months=8, save_rate=None, offer_cost=None)
    assert "outcome window" in too_late.problem and too_late.save_rate is None


def latest_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Snapshots at two cutoffs (b at the earlier one carries a high p that must be ignored) and CLVs."""
    snapshots = pd.DataFrame({"customer_id": ["a", "b", "a", "b", "c"], "p": [0.9, 0.9, 0.5, 0.1, 0.2],
                              "cutoff": pd.to_datetime(["2024-03-31"] * 2 + ["2024-06-30"] * 3)})
    clv = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [1000.0, 100.0, 400.0], "monthly_margin": 10.0})
    return snapshots, clv


def test_profit_part_on_the_latest_cutoff_by_hand():
    """r = 0.5, c = 10 at the June cutoff: a gains 0.5 x 0.5 x 1000 - 10 = 240, c 0.2 x 0.5 x 400 - 10 = 30, b
    0.1 x 0.5 x 100 - 10 = -5. Risk and expected loss both rank a, c, b: profits 0, 240, 270, 265, the best at
    two of three customers; a EUR 10 budget pays for one contact (240)."""
    snapshots, clv = latest_frames()
    part = profit_part(Probabilities(), snapshots, clv, campaign=Campaign(0.5, 10.0), multiplier=20.0, budget_eur=10)
    profit = part.metrics["profit"]
    assert (profit["cutoff"], profit["customers"], profit["save_rate"], profit["offer_cost"]) == (
        "2024-06-30", 3, 0.5, 10.0)
    assert profit["risk"] == {"optimal_share": pytest.approx(2 / 3), "optimal_contacts": 2, "optimal_profit": 270.0,
                              "budget_contacts": 1, "plan_contacts": 1, "plan_profit": 240.0}
    assert profit["expected_loss"] == profit["risk"]
    curve = part.tables["profit_curve"]
    assert curve[curve["ranking"] == "risk"]["profit"].tolist() == [0.0, 240.0, 270.0, 265.0]


def test_profit_part_says_what_it_lacks():
    snapshots, clv = latest_frames()
    reasons = [profit_part(Probabilities(), snapshots, clv, campaign=campaign, multiplier=multiplier,
                           budget_eur=10).skipped["profit"]
               for campaign, multiplier in ((Campaign(None, 10.0), 20.0), (Campaign(0.5, None), 20.0),
                                            (Campaign(0.5, 10.0), None))]
    assert [r.split(":")[0] for r in reasons] == ["no save rate", "no offer cost", f"no CLV in {paths.CLV}"]


def test_without_a_campaign_the_targeting_parts_point_to_its_reason():
    part = targeting_part(None, None, Campaign(None, None, problem="none"), effects=None, multiplier=None,
                          margins=MARGINS, uplift=RETENTION["uplift"], policies=RETENTION["policies"],
                          rmst_months=12, seed=0)
    assert part.skipped == dict.fromkeys(("uplift", "policies", "campaign_survival"), "no campaign (see campaign)")
    assert part.metrics == {} and part.tables == {}


def test_run_on_a_snapshot_source_gives_the_profit_curve_and_every_table():
    """No time axis: only the profit curve (save rate and offer cost from params); every other table header-only."""
    snapshots, clv = latest_frames()
    source = Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False)
    result = run(Probabilities(), source=source, clv=clv, snapshots=snapshots, history=None, effects=None, seed=0,
                 horizon_months=6, margins=MARGINS, model_source="models/churn_model.pkl", key=b"test-key",
                 **RETENTION | {"save_rate": 0.5, "offer_cost": 10.0, "budget_eur": 10})
    assert set(result.skipped) == {"campaign", "uplift", "policies", "campaign_survival", "offers", "next_campaign",
                                   "churners", "archetypes", "winback"}
    assert "time axis" in result.skipped["campaign"] and "time axis" in result.skipped["churners"]
    assert {k: result.metrics[k] for k in ("source", "model_source", "horizon_months")} == {
        "source": "snapshot", "model_source": "churn_model.pkl", "horizon_months": 6}
    assert result.metrics["profit"]["risk"]["optimal_profit"] == 270.0
    assert set(result.tables) == {paths.RETENTION / f"{name}.csv" for name in TABLES}
    for name, columns in TABLES.items():
        table = result.tables[paths.RETENTION / f"{name}.csv"]
        assert list(table.columns)[:len(columns)] == columns and table.empty == (name != "profit_curve")


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # bootstraps of four held-out rows
@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # a learner on five rows predicts one value
@pytest.mark.parametrize("oracle", [False, True])
def test_run_uses_the_true_effects_only_where_the_source_has_an_oracle(oracle):
    """Every part on a tiny monthly history: the campaign's save rate and cost price the profit curve; the oracle
    policy and the rank agreement with the truth exist only on a source with an oracle (effects handed in for any
    other source are ignored); two churners without a snapshot before leaving get profiles but no archetypes."""
    snapshots, clv = latest_frames()
    effects = pd.DataFrame({"customer_id": list("abcdefgh"), "month": month(2), "true_effect": -0.01 * np.arange(8)})
    source = Source("simulator" if oracle else "contract", time_axis=True, campaigns=True, oracle=oracle,
                    closures=True)
    uplift = RETENTION["uplift"] | {"n_boot": 5, "xgboost": RETENTION["uplift"]["xgboost"] | {"n_estimators": 10}}
    settings = RETENTION | {"uplift": uplift, "policies": {"budget_share": 0.5, "n_boot": 5}}
    result = run(Probabilities(), source=source, clv=clv, snapshots=snapshots, history=campaign_history(),
                 effects=effects, seed=0, horizon_months=3, margins=MARGINS, model_source="champion",
                 key=b"test-key", **settings)
    assert result.metrics["campaign"]["save_rate"] == pytest.approx(0.5)
    assert result.metrics["profit"]["offer_cost"] == 55.0 and result.metrics["survival"]["tau_months"] == 12
    policies = result.tables[paths.RETENTION / "policies.csv"]["policy"].tolist()
    assert policies == ["random", "risk", "expected_loss", "uplift", "uplift_value", *(["oracle"] if oracle else [])]
    assert ("uplift_vs_truth" in result.metrics) == oracle and ("oracle" in result.skipped) == (not oracle)
    assert set(result.skipped) - {"oracle"} == {"archetypes", "winback", "offers", "next_campaign"}
    assert "too few customers" in result.skipped["offers"]
    assert not result.tables[paths.RETENTION / "churner_profile.csv"].empty


def retention_project(folder: Path, monkeypatch, *, source: str, retention: dict) -> pd.DataFrame:
    """A project without campaigns or churn events (contract tables unless `source` is snapshot), its
    data/raw/source.json, snapshots with the catalogue's columns, CLV at the latest cutoff and a tiny model in
    models/churn_model.pkl (no registry)."""
    from churnlab.model.churn import save_model

    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
    monkeypatch.setenv("CHURNLAB_PSEUDONYM_KEY", "test-key")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["retention"] |= retention
    (folder / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    for name in ("data/raw", "data/processed", "models"):
        (folder / name).mkdir(parents=True)
    time_axis = source != "snapshot"
    description = {"source": source, "time_axis": time_axis, "campaigns": False, "closures": False, "oracle": False}
    (folder / "data/raw/source.json").write_text(json.dumps(description))
    if time_axis:
        raw = tables([customer("a"), customer("b")], months("a", 0, 9) + months("b", 0, 9), n_months=10)
        raw |= {"churn_events": empty_table("churn_events"), "campaigns": empty_table("campaigns")}
        for name, frame in raw.items():
            frame.to_parquet(f"data/raw/{name}.parquet", index=False)
    rows = snapshots(200)
    rows.to_parquet("data/processed/snapshots.parquet", index=False)
    latest = rows[rows["cutoff"] == rows["cutoff"].max()]
    pd.DataFrame({"customer_id": latest["customer_id"], "clv": np.linspace(100, 3000, len(latest)),
                  "monthly_margin": 10.0}).to_parquet("data/processed/clv.parquet", index=False)
    save_model(churn_model(rows[rows["labeled"]]), "models/churn_model.pkl")
    return latest


def test_without_campaigns_or_churn_events_only_the_profit_curve_runs(tmp_path, monkeypatch):
    """A contract without campaigns or churn events, with the save rate and offer cost set in params: the profit
    curve runs on the latest cutoff; the campaign's parts and the churners' are skipped, with header-only tables."""
    from churnlab.retention import stage as retention

    latest = retention_project(tmp_path, monkeypatch, source="contract", retention={"save_rate": 0.2,
                                                                                    "offer_cost": 50.0})
    retention.main()
    report = json.loads((tmp_path / "reports/metrics/retention.json").read_text())
    assert set(report["skipped"]) == {"campaign", "uplift", "policies", "campaign_survival", "offers",
                                      "next_campaign", "churners", "archetypes", "winback"}
    assert "no campaign rows" in report["skipped"]["campaign"] and "no churn events" in report["skipped"]["churners"]
    assert report["profit"]["customers"] == len(latest) and report["profit"]["save_rate"] == 0.2
    assert "campaign" not in report and "policies" not in report
    for name, columns in TABLES.items():
        table = pd.read_csv(tmp_path / "reports/retention" / f"{name}.csv")
        assert list(table.columns)[:len(columns)] == columns
        assert table.empty == (name != "profit_curve")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = mlflow.search_runs(experiment_names=["churnlab"], output_format="list")
    assert run.info.run_name == "retention" and run.data.tags["stage"] == "retention"
    assert run.data.metrics["profit.risk.optimal_profit"] == pytest.approx(report["profit"]["risk"]["optimal_profit"])
    assert run.data.params["retention.save_rate"] == "0.2" and "register.model_name" in run.data.params
    logged = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "retention")}
    per_customer = {"winback.csv", "offers.csv", "next_campaign.csv"}
    assert logged == {f"{name}.csv" for name in TABLES} - per_customer | {"retention.json"}  # aggregates only


def test_on_a_snapshot_every_part_is_skipped_with_its_reason(tmp_path, monkeypatch):
    """No time axis, and no save rate to value a contact by: nothing to compute, every reason given."""
    from churnlab.retention import stage as retention

    retention_project(tmp_path, monkeypatch, source="snapshot", retention={"save_rate": None})
    retention.main()
    report = json.loads((tmp_path / "reports/metrics/retention.json").read_text())
    assert "no save rate" in report["skipped"]["profit"]
    assert all("time axis" in report["skipped"][part] for part in ("campaign", "churners", "winback"))
    assert len(list((tmp_path / "reports/retention").glob("*.csv"))) == len(TABLES)


@pytest.fixture(scope="module")
def raw_ids(pipeline_dir) -> list[str]:
    return pd.read_parquet(pipeline_dir / "data" / "raw" / "customers.parquet")["customer_id"].tolist()


@pytest.mark.slow
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


@pytest.mark.slow
def test_no_raw_customer_id_in_any_output(pipeline_dir, raw_ids):
    outputs = [pipeline_dir / "reports" / "metrics" / "retention.json",
               *sorted((pipeline_dir / "reports" / "retention").glob("*.csv"))]
    assert len(outputs) == len(TABLES) + 1
    sample = set(raw_ids)
    for path in outputs:
        text = path.read_text()
        leaked = [i for i in sample if i in text]
        assert not leaked, f"{path.name} holds raw customer ids, e.g. {leaked[:3]}"
    winback = pd.read_csv(pipeline_dir / "reports" / "retention" / "winback.csv")
    assert winback["customer"].str.match(r"^p_[0-9a-f]{16}$").all()


@pytest.mark.slow
def test_mlflow_run_logs_aggregates_without_ids(pipeline_dir, raw_ids):
    report = json.loads((pipeline_dir / "reports" / "metrics" / "retention.json").read_text())
    mlflow.set_tracking_uri(f"sqlite:///{pipeline_dir / 'mlruns' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["churnlab"], filter_string="tags.stage = 'retention'",
                              order_by=["attributes.start_time DESC"])
    run = runs.iloc[0]  # the run that wrote the report
    assert run["metrics.policies.oracle.net_value"] == pytest.approx(report["policies"]["oracle"]["net_value"])
    assert run["metrics.uplift.x_learner.qini"] == pytest.approx(report["uplift"]["x_learner"]["qini"])
    logged = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "retention")}
    assert "policies.csv" in logged and "winback.csv" not in logged
    text = " ".join(str(v) for v in run.to_numpy())
    assert not any(i in text for i in set(raw_ids))
