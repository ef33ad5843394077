"""churnlab.notebook_source: what a data source offers the notebooks, and the one sentence for a skipped section."""

import json

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from churnlab.labels import DEFINITIONS
from churnlab.notebook_source import (
    CHURN,
    Source,
    label_meaning,
    read_metrics,
    read_source,
    skip,
    skipped_reason,
    unrecorded,
)

SIMULATOR = Source("simulator", time_axis=True, campaigns=True, oracle=True)
LEDGER = Source("ledger", time_axis=True, campaigns=False, oracle=False)
SNAPSHOT = Source("snapshot", time_axis=False, campaigns=False, oracle=False)


def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_read_source_reads_what_the_data_stage_wrote(tmp_path):
    path = tmp_path / "source.json"
    path.write_text(json.dumps({"source": "snapshot", "time_axis": False, "campaigns": False, "oracle": False,
                                "inputs": {"churn.csv": "0" * 32}}))
    assert read_source(path) == SNAPSHOT and read_source(path).snapshot


def test_a_missing_source_json_names_the_stage_that_writes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"source.json is missing: the `data` stage writes it"):
        read_source(tmp_path / "source.json")


def test_lacks_gives_the_first_missing_need_or_none():
    assert SIMULATOR.lacks("time_axis", "campaigns", "oracle") is None
    assert LEDGER.lacks("time_axis") is None
    assert LEDGER.lacks("time_axis", "campaigns") == "the ledger source records no retention campaigns"
    assert SNAPSHOT.lacks("time_axis", "campaigns") == ("the snapshot source is one row per customer at a single "
                                                        "date, with no monthly history")
    assert "the ledger source is not simulated" in LEDGER.lacks("oracle")


def test_an_unknown_need_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match=r"unknown need\(s\) \['timeaxis'\]"):
        SNAPSHOT.lacks("timeaxis")


def test_describe_says_what_the_source_offers():
    assert SIMULATOR.describe() == ("Data source: simulator (monthly tables; past retention campaigns; the true "
                                    "churn risk known)")
    assert SNAPSHOT.describe() == ("Data source: snapshot (one row per customer at a single date; no retention "
                                   "campaigns; no ground truth)")


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
