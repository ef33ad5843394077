"""The churner part of the retention stage on hand-made tables: last snapshots, win-back values, skipped parts."""

import numpy as np
import pandas as pd
import pytest
from frames import customer, month, months, tables

from churnlab.contract.tables import connect
from churnlab.core.checks import ColumnError
from churnlab.retention.churners import churner_part, last_snapshots, win_back

CUTOFFS = pd.to_datetime(["2023-03-31", "2023-06-30", "2023-09-30"])
MARGINS = {"deposit_margin": 0.012, "investment_fee_rate": 0.0, "loan_margin": 0.0}
CHURNERS = {"months_before": 3, "max_customers": 10, "indicators": ["deposit_balance", "tx_count"]}
ARCHETYPES = {"n_archetypes": 4, "top_features": 3, "themes": {"price": ["deposit_balance"]}, "fixable": ["price"]}


def test_last_snapshots_keep_each_voluntary_churners_last_cutoff_before_leaving():
    """a leaves in August: its June snapshot (not September's, taken after it left). e leaves at the June cutoff
    itself: a snapshot on the churn month is not before it, so March. b was closed by the bank (involuntary),
    d left before its first snapshot, c never left: none of them."""
    cutoffs = {"a": CUTOFFS, "b": CUTOFFS[:2], "c": CUTOFFS, "d": CUTOFFS[1:2], "e": CUTOFFS[:2]}
    snapshots = pd.DataFrame([{"customer_id": c, "cutoff": t, "score": i}
                              for c, dates in cutoffs.items() for i, t in enumerate(dates)])
    events = pd.DataFrame({"customer_id": ["a", "b", "d", "e"],
                           "churn_month": pd.to_datetime(["2023-08-31", "2023-09-30", "2023-05-31", "2023-06-30"]),
                           "churn_type": ["transfer_out", "involuntary", "voluntary_closure", "voluntary_closure"]})
    rows = last_snapshots(snapshots, events)
    assert rows["customer_id"].tolist() == ["a", "e"]
    assert rows["cutoff"].tolist() == [CUTOFFS[1], CUTOFFS[0]]
    assert rows["churn_type"].tolist() == ["transfer_out", "voluntary_closure"] and rows["score"].tolist() == [1, 0]


def test_last_snapshots_need_the_churn_month():
    with pytest.raises(ColumnError, match=r"churn_events: missing 1 column\(s\): 'churn_month'"):
        last_snapshots(pd.DataFrame({"customer_id": ["a"], "cutoff": CUTOFFS[:1]}),
                       pd.DataFrame({"customer_id": ["a"], "churn_type": ["transfer_out"]}))


def history(events: list[tuple]) -> dict:
    """a and b over months 0..9 (a holds EUR 12,000 on deposit, b EUR 6,000, no fees); c and d never leave."""
    people = [customer(c, segment="affluent" if c == "a" else "mass") for c in "abcd"]
    rows = months("a", 0, 9, deposit_balance=12000.0, fees_paid=0.0)
    rows += months("b", 0, 9, deposit_balance=6000.0, fees_paid=0.0) + months("c", 0, 9) + months("d", 0, 9)
    return tables(people, rows, events, n_months=10)


def leavers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["b", "a"], "churn_month": [month(7), month(6)],
                         "churn_type": ["transfer_out", "voluntary_closure"], "segment": "mass",
                         "theme": ["price", "price"], "name": "deposit_balance"})


def test_win_back_values_each_churner_by_the_margin_before_leaving():
    """Three months before leaving: a's monthly margin is 12,000 x 0.012 / 12 = EUR 12, b's EUR 6; times a lifetime
    of 10 months, a lost 120 and b 60, so a ranks first. Only pseudonyms leave."""
    con = connect(history([]))
    part = win_back(leavers(), con, last_month=month(9), multiplier=10.0, margins=MARGINS, months_before=3,
                    recent_months=6, fixable=["price"], key=b"test-key")
    listed = part.tables["winback"]
    assert listed["lost_value"].tolist() == pytest.approx([120.0, 60.0])
    assert listed["rank"].tolist() == [1, 2] and listed["customer"].str.match(r"^p_[0-9a-f]{16}$").all()
    assert "customer_id" not in listed
    assert part.metrics["winback"] == {"customers": 2, "lost_value": pytest.approx(180.0),
                                       "by_theme": {"price": pytest.approx(180.0)}}
    assert part.skipped == {}


def test_win_back_without_clv_lists_churners_but_says_their_value_is_unknown():
    part = win_back(leavers(), connect(history([])), last_month=month(9), multiplier=None, margins=MARGINS,
                    months_before=3, recent_months=6, fixable=["price"], key=b"test-key")
    assert len(part.tables["winback"]) == 2 and part.tables["winback"]["lost_value"].isna().all()
    assert "no CLV" in part.skipped["winback_value"]


def test_churner_part_profiles_churners_and_skips_archetypes_without_snapshots_before_leaving():
    """Two churners but no snapshot of theirs: the profiles run, the archetypes and the win-back list cannot."""
    raw = history([("a", 6, "voluntary_closure"), ("b", 7, "transfer_out")])
    snapshots = pd.DataFrame({"customer_id": ["c", "d"], "cutoff": CUTOFFS[:2]})
    part = churner_part(None, snapshots, raw["customers"], raw["churn_events"], connect(raw), last_month=month(9),
                        multiplier=10.0, margins=MARGINS, churners=CHURNERS, archetypes=ARCHETYPES, recent_months=6,
                        seed=0, key=b"test-key")
    assert set(part.tables) == {"churner_profile", "churn_types"}
    reason = "0 voluntary churners with a snapshot before leaving: fewer than 4 archetypes"
    assert part.skipped == {"archetypes": reason, "winback": reason}
    profile = part.tables["churner_profile"]
    assert set(profile["group"]) == {"churned", "retained"} and set(profile["indicator"]) == set(CHURNERS["indicators"])
    churned = profile[(profile["group"] == "churned") & (profile["segment"] == "all")
                      & (profile["indicator"] == "deposit_balance")]
    assert churned["months_before"].tolist() == [1, 2, 3] and churned["mean"].tolist() == [9000.0] * 3
    types = part.tables["churn_types"].set_index("segment")
    assert types.loc["all", "transfer_out"] == 0.5 and types.loc["affluent", "voluntary_closure"] == 1.0
    assert np.allclose(types.sum(axis=1), 1.0)
