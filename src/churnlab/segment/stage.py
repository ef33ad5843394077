"""The `segment` stage: who the customers are, how they behave, what they are worth, where they are in life.

For every snapshot row (customer, cutoff) of data/processed/snapshots.parquet, as far as the data allows:

- attributes: age band (from the features stage, or banded from `age` as the catalogue does), income band
  (declared net monthly income; "not declared" when missing), the bank's segment and the region, each where
  the snapshots have the column; on a snapshot source also every categorical column of the file (e.g.
  geography, gender): a one-cutoff file's categories are its natural attributes;
- behaviour: a k-means cluster on standardised behaviour indicators and its rule-made name (`segment.clusters`),
  fitted on a seeded sample of the scoring cutoff (the last month) and applied to every cutoff. Configured
  columns that are missing or constant are left out (logged); when none of them is usable, the clusters use
  the snapshot's numeric and flag columns;
- value: equal-count tiers within each cutoff of the customer's value: the CLV of the survival stage
  (data/processed/clv.parquet: discounted margin on balances and fees, weighted by the survival curve) at the
  scoring cutoff, and the monthly margin on balances and fees (`churnlab.contract.value.monthly_margin`, survival's
  margins; a balance column the data lack counts as 0) at earlier cutoffs, where no CLV exists; without CLV rows,
  the margin everywhere (warned); with neither CLV nor a balance or fee column, no tier;
- lifecycle stage (`churnlab.contract.lifecycle`) and its transitions cutoff to cutoff: these need a time axis, so a
  snapshot source has none.

What cannot be formed is left out of segments.parquet (no column) and named with the reason under `skipped` in
reports/metrics/segment.json. Writes data/processed/segments.parquet (with raw customer ids: it stays in data/,
like the snapshots), reports/segments.csv (per level of each segmentation: customers and share at the scoring
cutoff, churn rate over the fully labelled cutoffs, mean CLV and monthly margin at the scoring cutoff),
reports/clusters.csv (cluster profiles), reports/lifecycle_transitions.csv (stage moves cutoff to cutoff, pooled;
only a header when skipped) and reports/metrics/segment.json, and logs an MLflow run `segment`. Run with
`python -m churnlab.segment`.
"""

import logging
import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from churnlab.contract.lifecycle import COLUMNS as LIFECYCLE_COLUMNS
from churnlab.contract.lifecycle import STAGES, lifecycle_reason, lifecycle_stage
from churnlab.contract.migration import EXIT, migration_matrix
from churnlab.contract.value import MARGIN_COLUMNS, monthly_margin
from churnlab.core import paths, tracking
from churnlab.core.checks import check_columns
from churnlab.core.io import write_csv, write_json, write_parquet
from churnlab.core.logs import setup_logging
from churnlab.core.params import load_params
from churnlab.model.churn import feature_columns
from churnlab.segment.clusters import BehaviourClusters, ClusterError, cluster_columns

log = logging.getLogger(__name__)

KEYS = ["customer_id", "cutoff"]
ATTRIBUTES = ["age_band", "income_band", "segment", "region"]  # the bank's attributes, where the data have them
SOURCE_COLUMNS = ["age_band", "age", "income", "segment", "region"]  # the snapshot columns they come from
OUTCOMES = ["cluster_name", "value_tier", "lifecycle_stage"]
DIMENSIONS = [*ATTRIBUTES, *OUTCOMES]
AGE_EDGES = [-np.inf, 25, 35, 45, 55, 65, np.inf]  # the indicator catalogue's age bands (churnlab.contract.indicators)
AGE_LABELS = ["<25", "25-34", "35-44", "45-54", "55-64", "65+"]
NOT_DECLARED = "not declared"


class ValueBasisWarning(UserWarning):
    """Value tiers fall back to the monthly margin: the survival stage's CLV is absent."""


