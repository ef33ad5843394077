"""The `segment` stage: who the customers are, how they behave, what they are worth, where they are in life.

For every snapshot row (customer, cutoff) of data/processed/snapshots.parquet, as far as the data allows:

- attributes (`churnlab.segment.bands`): age band, income band, the bank's segment and region; on a source without
  a time axis (a snapshot file) also every categorical column of the file;
- behaviour (`fit_clusters`): a k-means cluster on standardised behaviour indicators and its rule-made name
  (`churnlab.segment.clusters`), fitted on a seeded sample of the scoring cutoff (the last month) and applied to
  every cutoff. Configured columns that are missing or constant are left out (logged); when none of them is
  usable, the clusters use the snapshot's numeric and flag columns. With params.yaml `engine.name: spark` the fit
  stays on the sample, on the driver, and Spark assigns every row to its nearest centroid
  (`churnlab.segment.spark_clusters`: the local engine's assignments);
- value (`churnlab.segment.value`): equal-count tiers within each cutoff of the CLV at the scoring cutoff and the
  monthly margin before it; with neither CLV nor a balance or fee column, no tier;
- lifecycle stage (`churnlab.contract.lifecycle`) and its transitions cutoff to cutoff: these need a time axis, so a
  source without one (`churnlab.contract.source`) has none.

What cannot be formed is left out of segments.parquet (no column) and named with the reason under `skipped` in
reports/metrics/segment.json. `run()` does all of this on frames; `main()` reads the inputs and writes
data/processed/segments.parquet (with raw customer ids: it stays in data/, like the snapshots), the profiles
(`churnlab.segment.profiles`): reports/segments.csv (per level of each segmentation), reports/clusters.csv and
reports/lifecycle_transitions.csv (only a header when skipped), and reports/metrics/segment.json, and logs an MLflow
run `segment` (the reports only: no ids). With `engine.spark.lake` set, Spark writes the segments into the lake
(`<lake>/segments/<version>/cutoff=YYYY-MM-DD/`) and data/processed/segments.parquet becomes their manifest
(`churnlab.core.lake`). Run with `python -m churnlab.segment`.
"""

import logging
import warnings

import numpy as np
import pandas as pd

from churnlab.contract.lifecycle import COLUMNS as LIFECYCLE_COLUMNS
from churnlab.contract.lifecycle import STAGES, lifecycle_reason, lifecycle_stage
from churnlab.contract.source import Source, read_source
from churnlab.contract.value import MARGIN_COLUMNS
from churnlab.core import lake, paths
from churnlab.core.checks import check_columns
from churnlab.core.engine import Sql, engine_params, lake_of, open_engine
from churnlab.core.lake_spark import move_to_lake
from churnlab.core.logs import setup_logging
from churnlab.core.outputs import StageResult, write_result
from churnlab.core.params import load_params
from churnlab.model.churn import feature_columns
from churnlab.segment.bands import KEYS, SOURCE_COLUMNS, attributes
from churnlab.segment.clusters import BehaviourClusters, ClusterError, cluster_columns
from churnlab.segment.profiles import cluster_profiles, lifecycle_transitions, profile_table
from churnlab.segment.spark_clusters import predict_on_spark
from churnlab.segment.value import ValueBasisWarning, customer_value, value_basis, value_tiers

log = logging.getLogger(__name__)
# metrics/segment.json: what `dvc exp show` compares (the detail is in reports/metrics/segment.json)
HEADLINE = {
    "clusters": "clusters.k",
    "customers_now": "customers_now",
}

CRITERION = "smallest k within silhouette_tolerance of the best silhouette"


def snapshot_columns(available: list[str], *, clusters: dict, time_axis: bool) -> list[str]:
    """The snapshot columns the stage reads: those it uses; a snapshot file (no time axis) is small and its own
    columns are the attributes and behaviour, so all of them."""
    if not time_axis:
        return list(available)
    wanted = [*KEYS, "label", "labeled", *SOURCE_COLUMNS, *MARGIN_COLUMNS, *LIFECYCLE_COLUMNS, *clusters["log1p"],
              *clusters["plain"]]
    return [c for c in dict.fromkeys(wanted) if c in available]


def value_skips(basis: str | None) -> dict[str, str]:
    """Warn when value tiers fall back to the monthly margin; the skipped part when there is no value at all."""
    if basis == "monthly_margin":
        warnings.warn(f"{paths.CLV} is absent or empty (the survival stage valued no customer): value tiers use the "
                      "monthly margin on balances and fees at every cutoff, and no CLV is reported",
                      ValueBasisWarning, stacklevel=1)
    if basis is not None:
        return {}
    return {"value_tier": f"no CLV in {paths.CLV} and no balance or fee column ({', '.join(MARGIN_COLUMNS)}) to value "
                          "customers by"}


