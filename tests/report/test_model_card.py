"""The model card names the champion's version and lineage, and shows only what the pipeline produced."""

import re

import pandas as pd

from churnlab.report.html import external_references
from churnlab.report.model_card import CardInputs, card_html, grade_rows, performance_rows, render_card
from churnlab.report.pipeline_outputs import Source


def inputs(**overrides) -> CardInputs:
    base = dict(
        champion={"name": "churnlab-churn", "version": 7, "run_id": "abc123",
                  "tags": {"git_commit": "deadbeef", "git_dirty": "false",
                           "data_md5.data/processed/snapshots.parquet": "0123456789abcdef"}},
        params={"base": {"horizon_months": 6}, "features": {"churn": {"definition": "closure"}},
                "train": {"calibration": "isotonic"}},
        metrics={"features": {"customers": 100, "snapshots": 900, "cutoffs": 9, "label_rate": {"closure": 0.08}},
                 "evaluate": {"cutoff": "2023-04-30", "churn_rate": 0.08, "test": {"roc_auc": 0.81, "ece": 0.004},
                              "oracle": {"roc_auc": 0.85, "ratio": 0.886}},
                 "monitor": {"months_monitored": 12, "settings": {"alpha": 0.01},
                             "label_free": {"auc_mae": 0.01, "labelled_months": 6},
                             "simulator": {"false_alarm_rate": 0.0, "detection_rate": 0.9, "quiet_months": 6,
                                           "drift_months": 6, "shock_start": "2024-01-31"},
                             "latest": {"month": "2024-06-30", "retrain": True, "reasons": ["score PSI high"]}}},
        indicators=pd.DataFrame({"feature": ["age", "deposit_balance", "promo_index"],
                                 "group": ["customer", "banking", "market"]}),
        split={"train": ["2022-01-31", "2022-04-30"], "validation": ["2022-10-31"], "test": "2023-04-30"},
    )
    base.update(overrides)
    return CardInputs(**base)


def test_card_names_the_champion_version_and_lineage():
    card = render_card(inputs())
    assert "churnlab-churn version 7" in card and "version **7**" in card
    assert "0123456789abcdef" in card  # the inputs' md5s
    assert "deadbeef" not in card and "abc123" not in card  # commit and run id change every run: MLflow keeps them
    assert "within (t, t+6] months" in card and "`closure`" in card
    assert "**market** (1): `promo_index`" in card
    assert "retrain recommended = **True**" in card


def test_card_reports_oracle_ratio_and_missing_sections_honestly():
    perf = performance_rows(inputs().metrics)
    assert perf.set_index("metric").loc["oracle_roc_auc", "value"] == 0.85
    assert ("| Share of the true risk's lift over chance: (AUC - 0.5) / (true AUC - 0.5) | 0.8860 |"
            in render_card(inputs()))
    card = render_card(inputs(metrics={}, indicators=None, split=None))
    assert "not available (reports/metrics/evaluate.json missing)" in card
    assert "not available (no grade table)" in card


def test_grade_boundaries_read_as_points_ranges_not_minus_infinity():
    grades = pd.DataFrame({"grade": list("ABC"), "min_points": [600.4, 560.6, float("-inf")],
                           "customers": [50, 30, 20], "share": [0.5, 0.3, 0.2], "churners": [1, 3, 8],
                           "churn_rate": [0.02, 0.1, 0.4], "predicted_rate": [0.03, 0.09, 0.38],
                           "lift": [0.17, 0.83, 3.33], "cumulative_capture": [1.0, 0.92, 0.67]})
    assert grade_rows(grades)["points"].tolist() == ["600 and above", "561-600", "below 561"]
    card = render_card(inputs(grades=grades))
    assert "| Grade | Points (higher = safer) | Customers |" in card
    assert "| C | below 561 | 20 |" in card and not re.search(r"\binf\b", card)


def test_card_html_is_offline():
    page = card_html(render_card(inputs()), title="card")
    assert "<table>" in page and external_references(page) == []


SNAPSHOT_NO_MONITOR = ("the source has no time axis (one snapshot): there are no months after training to watch for "
                       "drift, and no later labels to measure decay by")  # monitor.json's skip entry on a snapshot


