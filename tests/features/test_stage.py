"""The features stage: cutoffs, the streamed snapshots and their label tally, the metrics, the snapshot-source path,
and `main` end to end (in tmp_path). Tests call the same pieces `main` calls."""

import json

import mlflow
import pandas as pd
import pytest
import yaml
from frames import customer, months, random_tables, tables

from churnlab.contract.indicators import FEATURES
from churnlab.contract.labels import DEFINITIONS
from churnlab.contract.tables import connect, month_end
from churnlab.core import paths, tracking
from churnlab.features import stage as features
from churnlab.features.stage import (
    LabelTally,
    choose_cutoffs,
    data_cutoffs,
    features_metrics,
    indicator_catalogue,
    iter_snapshots,
    lifetime_churn,
    snapshot_run,
    training_columns,
    write_snapshots,
)

CHURN = {"definition": "closure", "dormancy_months": 3, "value_drop_pct": 50.0, "value_window_months": 3,
         "partial_drop": 1}
CATALOGUE = {"bins": 10, "amber_lift": 1.5, "red_lift": 2.0}
JAN_2021 = 2021 * 12  # month index of 2021-01-31
JAN_2022 = 2022 * 12  # month 0 of the tables in tests/frames.py


def snapshots_of(frames: dict, *, churn: dict = CHURN, horizon_months: int = 2, first_cutoff_month: int = 3,
                 cutoff_every_months: int = 2) -> tuple[features.Cutoffs, LabelTally, pd.DataFrame]:
    """The cutoffs, the label tally and all snapshots of `frames`, built as `main` builds them."""
    con = connect(frames)
    cutoffs = data_cutoffs(con, horizon_months=horizon_months, first_cutoff_month=first_cutoff_month,
                           cutoff_every_months=cutoff_every_months)
    tally = LabelTally(last_training=cutoffs.last_training)
    return cutoffs, tally, pd.concat(iter_snapshots(con, cutoffs, tally, churn=churn), ignore_index=True)


def three_customers() -> dict[str, pd.DataFrame]:
    """Eight months (0 = 2022-01-31) of a, b and c. b stops transacting in month 4, so its three idle months
    4..6 make it dormant in month 6; c closes in month 5."""
    return tables([customer("a"), customer("b"), customer("c")],
                  months("a", 0, 7) + months("b", 0, 7, tx_count=[5, 5, 5, 5, 0, 0, 0, 0]) + months("c", 0, 5),
                  [("c", 5, "voluntary_closure")], n_months=8)


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
        snapshots_of(random_tables(0), churn=CHURN | {"definition": "tenure"})


def test_snapshots_label_late_cutoffs_only_when_already_churned():
    frames = random_tables(5, n_customers=6, n_months=12)
    cutoffs, _, snapshots = snapshots_of(frames, horizon_months=3, first_cutoff_month=4, cutoff_every_months=2)
    assert cutoffs.months == [JAN_2022 + m for m in (3, 5, 7, 9, 11)] and cutoffs.last_training == JAN_2022 + 8
    last = snapshots["cutoff"].max()
    late = snapshots["cutoff"] > last - pd.offsets.MonthEnd(3)
    assert snapshots.loc[~late, "labeled"].all()
    assert (snapshots.loc[late & snapshots["labeled"], "label"] == 1).all()
    assert snapshots.loc[late, "labeled"].sum() < late.sum()
    assert snapshots["labeled"].equals(snapshots["label"].notna())
    assert not snapshots.duplicated(["customer_id", "cutoff"]).any()



def test_the_tally_counts_every_definitions_labels_on_the_training_cutoffs():
    """Cutoffs 3, 5, 7 (H = 2, so 3 and 5 are training cutoffs). At 3: a, b, c, and c closes in (3, 5]. At 5:
    a and b (c closed), and b's idle run 4..6 ends in (5, 7]. At 7: a and b, unlabeled. So 7 snapshots, 5 of
    them training rows, closure rate 1/5 (c), dormancy 2/5 (c's closure counts too, plus b), 2/7 unlabeled."""
    cutoffs, tally, snapshots = snapshots_of(three_customers(), churn=CHURN | {"definition": "dormancy"})
    assert cutoffs.months == [JAN_2022 + 3, JAN_2022 + 5, JAN_2022 + 7] and cutoffs.last_training == JAN_2022 + 5
    assert snapshots.groupby("cutoff")["customer_id"].apply(list).tolist() == [["a", "b", "c"], ["a", "b"], ["a", "b"]]
    assert snapshots["label"].tolist()[:5] == [0, 0, 1, 0, 1]  # the dormancy labels, as `definition` asked
    summary = tally.summary("dormancy")
    assert (tally.rows, summary["training_snapshots"]) == (7, 5)
    assert summary["label_rate"] == {"closure": 0.2, "dormancy": 0.4, "value": 0.2, "partial": 0.2}
    assert summary["unlabeled_share"] == pytest.approx(2 / 7)
    assert summary["unlabeled_share_by_definition"] == pytest.approx(dict.fromkeys(DEFINITIONS, 2 / 7))