def fit_clusters(latest: pd.DataFrame, *, seed: int, log1p: list[str], plain: list[str], fit_rows: int,
                 **options) -> tuple[BehaviourClusters | None, dict[str, str], dict[str, str]]:
    """Behaviour clusters fitted on a seeded sample of `fit_rows` rows of the scoring cutoff `latest`; the columns
    left out with the reason; the skipped part when the rows cannot form `k_min` clusters (`ClusterError`).
    `options` are the other keys of params.yaml `segment.clusters` (k range, silhouette, naming threshold)."""
    sample = latest.sample(n=min(fit_rows, len(latest)), random_state=seed)
    log1p, plain, left_out = cluster_columns(sample, log1p=log1p, plain=plain)
    if left_out:
        log.warning("behaviour clusters leave out %s; clustering on %s", left_out, [*log1p, *plain])
    flags = [c for c in plain if pd.api.types.is_bool_dtype(sample[c])]
    try:
        clusters = BehaviourClusters(log1p=log1p, plain=plain, seed=seed, flags=flags, **options).fit(sample)
    except ClusterError as err:
        return None, left_out, {"clusters": str(err)}
    log.info("behaviour clusters: k=%d by silhouette %s; names %s", clusters.k_, clusters.silhouette_, clusters.names_)
    return clusters, left_out, {}


def lifecycle_skips(snapshots: pd.DataFrame, *, time_axis: bool) -> dict[str, str]:
    """Why lifecycle stages (`lifecycle`) or their transitions (`lifecycle_transitions`) cannot be formed."""
    reason = lifecycle_reason(snapshots, time_axis=time_axis)
    if reason:
        return {"lifecycle": reason}
    return {"lifecycle_transitions": "one cutoff: no move from one cutoff to the next"} \
        if snapshots["cutoff"].nunique() < 2 else {}


def segment_snapshots(snapshots: pd.DataFrame, clv: pd.DataFrame | None, clusters: BehaviourClusters | None, *,
                      income_bands: dict, tiers: list[str] | None, lifecycle: dict | None, margins: dict,
                      extra_attributes: list[str] = (), sql: Sql | None = None) -> pd.DataFrame:
    """One row per snapshot row: keys, attribute bands, behaviour cluster and name (without `clusters`: none),
    value tier (`tiers` None: none), lifecycle stage (`lifecycle` None: none), CLV and monthly margin. The clusters
    are assigned by Spark when `sql` is the Spark engine, else here (the same assignments)."""
    check_columns(snapshots, KEYS, table="snapshots")
    scoring_cutoff = snapshots["cutoff"].max()
    value = customer_value(snapshots, clv, scoring_cutoff=scoring_cutoff, margins=margins)
    segments = pd.concat([snapshots[KEYS], attributes(snapshots, income_bands=income_bands, extra=extra_attributes)],
                         axis=1)
    if clusters is not None:
        cluster = predict_on_spark(clusters, snapshots, sql=sql) if sql is not None and sql.name == "spark" \
            else clusters.predict(snapshots)
        segments["behaviour_cluster"] = cluster.astype("int64")
        segments["cluster_name"] = pd.Categorical(np.asarray(clusters.names_, dtype=object)[cluster.to_numpy()],
                                                  categories=clusters.names_)
    if tiers is not None:
        segments["value_tier"] = value_tiers(value["value"], snapshots["cutoff"], labels=tiers)
    if lifecycle is not None:
        segments["lifecycle_stage"] = lifecycle_stage(snapshots, **lifecycle)
    segments["clv"], segments["monthly_margin"] = value["clv"], value["monthly_margin"]
    return segments.reset_index(drop=True)


def segment_metrics(segments: pd.DataFrame, profiles: pd.DataFrame, clusters_table: pd.DataFrame,
                    clusters: BehaviourClusters | None, *, source: str, basis: str | None,
                    left_out: dict[str, str]) -> dict:
    """segment.json (without `skipped`, which write_result adds): sizes, the segmentations formed, value basis,
    the clusters and the lifecycle stages at the scoring cutoff."""
    scoring_cutoff = segments["cutoff"].max()
    now = segments[segments["cutoff"] == scoring_cutoff]
    if basis == "clv" and now["clv"].isna().any():
        log.warning("%d customers at the scoring cutoff have no CLV in %s: tiered on their monthly margin",
                    int(now["clv"].isna().sum()), paths.CLV)
    metrics = {
        "source": source, "rows": len(segments), "cutoffs": int(segments["cutoff"].nunique()),
        "scoring_cutoff": str(pd.Timestamp(scoring_cutoff).date()), "customers_now": len(now),
        "dimensions": sorted(set(profiles["dimension"]), key=list(segments.columns).index),
        "value_basis": basis,
        "clv_missing_now": int(now["clv"].isna().sum()),  # customers at the scoring cutoff tiered on margin instead
    }
    if clusters is not None:
        metrics["clusters"] = {"k": clusters.k_, "columns": [*clusters.log1p, *clusters.plain], "left_out": left_out,
                               "criterion": CRITERION, "fit_rows": clusters.fit_rows_, "names": clusters.names_,
                               "silhouette": {str(k): v for k, v in clusters.silhouette_.items()},
                               "shares": clusters_table["share"].round(4).tolist()}
    if "lifecycle_stage" in segments:
        stage_rates = profiles[profiles["dimension"] == "lifecycle_stage"].set_index("level")
        metrics["lifecycle_share_now"] = {s: float((now["lifecycle_stage"] == s).mean()) for s in STAGES}
        metrics["lifecycle_churn_rate"] = {s: float(stage_rates.loc[s, "churn_rate"]) for s in STAGES
                                           if s in stage_rates.index}
    return metrics