def snapshot_inputs() -> CardInputs:
    """A card on a snapshot file: one date, a random split, monitor and the campaign parts skipped."""
    return inputs(
        params={"base": {"horizon_months": 6}, "train": {"calibration": "platt"},
                "features": {"cutoff_every_months": 3, "churn": {"definition": "closure"}},
                "data": {"source": "snapshot", "target": "Exited", "positive": 1}},
        metrics={"data": {"source": "snapshot", "customers": 100, "churn_rate": 0.2},
                 "features": {"customers": 100, "snapshots": 100, "cutoffs": 1, "features": 9,
                              "label_rate": {"snapshot": 0.2}},
                 "evaluate": {"cutoff": "2000-01-31", "churn_rate": 0.2, "test": {"roc_auc": 0.85}},
                 "monitor": {"source": "snapshot", "months_monitored": 0, "skipped": {"monitor": SNAPSHOT_NO_MONITOR}},
                 "retention": {"skipped": {"campaign": "the source has no time axis and no campaigns table (one "
                                                       "snapshot)", "uplift": "no campaign (see campaign)"}}},
        indicators=pd.DataFrame({"feature": ["age", "geography"], "group": ["snapshot", "snapshot"]}),
        split={"kind": "random", "cutoff": "2000-01-31", "seed": 1, "test_share": 0.2, "validation_share": 0.15},
        source=Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False))


def test_card_on_a_snapshot_has_no_horizon_no_monitoring_and_no_oracle():
    card = render_card(snapshot_inputs())
    assert "one row per customer at a single date (2000-01-31), 100 customers and 9 features" in card
    assert "(`Exited` = 1)" in card and "there is no horizon" in card and "Label rate: 0.2000" in card
    assert f"Not monitored: {SNAPSHOT_NO_MONITOR}." in card
    assert "## Performance on the held-out test customers" in card and "stratified random split" in card
    assert "no randomised campaign in these data" in card
    for wrong in ("oracle", "simulated", "quarterly", "Monthly account data", "within (t, t+", "monitoring backtest",
                  "label-free performance estimate", "account closure"):
        assert wrong not in card, f"a snapshot's card must not say {wrong!r}"


def test_card_on_a_monitored_real_source_names_the_skipped_alarm_rates():
    ledger = inputs(
        params={"base": {"horizon_months": 3}, "train": {"calibration": "platt"},
                "features": {"cutoff_every_months": 1, "churn": {"definition": "dormancy", "dormancy_months": 3}}},
        metrics={"data": {"source": "ledger"},
                 "features": {"customers": 50, "snapshots": 500, "cutoffs": 12, "last_training_cutoff": "1993-11-30",
                              "label_rate": {"dormancy": 0.13, "closure": 0.0}},
                 "evaluate": {"cutoff": "1993-11-30", "test": {"roc_auc": 0.9}},
                 "monitor": {"months_monitored": 9, "label_free": {"auc_mae": 0.02, "labelled_months": 6},
                             "latest": {"month": "1994-02-28", "retrain": False, "reasons": []},
                             "skipped": {"simulator": "false-alarm and detection rates need the simulator's known "
                                                      "shock months"}}},
        source=Source("ledger", time_axis=True, campaigns=False, oracle=False, closures=False))
    card = render_card(ledger)
    assert "built from a transaction ledger" in card and "12 monthly cutoffs" in card
    assert "3 months in a row without a customer-initiated transaction" in card
    assert "Training label rate: 0.1300" in card
    assert "thresholds = no-drift n/a quantiles" in card  # settings missing: said, not invented
    assert "Alarm rates against known drift: not measured (false-alarm and detection rates need the" in card
    assert "Churn is defined by dormancy" in card and "oracle" not in card and "simulated" not in card


def test_only_simulated_data_get_the_oracle_sentence():
    simulated = render_card(inputs(source=Source("simulator", True, campaigns=True, oracle=True, closures=True)))
    contract = render_card(inputs(source=Source("contract", True, campaigns=True, oracle=False, closures=True)))
    assert "The data are **simulated**" in simulated and "The data are **simulated**" not in contract
    assert "The data are real (`contract` source)" in contract
    assert "The data are **simulated**" in render_card(inputs())  # outputs older than source.json: evaluate's oracle