def income_band(income: pd.Series, *, edges: list[float], labels: list[str]) -> pd.Series:
    """Band of declared monthly income: [edges[i], edges[i+1]) -> labels[i]; missing -> "not declared"."""
    if len(labels) != len(edges) - 1:
        raise ValueError(f"segment.income_bands: {len(edges)} edges need {len(edges) - 1} labels, got {labels}")
    banded = pd.cut(income.astype(float), bins=edges, labels=labels, right=False)
    bands = banded.cat.add_categories([NOT_DECLARED]).fillna(NOT_DECLARED)
    return bands.cat.set_categories([*labels, NOT_DECLARED], ordered=True).rename("income_band")


def attributes(snapshots: pd.DataFrame, *, income_bands: dict, extra: list[str] = ()) -> pd.DataFrame:
    """The attribute bands the snapshots allow (see the module docstring), then the `extra` categorical columns."""
    out = {}
    if "age_band" in snapshots:
        out["age_band"] = snapshots["age_band"].astype("category")
    elif "age" in snapshots:  # age in whole years: [edge, next edge), as the catalogue's CASE
        out["age_band"] = pd.cut(snapshots["age"].astype(float), bins=AGE_EDGES, labels=AGE_LABELS, right=False)
    if "income" in snapshots:
        out["income_band"] = income_band(snapshots["income"], **income_bands)
    for column in ["segment", "region", *[c for c in extra if c not in DIMENSIONS]]:
        if column in snapshots:
            out[column] = snapshots[column].astype("category")
    return pd.DataFrame(out, index=snapshots.index)


def value_tiers(value: pd.Series, cutoff: pd.Series, *, labels: list[str]) -> pd.Series:
    """Equal-count tiers of `value` within each cutoff, lowest first (ties broken by row order; no value, no tier)."""

    def tiers(part: pd.Series) -> pd.Series:
        known = part.dropna()
        codes = pd.qcut(known.rank(method="first"), min(len(labels), len(known)), labels=False) if len(known) \
            else known
        return codes.reindex(part.index)

    codes = value.groupby(cutoff.to_numpy(), group_keys=False).apply(tiers).reindex(value.index)
    return pd.Series(pd.Categorical.from_codes(codes.fillna(-1).astype(int), categories=labels, ordered=True),
                     index=value.index, name="value_tier")


def value_basis(snapshots: pd.DataFrame, clv: pd.DataFrame | None) -> str | None:
    """What value tiers rest on: "clv" (the survival stage valued customers), "monthly_margin" (a balance or fee
    column exists) or None (neither: no tier)."""
    if clv is not None and len(clv):
        return "clv"
    return "monthly_margin" if any(c in snapshots for c in MARGIN_COLUMNS) else None


def customer_value(snapshots: pd.DataFrame, clv: pd.DataFrame | None, *, scoring_cutoff, margins: dict) -> pd.DataFrame:
    """monthly_margin of every row (NaN without any balance or fee column; an absent one counts as 0), clv at the
    scoring cutoff (NaN elsewhere or without `clv`), and `value`: the CLV where there is one, else the margin."""
    present = [c for c in MARGIN_COLUMNS if c in snapshots]
    margin = monthly_margin(snapshots.assign(**{c: 0.0 for c in MARGIN_COLUMNS if c not in present}), **margins) \
        if present else pd.Series(np.nan, index=snapshots.index)
    values = pd.DataFrame({"monthly_margin": margin.to_numpy(), "clv": np.nan}, index=snapshots.index)
    if clv is not None:
        check_columns(clv, ["customer_id", "clv"], table="clv")
        now = snapshots["cutoff"] == scoring_cutoff
        values.loc[now, "clv"] = snapshots.loc[now, "customer_id"].map(clv.set_index("customer_id")["clv"])
    values["value"] = values["clv"].fillna(values["monthly_margin"])
    return values


