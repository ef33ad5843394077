"""churnlab.contract.source: what the data offer (time axis, closures, campaigns, oracle), read from source.json."""

import json

import pytest

from churnlab.contract.source import Source, read_source

SIMULATOR = Source("simulator", time_axis=True, campaigns=True, oracle=True, closures=True)
LEDGER = Source("ledger", time_axis=True, campaigns=False, oracle=False, closures=False)
SNAPSHOT = Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False)


def test_read_source_reads_what_the_data_stage_wrote(tmp_path):
    path = tmp_path / "source.json"
    path.write_text(json.dumps({"source": "snapshot", "time_axis": False, "campaigns": False, "oracle": False,
                                "closures": False, "inputs": {"churn.csv": "0" * 32}}))
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


def test_source_json_without_closures_falls_back_to_the_time_axis(tmp_path):
    """source.json written before `closures` existed: monthly data had churn events, a snapshot had none."""
    path = tmp_path / "source.json"
    path.write_text(json.dumps({"source": "contract", "time_axis": True, "campaigns": False, "oracle": False}))
    assert read_source(path).closures
    assert read_source(path).lacks("closures") is None and LEDGER.lacks("closures") == \
        "the ledger source records no churn events with a churn month"