def run(snapshots: pd.DataFrame, clv: pd.DataFrame | None, *, source: Source, seed: int, margins: dict,
        income_bands: dict, value_tiers: list[str], clusters: dict, lifecycle: dict,
        sql: Sql | None = None) -> StageResult:
    """Segments and their reports for the snapshot rows (see the module docstring). `clv` is the survival stage's
    CLV per customer at the scoring cutoff (None or empty: none), `source` what the data source offers, `margins`
    params.yaml `survival.clv.margins`; the keywords after it are params.yaml `segment`; `sql` the Spark engine
    that assigns the clusters (None: scikit-learn here)."""
    basis = value_basis(snapshots, clv)
    skipped = value_skips(basis)
    latest = snapshots[snapshots["cutoff"] == snapshots["cutoff"].max()]
    fitted, left_out, cluster_skipped = fit_clusters(latest, seed=seed, **clusters)
    lifecycle_skipped = lifecycle_skips(snapshots, time_axis=source.time_axis)
    skipped |= cluster_skipped | lifecycle_skipped
    extra = [] if source.time_axis else feature_columns(snapshots)["categorical"]
    segments = segment_snapshots(snapshots, clv, fitted, income_bands=income_bands,
                                 tiers=value_tiers if basis else None, margins=margins, extra_attributes=extra,
                                 lifecycle=None if "lifecycle" in lifecycle_skipped else lifecycle, sql=sql)
    profiles = profile_table(segments, snapshots[["label", "labeled"]].reset_index(drop=True))
    clusters_table = cluster_profiles(segments, snapshots.reset_index(drop=True), fitted)
    metrics = segment_metrics(segments, profiles, clusters_table, fitted, source=source.name, basis=basis,
                              left_out=left_out)
    return StageResult(metrics, tables={paths.SEGMENTS: segments, paths.SEGMENT_PROFILES: profiles,
                                        paths.CLUSTER_PROFILES: clusters_table,
                                        paths.LIFECYCLE_TRANSITIONS: lifecycle_transitions(segments)},
                       skipped=skipped)


def main() -> None:
    setup_logging()
    seed, params = load_params("base")["seed"], load_params("segment")
    margins = load_params("survival")["clv"]["margins"]
    source = read_source()
    columns = snapshot_columns(lake.read_schema(paths.SNAPSHOTS).names, clusters=params["clusters"],
                               time_axis=source.time_axis)
    snapshots = lake.read_rows(paths.SNAPSHOTS, columns=columns)
    clv = pd.read_parquet(paths.CLV, columns=["customer_id", "clv"])  # empty when survival valued no customer
    engine = engine_params()
    sql = open_engine(engine) if engine["name"] == "spark" else None  # local: scikit-learn assigns the clusters
    try:
        result = run(snapshots, clv, source=source, seed=seed, margins=margins, sql=sql, **params)
        if lake_folder := lake_of(engine):  # the segments of every cutoff into the lake, their manifest at SEGMENTS
            move_to_lake(result, sql.spark, lake=lake_folder, partitions={paths.SEGMENTS: "cutoff"})
    finally:
        if sql is not None:
            sql.close()
    write_result("segment", result, headline=HEADLINE, params={"base": {"seed": seed}, "segment": params,
                                            "survival": {"clv": {"margins": margins}}, "engine": engine},
                 inputs=[paths.SNAPSHOTS, paths.CLV, paths.SOURCE],
                 tags={"source": source.name, "value_basis": str(result.metrics["value_basis"])},
                 artifacts=[paths.SEGMENT_PROFILES, paths.CLUSTER_PROFILES, paths.LIFECYCLE_TRANSITIONS])  # no ids
    log.info("wrote %s (%d rows) and the segment reports", paths.SEGMENTS, result.metrics["rows"])
