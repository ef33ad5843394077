"""Notebook 4.0 (early warning and retention): runs on the small pipeline and tells the story; says what it skips."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT
from notebook_runner import FOLDER, figures, rendered, run_clean

NAME = "4.0-early-warning-and-retention.ipynb"


@pytest.mark.slow
def test_retention_notebook_runs_on_the_small_pipeline(pipeline_dir):
    text, shown = rendered(pipeline_dir, NAME)  # the report stage's page: the notebook ran there
    report = json.loads((pipeline_dir / "reports" / "metrics" / "retention.json").read_text())
    assert f"gain {report['survival']['rmst_gain_months']:.3f} months per contacted customer" in text
    assert "of the oracle's value retained" in text and "Profit-maximising share".lower() in text.lower()
    proof = report["offers"]["learned_proof"]  # what the campaign proved, from retention.json
    assert f"({proof['dr_net_value_low']:,.0f} to {proof['dr_net_value_high']:,.0f})" in text
    ids = pd.read_parquet(pipeline_dir / "data" / "raw" / "customers.parquet")["customer_id"]
    assert not any(i in text for i in ids), "the notebook printed raw customer ids"
    assert shown >= 5, f"expected a figure per chart, found {shown}"


# Skipped parts: small synthetic outputs written with the shapes and reasons the stages write (churnlab.retention,
# churnlab.score), so these tests run in seconds and need no pipeline.
PROFIT_SKIP = "no save rate: no campaign to measure it on and params retention.save_rate is null"
SCORE_SKIPS = {  # score.json's skipped parts on a snapshot without balances (churnlab.score)
    "grade_migration": "one cutoff (the source has no time axis): no earlier grade to move from",
    "expected_loss": "no customer has a CLV or a monthly margin (segments.parquet): no expected loss, the list is "
                     "ranked by churn probability",
    "actions": "no customer value: an action's benefit (p x CLV x response) cannot be weighed against its cost, so "
               "none is recommended",
}
SOURCES = {"snapshot": (False, False), "contract": (True, True)}  # name -> (time axis, campaigns)


def retention_project(root: Path, *, source: str, retention: dict, score: dict, tables: dict | None = None) -> Path:
    """A project folder holding only what notebook 4.0 reads; every retention table not in `tables` header-only."""
    from churnlab.retention.stage import TABLES

    (root / "notebooks").mkdir(parents=True)
    shutil.copy(FOLDER / NAME, root / "notebooks" / NAME)
    (root / "dvc.yaml").write_text("stages: {}\n")  # find_root() looks for it
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"] |= {"source": source, "target": "Exited", "positive": 1}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    time_axis, campaigns = SOURCES[source]
    raw, metrics, folder = root / "data" / "raw", root / "reports" / "metrics", root / "reports" / "retention"
    for path in (raw, metrics, folder):
        path.mkdir(parents=True)
    (raw / "source.json").write_text(json.dumps({"source": source, "time_axis": time_axis, "campaigns": campaigns,
                                                 "oracle": False, "inputs": {}}))
    (metrics / "retention.json").write_text(json.dumps({"source": source, "model_source": "churnlab-churn@champion",
                                                        "horizon_months": 6, **retention}))
    (metrics / "score.json").write_text(json.dumps(score))
    for name, columns in TABLES.items():
        (tables or {}).get(name, pd.DataFrame(columns=columns)).to_csv(folder / f"{name}.csv", index=False)
    pd.DataFrame({"rank": [1, 2], "customer_pseudonym": ["p_0123456789abcdef", "p_fedcba9876543210"],
                  "cutoff": "2000-01-31", "p_churn": [0.9, 0.7], "points": [420.0, 470.0], "grade": ["E", "D"],
                  "action": "no action"}).to_csv(root / "reports" / "early_warning.csv", index=False)
    return root


def no_actions(**extra) -> dict:
    return {"actions": {"counts": {"no action": 2}, "customers_contacted": 0, "total_cost": 0.0,
                        "total_expected_benefit": 0.0, "total_expected_net_benefit": 0.0,
                        "without_reason_features": []}, **extra}


@pytest.mark.slow
def test_retention_notebook_on_a_snapshot_says_why_each_part_is_skipped(tmp_path, run_notebook):
    from churnlab.retention.stage import campaign_problem, churner_problem

    no_campaign, no_churners = campaign_problem(None, None), churner_problem(None)  # the stage's own reasons
    skipped = {"campaign": no_campaign, "profit": PROFIT_SKIP,
               **{part: "no campaign (see campaign)" for part in ("uplift", "policies", "campaign_survival")},
               **{part: no_churners for part in ("churners", "archetypes", "winback")}}
    project = retention_project(tmp_path / "snapshot", source="snapshot", retention={"skipped": skipped},
                                score=no_actions(skipped=SCORE_SKIPS))
    notebook, text = run_clean(project, run_notebook, NAME)
    assert "Data source: snapshot" in text and "Churn: the file's churn flag (Exited = 1)" in text
    assert "Horizon: churn within" not in text  # a snapshot's label has no horizon
    assert "Early-warning list: 2 customers" in text
    for sentence in (f"Recommended actions skipped: {SCORE_SKIPS['actions']}.",
                     f"Expected loss skipped: {SCORE_SKIPS['expected_loss']}.",
                     f"Grade migration skipped: {SCORE_SKIPS['grade_migration']}.",
                     f"Churner profiles (indicators before leaving, by segment, churn types) skipped: {no_churners}.",
                     f"Reason archetypes skipped: {no_churners}.",
                     f"Section 2 (whom to contact: the profit curve) skipped: {PROFIT_SKIP}.",
                     f"Section 3 (targeting policies) skipped: {no_campaign}.",
                     f"Section 4 (how the last campaign worked) skipped: {no_campaign}.",
                     f"Uplift models skipped: {no_campaign}.",
                     f"Section 5 (win-back) skipped: {no_churners}.",
                     "- Not possible on the snapshot source: whom to contact, targeting policies, the last campaign, "
                     "win-back (why: above)."):
        assert sentence in text, f"missing: {sentence}\n{text}"
    assert "see campaign" not in text  # the campaign's own reason, not a pointer to it
    assert "oracle" not in text.lower()
    assert figures(notebook) == 0


@pytest.mark.slow
def test_retention_notebook_without_the_oracle_shows_the_campaign_estimates(tmp_path, run_notebook):
    from churnlab.retention.stage import churner_problem

    no_churners = churner_problem(pd.DataFrame())
    no_oracle = ("the simulator's true offer effects exist only for data.source simulator: no oracle policy, no "
                 "share_of_oracle, no rank agreement with the truth")
    names = ("random", "risk", "expected_loss", "uplift", "uplift_value")
    net = dict(zip(names, (-600.0, -900.0, -800.0, 300.0, 100.0), strict=True))
    policies = pd.DataFrame({"policy": names, "offers": 30,
                             **{f"estimated_{m}{end}": [net[n] / (100 if m == "retained" else 1) + shift for n in names]
                                for m in ("retained", "value_retained", "net_value")
                                for end, shift in (("", 0.0), ("_lo", -500.0), ("_hi", 500.0))}})
    best = {"optimal_share": 0.1, "optimal_contacts": 20, "optimal_profit": 1500.0, "budget_contacts": 500,
            "plan_contacts": 20, "plan_profit": 1500.0}
    retention = {
        "campaign": {"rows": 200, "treated_share": 0.5, "churn_rate": {"False": 0.2, "True": 0.15}, "save_rate": 0.25,
                     "offer_cost": 60.0},
        "profit": {"cutoff": "2022-12-31", "customers": 200, "save_rate": 0.25, "offer_cost": 60.0, "risk": best,
                   "expected_loss": best},
        "uplift": {m: {"auuc": 0.01, "qini": 0.01, "qini_lo": -0.01, "qini_hi": 0.03, "uplift_at_10": 0.1,
                       "uplift_at_30": 0.05} for m in ("random", "risk", "t_learner", "x_learner")},
        "uplift_rows": {"train": 140, "test": 60},
        "policies": policies.drop(columns="offers").set_index("policy").to_dict("index"),
        "policy_budget": {"share": 0.3, "offers": 30, "lifetime_multiplier_months": 20.0, "mean_value": 500.0},
        "survival": {"treated": {"customers": 100, "events": 15, "rmst": 10.5, "rmst_se": 0.3},
                     "control": {"customers": 100, "events": 20, "rmst": 10.0, "rmst_se": 0.3}, "logrank_p": 0.4,
                     "logrank_statistic": 0.7, "rmst_gain_ci95": [-0.3, 1.3], "rmst_gain_months": 0.5,
                     "rmst_gain_se": 0.4, "tau_months": 12},
        "skipped": {"oracle": no_oracle, **{part: no_churners for part in ("churners", "archetypes", "winback")}}}
    curve = pd.DataFrame({"ranking": ["risk"] * 3 + ["expected_loss"] * 3, "contacted": [0, 20, 200] * 2,
                          "share": [0.0, 0.1, 1.0] * 2, "profit": [0.0, 1500.0, -3000.0] * 2})
    qini = pd.DataFrame({"k": [0, 30, 60] * 2, "share": [0.0, 0.5, 1.0] * 2, "qini": [0.0, 0.02, 0.01] * 2,
                         "gain": [0.0, 0.6, 0.6] * 2, "model": ["t_learner"] * 3 + ["x_learner"] * 3})
    km = pd.DataFrame({"months": [0, 6, 12], "treated": [1.0, 0.95, 0.9], "control": [1.0, 0.93, 0.85]})
    project = retention_project(tmp_path / "contract", source="contract", retention=retention, score=no_actions(),
                                tables={"policies": policies, "profit_curve": curve, "qini_curves": qini,
                                        "km_campaign": km})
    notebook, text = run_clean(project, run_notebook, NAME)
    assert "Save rate (measured on the campaign): 25.0% of would-be churners; offer cost EUR 60." in text
    assert ("Judging the policies by the true effect of the offer (oracle, wasted offers) skipped: "
            f"{no_oracle}.") in text
    assert "uplift: the campaign estimates 3.0 churners kept and a net value of EUR 300 (95 % CI -200 to 800)" in text
    assert "By the campaign's estimate, uplift targeting nets more than risk targeting." in text  # CIs apart
    assert f"The rank correlation with the true benefit skipped: {no_oracle}." in text
    assert "gain 0.500 months per contacted customer" in text
    assert "- Target by uplift: the campaign estimates a net value of EUR 300, against EUR -900" in text
    assert "- Not possible on the contract source: win-back (why: above)." in text
    assert "of the oracle's value" not in text and "share_of_oracle_lo" not in text
    shown = figures(notebook)
    assert shown == 4, f"expected the profit, policy, campaign and Qini charts, found {shown}"