def segment_snapshots(snapshots: pd.DataFrame, clv: pd.DataFrame | None, clusters: BehaviourClusters | None, *,
                      income_bands: dict, tiers: list[str] | None, lifecycle: dict | None, margins: dict,
                      extra_attributes: list[str] = ()) -> pd.DataFrame:
    """One row per snapshot row: keys, attribute bands, behaviour cluster and name (without `clusters`: none),
    value tier (`tiers` None: none), lifecycle stage (`lifecycle` None: none), CLV and monthly margin."""
    check_columns(snapshots, KEYS, table="snapshots")
    scoring_cutoff = snapshots["cutoff"].max()
    value = customer_value(snapshots, clv, scoring_cutoff=scoring_cutoff, margins=margins)
    segments = pd.concat([snapshots[KEYS], attributes(snapshots, income_bands=income_bands, extra=extra_attributes)],
                         axis=1)
    if clusters is not None:
        cluster = clusters.predict(snapshots)
        segments["behaviour_cluster"] = cluster.astype("int64")
        segments["cluster_name"] = pd.Categorical(np.asarray(clusters.names_, dtype=object)[cluster.to_numpy()],
                                                  categories=clusters.names_)
    if tiers is not None:
        segments["value_tier"] = value_tiers(value["value"], snapshots["cutoff"], labels=tiers)
    if lifecycle is not None:
        segments["lifecycle_stage"] = lifecycle_stage(snapshots, **lifecycle)
    segments["clv"], segments["monthly_margin"] = value["clv"], value["monthly_margin"]
    return segments.reset_index(drop=True)


def profile_table(segments: pd.DataFrame, labels: pd.DataFrame, *, dimensions: list[str] | None = None
                  ) -> pd.DataFrame:
    """Per level of each dimension: customers and share at the scoring cutoff, churn rate and labelled rows over
    the fully labelled cutoffs, mean CLV and mean monthly margin at the scoring cutoff.

    `labels` holds `label` and `labeled` aligned with `segments`; a cutoff counts as fully labelled when every
    row there is labelled (at later cutoffs only churners are, which would inflate the rate).
    """
    columns = ["dimension", "level", "customers", "share", "labelled_rows", "churn_rate", "mean_clv",
               "mean_monthly_margin"]
    if dimensions is None:  # the segmentations segments holds, the bank's own first
        dimensions = [c for c in segments.columns if c not in [*KEYS, "behaviour_cluster", "clv", "monthly_margin"]]
        dimensions = [d for d in DIMENSIONS if d in dimensions] + [d for d in dimensions if d not in DIMENSIONS]
    if not dimensions:
        return pd.DataFrame(columns=columns)
    rows = segments.assign(label=labels["label"].to_numpy(), labeled=labels["labeled"].to_numpy(bool))
    complete = rows.groupby("cutoff")["labeled"].transform("all")
    known, now = rows[complete & rows["labeled"]], rows[rows["cutoff"] == rows["cutoff"].max()]
    parts = []
    for dimension in dimensions:
        size = now.groupby(dimension, observed=False).agg(customers=("customer_id", "size"), mean_clv=("clv", "mean"),
                                                           mean_monthly_margin=("monthly_margin", "mean"))
        churn = known.groupby(dimension, observed=False)["label"].agg(labelled_rows="size", churn_rate="mean")
        part = size.join(churn, how="outer").reset_index().rename(columns={dimension: "level"})
        part.insert(0, "dimension", dimension)
        part["level"] = part["level"].astype(str)
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    table["customers"] = table["customers"].fillna(0).astype(int)
    table["share"] = table["customers"] / len(now)
    table["churn_rate"] = table["churn_rate"].astype(float)
    return table[columns]


