"""churnlab.report.pipeline_outputs: what a source offers the notebooks, and the sentence for a skipped section."""

import json

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from churnlab.contract.labels import DEFINITIONS
from churnlab.report.pipeline_outputs import (
    CHURN,
    Source,
    label_meaning,
    read_metrics,
    skip,
    skipped_reason,
    unrecorded,
)

SIMULATOR = Source("simulator", time_axis=True, campaigns=True, oracle=True, closures=True)
LEDGER = Source("ledger", time_axis=True, campaigns=False, oracle=False, closures=False)
SNAPSHOT = Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False)


def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_skip_is_one_sentence_with_the_reason():
    assert skip("Section 6 (campaigns)", LEDGER.lacks("campaigns")) == \
        "Section 6 (campaigns) skipped: the ledger source records no retention campaigns."
    assert skip("CLV", "no balance column.") == "CLV skipped: no balance column."  # one full stop, not two


def test_skipped_reason_reads_a_stage_skip_entry():
    assert skipped_reason({"skipped": "no tenure column"}) == "no tenure column"
    assert skipped_reason({"skipped": {"survival": "no tenure column"}}) == "no tenure column"
    assert skipped_reason({"skipped": {"a": "no campaigns", "b": "no history"}}) == "no campaigns; no history"
    assert skipped_reason({"customers": 10, "total_clv": 1.0}) is None
    assert skipped_reason(None) is None


def test_read_metrics_reads_the_json_or_says_the_stage_has_not_run(tmp_path):
    (tmp_path / "survival.json").write_text(json.dumps({"skipped": "no tenure column"}))
    assert read_metrics("survival", tmp_path) == {"skipped": "no tenure column"}
    missing = skipped_reason(read_metrics("evaluate", tmp_path))
    assert "evaluate.json is missing: the evaluate stage has not run (dvc repro evaluate)" in missing


def test_unrecorded_finds_constant_and_empty_columns():
    """A ledger fills what it lacks with a constant: digital logins 0, income missing; deposits vary."""
    monthly = pd.DataFrame({"deposit_balance": [10.0, 0.0, 5.0], "digital_logins": [0, 0, 0],
                            "income": [None, None, None], "loan_balance": [0.0, 0.0, 1.0]})
    assert unrecorded(monthly, ["deposit_balance", "digital_logins", "income", "loan_balance", "absent"]) == \
        ["digital_logins", "income"]


def test_label_meaning_on_a_snapshot_names_the_flag_and_no_horizon():
    settings = params()
    settings["data"].update(target="Exited", positive=1)
    meaning = label_meaning(SNAPSHOT, settings)
    assert meaning.startswith("the file's churn flag (Exited = 1)") and "no horizon" in meaning


def test_label_meaning_on_monthly_data_gives_the_horizon_and_the_definition():
    settings = params()
    settings["base"]["horizon_months"] = 3
    settings["features"]["churn"].update(definition="dormancy", dormancy_months=3)
    assert label_meaning(LEDGER, settings) == (
        "churned within 3 months after a cutoff, where churn means 3 months in a row without a customer-initiated "
        "transaction (features.churn.definition: dormancy)")


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_every_churn_definition_has_words_filled_from_params(definition):
    settings = params()
    settings["features"]["churn"]["definition"] = definition
    meaning = label_meaning(SIMULATOR, settings)
    assert f"(features.churn.definition: {definition})" in meaning and "{" not in meaning
    assert set(CHURN) == set(DEFINITIONS)