def test_features_metrics_of_the_three_customers():
    cutoffs, tally, _ = snapshots_of(three_customers())
    lifetimes = pd.DataFrame({"customer_id": ["a", "b", "c"], "event": [0, 0, 1]})
    assert features_metrics(cutoffs, tally, lifetimes, definition="closure") == {
        "snapshots": 7, "features": len(FEATURES), "cutoffs": 3, "training_cutoffs": 2,
        "last_training_cutoff": "2022-06-30", "definition": "closure", "horizon_months": 2, "customers": 3,
        "lifetime_events": 1, "training_snapshots": 5,
        "label_rate": {"closure": 0.2, "dormancy": 0.4, "value": 0.2, "partial": 0.2},
        "unlabeled_share": 2 / 7, "unlabeled_share_by_definition": dict.fromkeys(DEFINITIONS, 2 / 7)}


def test_snapshots_stream_to_parquet_and_the_training_rows_read_back(tmp_path):
    cutoffs, _, snapshots = snapshots_of(three_customers())
    chunks = [snapshots[snapshots["cutoff"] == c] for c in snapshots["cutoff"].unique()]
    write_snapshots(iter(chunks), tmp_path / "snapshots.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "snapshots.parquet"), snapshots)
    columns, labels = training_columns(tmp_path / "snapshots.parquet", last_training=month_end(cutoffs.last_training))
    assert labels.tolist() == [0, 0, 1, 0, 0] and str(labels.dtype) == "int8"
    columns = list(columns)
    assert [c.name for c in columns] == list(FEATURES) and all(len(c) == 5 for c in columns)
    catalogue = indicator_catalogue(columns, labels, catalogue_params=CATALOGUE)
    assert catalogue["feature"].tolist() == list(FEATURES)
    assert {"group", "meaning", "unit", "lookback_months", "missing_share", "iv", "auc", "higher_is_riskier",
            "amber_line", "red_line"} <= set(catalogue.columns)


def test_a_failed_stream_leaves_the_last_good_snapshot_file(tmp_path):
    target = tmp_path / "snapshots.parquet"
    target.write_bytes(b"the last good file")
    _, _, snapshots = snapshots_of(three_customers())

    def failing():
        yield snapshots
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_snapshots(failing(), target)
    assert target.read_bytes() == b"the last good file" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_lifetimes_follow_closure_when_the_labels_compare_with_a_cutoff(caplog):
    assert lifetime_churn(CHURN | {"definition": "dormancy"}) == CHURN | {"definition": "dormancy"}
    assert lifetime_churn(CHURN | {"definition": "value"}) == CHURN
    assert "lifetimes follow closure, not 'value'" in caplog.text


def snapshot_rows(*, tenure: bool = True) -> pd.DataFrame:
    """Six customers of a snapshot source (as `build_snapshot` leaves them): two churners, one unlabeled."""
    rows = pd.DataFrame({"customer_id": [f"p_{i}" for i in range(6)],
                         "label": pd.array([1, 0, 0, 1, 0, None], dtype="Int8"),
                         "labeled": [True] * 5 + [False], "tenure_months": [3, 40, 12, 7, 60, 24],
                         "balance": [10.0, 900.0, 450.0, 0.0, 1200.0, 300.0], "card": [False, True, True, False,
                                                                                      True, True]})
    return rows if tenure else rows.drop(columns="tenure_months")


def test_a_snapshot_source_is_one_cutoff_with_lifetimes_from_tenure():
    result = snapshot_run(snapshot_rows(), as_of="2000-01-31", tenure_unit="months", catalogue_params=CATALOGUE)
    assert list(result.tables) == [paths.SNAPSHOTS, paths.LIFETIMES, paths.INDICATORS]
    snapshots = result.tables[paths.SNAPSHOTS]
    assert (snapshots["cutoff"] == pd.Timestamp("2000-01-31")).all() and len(snapshots) == 6
    assert result.tables[paths.INDICATORS]["feature"].tolist() == ["balance", "card", "tenure_months"]
    assert result.metrics == {"source": "snapshot", "snapshots": 6, "features": 3, "cutoffs": 1,
                              "training_cutoffs": 1, "customers": 6, "lifetime_events": 2,
                              "label_rate": {"snapshot": 0.4}, "unlabeled_share": pytest.approx(1 / 6),
                              "training_snapshots": 5}
    assert result.tables[paths.LIFETIMES]["duration"].tolist() == [3, 40, 12, 7, 60]  # labeled rows only


def test_a_snapshot_without_tenure_has_no_lifetimes(caplog):
    result = snapshot_run(snapshot_rows(tenure=False), as_of="2000-01-31", tenure_unit="months",
                          catalogue_params=CATALOGUE)
    assert result.tables[paths.LIFETIMES].empty and result.metrics["lifetime_events"] == 0
    assert "no lifetimes, so the survival stage will skip" in caplog.text


def project(tmp_path, monkeypatch, *, source: dict, definition: str = "closure") -> None:
    """A throwaway project in tmp_path: data/raw/source.json, a params.yaml and MLflow in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    paths.RAW.mkdir(parents=True)
    paths.SOURCE.write_text(json.dumps(source), encoding="utf-8")
    params = {"base": {"seed": 1, "horizon_months": 3},
              "data": {"as_of": "2000-01-31", "tenure_unit": "months"},
              "features": {"first_cutoff_month": 6, "cutoff_every_months": 2,
                           "churn": CHURN | {"definition": definition}, "catalogue": CATALOGUE}}
    paths.PARAMS.write_text(yaml.safe_dump(params), encoding="utf-8")


def features_run() -> pd.Series:
    """The one MLflow run `features`."""
    runs = tracking.start().search_runs(experiment_names=["churnlab"], filter_string="attributes.run_name = 'features'")
    assert len(runs) == 1
    return runs.iloc[0]


@pytest.mark.slow
def test_the_stage_writes_snapshots_lifetimes_catalogue_and_metrics(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch, definition="partial",
            source={"source": "simulator", "time_axis": True, "campaigns": True, "oracle": True, "closures": True})
    for name, frame in random_tables(11, n_customers=8, n_months=18).items():
        frame.to_parquet(features.CONTRACT_TABLES[name], index=False)
    features.main()
    snapshots = pd.read_parquet(paths.SNAPSHOTS)
    assert list(snapshots.columns) == ["customer_id", "cutoff", "label", "labeled", *FEATURES]
    assert str(snapshots["label"].dtype) == "Int8" and snapshots["cutoff"].dtype == "datetime64[ns]"
    assert isinstance(snapshots["segment"].dtype, pd.CategoricalDtype)
    lifetimes = pd.read_parquet(paths.LIFETIMES)
    assert len(lifetimes) == 8 and lifetimes["customer_id"].is_unique
    catalogue = pd.read_csv(paths.INDICATORS)
    assert catalogue["feature"].tolist() == list(FEATURES)
    metrics = json.loads((paths.METRICS / "features.json").read_text())
    assert metrics["snapshots"] == len(snapshots) and metrics["features"] == len(FEATURES)
    assert set(metrics["label_rate"]) == set(DEFINITIONS) and metrics["definition"] == "partial"
    assert metrics["unlabeled_share"] == pytest.approx(1 - snapshots["labeled"].mean())
    training = snapshots[snapshots["cutoff"] <= pd.Timestamp(metrics["last_training_cutoff"])]
    assert metrics["label_rate"]["partial"] == pytest.approx(training["label"].mean())
    # closure counts for every definition, so closure is the rarest label
    assert all(metrics["label_rate"][d] >= metrics["label_rate"]["closure"] for d in DEFINITIONS)

    run = features_run()
    assert run["params.features.churn.definition"] == "partial" and run["params.base.horizon_months"] == "3"
    assert run["metrics.snapshots"] == len(snapshots)
    assert not [c for c in run.index if c.startswith("params.data.")]  # a time-axis source reads no data params
    assert run["tags.data_md5.data/raw/source.json"] != "missing"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run["run_id"], "features")}
    assert artifacts == {"features/features.json", "features/indicators.csv"}  # no customer ids in MLflow


@pytest.mark.slow
def test_on_a_snapshot_source_the_stage_writes_one_cutoff(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch,
            source={"source": "snapshot", "time_axis": False, "campaigns": False, "oracle": False, "closures": False})
    snapshot_rows().to_parquet(paths.SNAPSHOT_SOURCE, index=False)
    features.main()
    snapshots = pd.read_parquet(paths.SNAPSHOTS)
    assert snapshots["cutoff"].unique().tolist() == [pd.Timestamp("2000-01-31")] and len(snapshots) == 6
    assert len(pd.read_parquet(paths.LIFETIMES)) == 5
    metrics = json.loads((paths.METRICS / "features.json").read_text())
    assert metrics["source"] == "snapshot" and metrics["label_rate"] == {"snapshot": 0.4}
    run = features_run()
    assert run["params.data.as_of"] == "2000-01-31" and run["params.data.tenure_unit"] == "months"


def test_month_end_inverts_the_month_index():
    assert month_end(JAN_2021 + 13) == pd.Timestamp("2022-02-28")