def cluster_profiles(segments: pd.DataFrame, snapshots: pd.DataFrame, clusters: BehaviourClusters) -> pd.DataFrame:
    """Per behaviour cluster: name, customers and share at the scoring cutoff, centroid (z) and raw medians."""
    now = segments["cutoff"] == segments["cutoff"].max()
    features = [*clusters.log1p, *clusters.plain]
    cluster_now = segments.loc[now, "behaviour_cluster"].to_numpy()
    medians = snapshots.loc[now.to_numpy(), features].astype(float).groupby(cluster_now).median()
    sizes = segments.loc[now, "behaviour_cluster"].value_counts().reindex(range(clusters.k_), fill_value=0)
    table = pd.DataFrame({"behaviour_cluster": range(clusters.k_), "cluster_name": clusters.names_,
                          "customers": sizes.to_numpy(), "share": sizes.to_numpy() / max(int(now.sum()), 1)})
    z = clusters.centroids_.add_prefix("z_")
    return pd.concat([table, z, medians.reindex(range(clusters.k_)).add_prefix("median_").reset_index(drop=True)],
                     axis=1)


def empty_transitions() -> pd.DataFrame:
    return pd.DataFrame(columns=["lifecycle_stage_from", "customers", *STAGES, EXIT])


def main() -> None:
    from churnlab.model.serving import flatten  # imports mlflow: only the stage needs it

    setup_logging()
    base, params, source = load_params("base"), load_params("segment"), load_params("data")["source"]
    margins = load_params("survival")["clv"]["margins"]
    cluster_params = params["clusters"]
    time_axis = source != "snapshot"
    available = pq.read_schema(paths.SNAPSHOTS).names
    wanted = [*KEYS, "label", "labeled", *SOURCE_COLUMNS, *MARGIN_COLUMNS, *LIFECYCLE_COLUMNS,
              *cluster_params["log1p"], *cluster_params["plain"]]
    # a snapshot file is small and its own columns are the attributes and behaviour: read it whole
    columns = available if not time_axis else [c for c in dict.fromkeys(wanted) if c in available]
    snapshots = pd.read_parquet(paths.SNAPSHOTS, columns=columns)
    clv = pd.read_parquet(paths.CLV, columns=["customer_id", "clv"]) if paths.CLV.exists() else None
    skipped: dict[str, str] = {}
    basis = value_basis(snapshots, clv)
    if basis == "monthly_margin":
        warnings.warn(f"{paths.CLV} is absent or empty (the survival stage valued no customer): value tiers use the "
                      "monthly margin on balances and fees at every cutoff, and no CLV is reported",
                      ValueBasisWarning, stacklevel=1)
    elif basis is None:
        skipped["value_tier"] = (f"no CLV in {paths.CLV} and no balance or fee column ({', '.join(MARGIN_COLUMNS)}) "
                                 "to value customers by")
    extra = feature_columns(snapshots)["categorical"] if not time_axis else []
    scoring_cutoff = snapshots["cutoff"].max()
    latest = snapshots[snapshots["cutoff"] == scoring_cutoff]
    sample = latest.sample(n=min(cluster_params["fit_rows"], len(latest)), random_state=base["seed"])
    log1p, plain, left_out = cluster_columns(sample, log1p=cluster_params["log1p"], plain=cluster_params["plain"])
    if left_out:
        log.warning("behaviour clusters leave out %s; clustering on %s", left_out, [*log1p, *plain])
    clusters = BehaviourClusters(log1p=log1p, plain=plain, k_min=cluster_params["k_min"],
                                 k_max=cluster_params["k_max"], silhouette_rows=cluster_params["silhouette_rows"],
                                 silhouette_tolerance=cluster_params["silhouette_tolerance"],
                                 name_threshold_sd=cluster_params["name_threshold_sd"], seed=base["seed"],
                                 flags=[c for c in plain if pd.api.types.is_bool_dtype(sample[c])])
    try:
        clusters = clusters.fit(sample)
        log.info("behaviour clusters: k=%d by silhouette %s; names %s", clusters.k_, clusters.silhouette_,
                 clusters.names_)
    except ClusterError as err:
        skipped["clusters"], clusters = str(err), None
    lifecycle_skip = lifecycle_reason(snapshots, time_axis=time_axis)
    if lifecycle_skip:
        skipped["lifecycle"] = lifecycle_skip
    elif snapshots["cutoff"].nunique() < 2:
        skipped["lifecycle_transitions"] = "one cutoff: no move from one cutoff to the next"
    segments = segment_snapshots(snapshots, clv, clusters, income_bands=params["income_bands"],
                                 tiers=params["value_tiers"] if basis else None,
                                 lifecycle=None if lifecycle_skip else params["lifecycle"], margins=margins,
                                 extra_attributes=extra)
    profiles = profile_table(segments, snapshots[["label", "labeled"]].reset_index(drop=True))
    clusters_table = cluster_profiles(segments, snapshots.reset_index(drop=True), clusters) if clusters else \
        pd.DataFrame(columns=["behaviour_cluster", "cluster_name", "customers", "share"])
    transitions = empty_transitions() if {"lifecycle", "lifecycle_transitions"} & set(skipped) else \
        migration_matrix(segments, state="lifecycle_stage")
    for part, reason in skipped.items():
        log.warning("segment: %s skipped: %s", part, reason)

    now = segments[segments["cutoff"] == scoring_cutoff]
    if basis == "clv" and now["clv"].isna().any():
        log.warning("%d customers at the scoring cutoff have no CLV in %s: tiered on their monthly margin",
                    int(now["clv"].isna().sum()), paths.CLV)
    write_parquet(segments, paths.SEGMENTS)
    write_csv(profiles, paths.SEGMENT_PROFILES)
    write_csv(clusters_table, paths.CLUSTER_PROFILES)
    write_csv(transitions, paths.LIFECYCLE_TRANSITIONS)
    metrics = {
        "source": source, "rows": len(segments), "cutoffs": int(segments["cutoff"].nunique()),
        "scoring_cutoff": str(pd.Timestamp(scoring_cutoff).date()), "customers_now": len(now),
        "dimensions": sorted(set(profiles["dimension"]), key=list(segments.columns).index),
        "value_basis": basis,
        "clv_missing_now": int(now["clv"].isna().sum()),  # customers at the scoring cutoff tiered on margin instead
    }
    if clusters is not None:
        metrics["clusters"] = {"k": clusters.k_, "columns": [*log1p, *plain], "left_out": left_out,
                               "criterion": "smallest k within silhouette_tolerance of the best silhouette",
                               "fit_rows": len(sample), "names": clusters.names_,
                               "silhouette": {str(k): v for k, v in clusters.silhouette_.items()},
                               "shares": clusters_table["share"].round(4).tolist()}
    if "lifecycle_stage" in segments:
        stage_rates = profiles[profiles["dimension"] == "lifecycle_stage"].set_index("level")
        metrics["lifecycle_share_now"] = {s: float((now["lifecycle_stage"] == s).mean()) for s in STAGES}
        metrics["lifecycle_churn_rate"] = {s: float(stage_rates.loc[s, "churn_rate"]) for s in STAGES
                                           if s in stage_rates.index}
    if skipped:
        metrics["skipped"] = skipped
    write_json(metrics, paths.METRICS / "segment.json")

    mlflow = tracking.start()
    with mlflow.start_run(run_name="segment"):
        mlflow.set_tags({**tracking.lineage_tags("segment", [paths.SNAPSHOTS, paths.CLV]), "kind": "segment",
                         **{f"skipped.{part}": reason[:250] for part, reason in skipped.items()}})
        mlflow.log_params({"seed": base["seed"], **flatten(params, "segment.")})
        mlflow.log_metrics({"customers_now": len(now),
                            **({"k": clusters.k_} if clusters else {}),
                            **{f"silhouette_k{k}": v for k, v in (clusters.silhouette_ if clusters else {}).items()},
                            **{f"share_now.{s}": v for s, v in metrics.get("lifecycle_share_now", {}).items()}})
        for path in (paths.SEGMENT_PROFILES, paths.CLUSTER_PROFILES, paths.LIFECYCLE_TRANSITIONS):
            mlflow.log_artifact(str(path))
    log.info("wrote %s (%d rows) and the segment reports", paths.SEGMENTS, len(segments))
