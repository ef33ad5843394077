"""Cutoff choice, its errors, the snapshot builder and the `features` stage end to end (in tmp_path)."""

import json

import pandas as pd
import pytest
import yaml
from frames import random_tables

from churnlab.contract.indicators import FEATURES
from churnlab.contract.labels import DEFINITIONS
from churnlab.contract.tables import month_end
from churnlab.core import paths
from churnlab.features import stage as features
from churnlab.features.stage import build_snapshots, choose_cutoffs

CHURN = {"definition": "closure", "dormancy_months": 3, "value_drop_pct": 50.0, "value_window_months": 3,
         "partial_drop": 1}
JAN_2021 = 2021 * 12  # month index of 2021-01-31


def test_cutoffs_count_back_from_the_last_month_and_respect_the_first_cutoff():
    cutoffs = choose_cutoffs(JAN_2021, JAN_2021 + 35, horizon_months=6, first_cutoff_month=12,
                             cutoff_every_months=3)
    assert cutoffs[-1] == JAN_2021 + 35  # the latest month is always a (scoring) cutoff
    assert cutoffs[0] == JAN_2021 + 11  # the 12th month: a full 12-month lookback
    assert set(pd.Series(cutoffs).diff().dropna()) == {3}


def test_a_horizon_longer_than_the_months_after_the_first_cutoff_is_a_clear_error():
    with pytest.raises(ValueError) as error:
        choose_cutoffs(JAN_2021, JAN_2021 + 14, horizon_months=6, first_cutoff_month=12, cutoff_every_months=3)
    message = str(error.value)
    assert "base.horizon_months=6" in message and "features.first_cutoff_month=12" in message
    assert "2021-01-31..2022-03-31" in message  # the data's month range


def test_a_first_cutoff_past_the_data_is_a_clear_error():
    with pytest.raises(ValueError, match=r"features.first_cutoff_month=40 is past the data: data months"):
        choose_cutoffs(JAN_2021, JAN_2021 + 35, horizon_months=6, first_cutoff_month=40, cutoff_every_months=3)


def test_an_unknown_churn_definition_is_refused():
    with pytest.raises(ValueError, match="features.churn.definition='tenure'"):
        build_snapshots(random_tables(0), horizon_months=2, first_cutoff_month=3, cutoff_every_months=2,
                        churn=CHURN | {"definition": "tenure"})


def test_snapshots_label_late_cutoffs_only_when_already_churned():
    frames = random_tables(5, n_customers=6, n_months=12)
    snapshots = build_snapshots(frames, horizon_months=3, first_cutoff_month=4, cutoff_every_months=2, churn=CHURN)
    last = snapshots["cutoff"].max()
    late = snapshots["cutoff"] > last - pd.offsets.MonthEnd(3)
    assert snapshots.loc[~late, "labeled"].all()
    assert (snapshots.loc[late & snapshots["labeled"], "label"] == 1).all()
    assert snapshots.loc[late, "labeled"].sum() < late.sum()
    assert snapshots["labeled"].equals(snapshots["label"].notna())
    assert not snapshots.duplicated(["customer_id", "cutoff"]).any()


def project(tmp_path, monkeypatch, *, definition: str = "closure") -> None:
    """A throwaway project in tmp_path: contract tables in data/raw and a params.yaml."""
    frames = random_tables(11, n_customers=8, n_months=18)
    monkeypatch.chdir(tmp_path)
    paths.RAW.mkdir(parents=True)
    for name, target in {"customers": paths.CUSTOMERS, "monthly": paths.MONTHLY, "market": paths.MARKET,
                         "churn_events": paths.CHURN_EVENTS}.items():
        frames[name].to_parquet(target, index=False)
    churn = CHURN | {"definition": definition}
    params = {"base": {"seed": 1, "horizon_months": 3},
              "data": {"source": "simulator", "as_of": "2000-01-31", "tenure_unit": "years"},
              "features": {"first_cutoff_month": 6, "cutoff_every_months": 2, "churn": churn,
                           "catalogue": {"bins": 10, "amber_lift": 1.5, "red_lift": 2.0}}}
    paths.PARAMS.write_text(yaml.safe_dump(params), encoding="utf-8")


@pytest.mark.slow
def test_the_stage_writes_snapshots_lifetimes_catalogue_and_metrics(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch, definition="partial")
    features.main()
    snapshots = pd.read_parquet(paths.SNAPSHOTS)
    assert list(snapshots.columns) == ["customer_id", "cutoff", "label", "labeled", *FEATURES]
    assert str(snapshots["label"].dtype) == "Int8" and snapshots["cutoff"].dtype == "datetime64[ns]"
    assert isinstance(snapshots["segment"].dtype, pd.CategoricalDtype)
    lifetimes = pd.read_parquet(paths.LIFETIMES)
    assert len(lifetimes) == 8 and lifetimes["customer_id"].is_unique
    catalogue = pd.read_csv(paths.INDICATORS)
    assert catalogue["feature"].tolist() == list(FEATURES)
    assert {"group", "meaning", "unit", "lookback_months", "missing_share", "iv", "auc", "higher_is_riskier",
            "amber_line", "red_line"} <= set(catalogue.columns)
    metrics = json.loads((paths.METRICS / "features.json").read_text())
    assert metrics["snapshots"] == len(snapshots) and metrics["features"] == len(FEATURES)
    assert set(metrics["label_rate"]) == set(DEFINITIONS) and metrics["definition"] == "partial"
    assert metrics["unlabeled_share"] == pytest.approx(1 - snapshots["labeled"].mean())
    training = snapshots[snapshots["cutoff"] <= pd.Timestamp(metrics["last_training_cutoff"])]
    assert metrics["label_rate"]["partial"] == pytest.approx(training["label"].mean())
    # closure counts for every definition, so closure is the rarest label
    assert all(metrics["label_rate"][d] >= metrics["label_rate"]["closure"] for d in DEFINITIONS)


def test_month_end_inverts_the_month_index():
    assert month_end(JAN_2021 + 13) == pd.Timestamp("2022-02-28")
