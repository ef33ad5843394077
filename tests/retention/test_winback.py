"""Churner profiles, SHAP archetypes and the win-back list on constructed frames with known answers."""

import numpy as np
import pandas as pd
import pytest

from churnlab.core.checks import ColumnError
from churnlab.retention.winback import (
    archetype_agreement,
    churn_types,
    expand_months,
    feature_themes,
    fit_archetypes,
    profile_anchors,
    profile_indicators,
    public_winback,
    winback_list,
)

THEMES = {"price": ["competitor_spread", "deposit_balance"], "service": ["complaints"],
          "disengagement": ["deposit_trend"]}
END = pd.Timestamp("2024-12-31")


def test_feature_themes_use_the_longest_matching_prefix():
    themes = feature_themes(["complaints_3m", "deposit_balance", "deposit_trend_3m", "age"],
                            {"price": ["deposit"], "disengagement": ["deposit_trend"], "service": ["complaints"]})
    assert themes == {"complaints_3m": "service", "deposit_balance": "price", "deposit_trend_3m": "disengagement",
                      "age": "other"}


def two_reason_shap(n: int = 40) -> tuple[pd.DataFrame, np.ndarray]:
    """Half the churners are pushed by complaints, half by the competitor spread (plus a little noise)."""
    rng = np.random.default_rng(0)
    service = np.arange(n) < n // 2
    shap = pd.DataFrame({"complaints_3m": np.where(service, 1.5, 0.0), "competitor_spread": np.where(service, 0, 1.2),
                         "deposit_trend_3m": 0.1, "age": -0.2})
    return shap + rng.normal(0, 0.05, shap.shape), np.where(service, "service", "price")


def test_archetypes_are_named_by_their_drivers_and_match_the_reasons():
    shap, reasons = two_reason_shap()
    labels, table = fit_archetypes(shap, n_archetypes=2, seed=0, top_features=2, themes=THEMES)
    named = table.set_index("theme")
    assert set(named.index) == {"service", "price"}
    assert named.loc["service", "name"].startswith("complaints_3m")
    assert named.loc["price", "name"].startswith("competitor_spread")
    assert named["customers"].tolist() == [20, 20]
    scores, confusion = archetype_agreement(labels, reasons)
    assert scores["ari"] == pytest.approx(1.0) and scores["customers"] == 40
    assert confusion[["price", "service"]].to_numpy().max(axis=1).tolist() == [20, 20]


def test_archetype_agreement_ignores_churners_without_a_reason_and_merges_price_reasons():
    scores, _ = archetype_agreement([0, 0, 1, 1, 2], ["price", "competitor_offer", "service", "service", None])
    assert scores["customers"] == 4
    assert scores["ari_price_merged"] == pytest.approx(1.0) and scores["ari"] < 1.0


def test_too_few_churners_for_the_archetypes_is_an_error():
    with pytest.raises(ValueError, match="cannot form 4 archetypes"):
        fit_archetypes(two_reason_shap(3)[0], n_archetypes=4, seed=0, top_features=2, themes=THEMES)


def churners() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4", "C5"],
        "churn_month": pd.to_datetime(["2024-12-31", "2024-10-31", "2024-03-31", "2024-11-30", "2024-09-30"]),
        "churn_type": ["transfer_out", "voluntary_closure", "transfer_out", "involuntary", "transfer_out"],
        "theme": ["price", "service", "price", "price", "other"], "name": "x", "segment": "mass",
        "lost_value": [100.0, 900.0, 5000.0, 800.0, 700.0]})


def test_winback_keeps_recent_voluntary_fixable_churners_by_value_lost():
    """Six months back from 2024-12-31: C3 left too long ago, C4 was closed by the bank, C5's cause is not
    fixable; C2 (900) ranks before C1 (100)."""
    ranked = winback_list(churners(), last_month=END, recent_months=6, fixable=["price", "service"])
    assert ranked["customer_id"].tolist() == ["C2", "C1"] and ranked["rank"].tolist() == [1, 2]


def test_public_winback_holds_no_raw_id():
    ranked = winback_list(churners(), last_month=END, recent_months=6, fixable=["price", "service"])
    public = public_winback(ranked, key=b"test-key")
    text = public.to_csv(index=False)
    assert "customer_id" not in public and not any(c in text for c in churners()["customer_id"])
    assert public["customer"].str.match(r"^p_[0-9a-f]{16}$").all()


def test_winback_missing_column_is_a_clear_error():
    with pytest.raises(ColumnError, match=r"churners: missing 1 column\(s\): 'lost_value'"):
        winback_list(churners().drop(columns="lost_value"), last_month=END, recent_months=6, fixable=["price"])


def test_profiles_compare_churners_before_leaving_with_retained_customers():
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment": ["mass", "mass", "affluent", "mass"],
                              "open_date": pd.to_datetime(["2020-01-10"] * 3 + ["2024-08-02"])})
    events = pd.DataFrame({"customer_id": ["a", "b"], "churn_month": pd.to_datetime(["2024-06-30", "2024-09-30"]),
                           "churn_type": ["transfer_out", "voluntary_closure"]})
    anchors = profile_anchors(customers, events, months_before=3, max_customers=10, seed=0)
    groups = anchors.set_index("customer_id")["group"].to_dict()
    assert groups == {"a": "churned", "b": "churned", "c": "retained"}  # d opened too recently to profile
    rows = expand_months(anchors[anchors["customer_id"] == "a"], months_before=3)
    assert rows["month"].tolist() == list(pd.to_datetime(["2024-05-31", "2024-04-30", "2024-03-31"]))
    rows = rows.assign(deposit_balance=[300.0, 400.0, 500.0])
    profile = profile_indicators(rows, indicators=["deposit_balance"])
    overall = profile[profile["segment"] == "all"].set_index("months_before")["mean"]
    assert overall.to_dict() == {1: 300.0, 2: 400.0, 3: 500.0}
    types = churn_types(anchors).set_index("segment")
    assert types.loc["all", "transfer_out"] == 0.5
