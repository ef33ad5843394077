"""The model card names the champion's version and lineage, and shows only what the pipeline produced."""

import pandas as pd

from churnlab.model_card import CardInputs, card_html, performance_rows, render_card
from churnlab.notebook_html import external_references


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
    assert "deadbeef" in card and "0123456789abcdef" in card
    assert "within (t, t+6] months" in card and "`closure`" in card
    assert "**market** (1): `promo_index`" in card
    assert "retrain recommended = **True**" in card


def test_card_reports_oracle_ratio_and_missing_sections_honestly():
    perf = performance_rows(inputs().metrics)
    assert perf.set_index("metric").loc["oracle_roc_auc", "value"] == 0.85
    assert "| oracle_ratio = (AUC - 0.5) / (oracle AUC - 0.5) | 0.8860 |" in render_card(inputs())
    card = render_card(inputs(metrics={}, indicators=None, split=None))
    assert "not available (reports/metrics/evaluate.json missing)" in card
    assert "not available (no grade table)" in card


def test_card_html_is_offline():
    page = card_html(render_card(inputs()), title="card")
    assert "<table>" in page and external_references(page) == []
