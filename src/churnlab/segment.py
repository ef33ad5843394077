"""The `segment` stage: who the customers are, how they behave, what they are worth, where they are in life.

For every snapshot row (customer, cutoff) of data/processed/snapshots.parquet:

- attributes: age band (from the features stage), income band (declared net monthly income; "not declared" when
  missing), the bank's segment and the region;
- behaviour: a k-means cluster on standardised behaviour indicators and its rule-made name (`churnlab.clusters`),
  fitted on a seeded sample of the scoring cutoff (the last month) and applied to every cutoff;
- value: equal-count tiers within each cutoff of the customer's value: the CLV of the survival stage
  (data/processed/clv.parquet: discounted margin on balances and fees, weighted by the survival curve) at the
  scoring cutoff, and the monthly margin on balances and fees (`churnlab.clv.monthly_margin`, the survival stage's
  margins) at earlier cutoffs, where no CLV exists; without the survival output, the margin everywhere (logged);
- lifecycle stage (`churnlab.lifecycle`).

Writes data/processed/segments.parquet (with raw customer ids: it stays in data/, like the snapshots),
reports/segments.csv (per level of each segmentation: customers and share at the scoring cutoff, churn rate over
the fully labelled cutoffs, mean CLV and monthly margin at the scoring cutoff), reports/clusters.csv (cluster
profiles), reports/lifecycle_transitions.csv (stage moves cutoff to cutoff, pooled; quarterly cutoffs) and
reports/metrics/segment.json, and logs an MLflow run `segment`. Run with `python -m churnlab.segment`.
"""

import logging
import warnings

import numpy as np
import pandas as pd

from churnlab import paths, tracking
from churnlab.clusters import BehaviourClusters
from churnlab.clv import monthly_margin
from churnlab.io import write_csv, write_json, write_parquet
from churnlab.lifecycle import STAGES, check_columns, lifecycle_stage
from churnlab.logs import setup_logging
from churnlab.migration import migration_matrix
from churnlab.params import load_params

log = logging.getLogger(__name__)

KEYS = ["customer_id", "cutoff"]
ATTRIBUTES = ["age_band", "income", "segment", "region"]
VALUE_COLUMNS = ["deposit_balance", "investment_balance", "loan_balance", "fees_3m"]
DIMENSIONS = ["age_band", "income_band", "segment", "region", "cluster_name", "value_tier", "lifecycle_stage"]
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


def value_tiers(value: pd.Series, cutoff: pd.Series, *, labels: list[str]) -> pd.Series:
    """Equal-count tiers of `value` within each cutoff, lowest first (ties broken by row order)."""

    def tiers(part: pd.Series) -> pd.Series:
        return pd.qcut(part.rank(method="first"), min(len(labels), len(part)), labels=False)

    codes = value.groupby(cutoff.to_numpy(), group_keys=False).apply(tiers).reindex(value.index)
    return pd.Series(pd.Categorical.from_codes(codes.astype(int), categories=labels, ordered=True),
                     index=value.index, name="value_tier")


def customer_value(snapshots: pd.DataFrame, clv: pd.DataFrame | None, *, scoring_cutoff, margins: dict) -> pd.DataFrame:
    """monthly_margin of every row, clv at the scoring cutoff (NaN elsewhere or without `clv`), and `value`:
    the CLV where there is one, else the margin."""
    margin = monthly_margin(snapshots, **margins)
    values = pd.DataFrame({"monthly_margin": margin.to_numpy(), "clv": np.nan}, index=snapshots.index)
    if clv is not None:
        check_columns(clv, ["customer_id", "clv"], table="clv")
        now = snapshots["cutoff"] == scoring_cutoff
        values.loc[now, "clv"] = snapshots.loc[now, "customer_id"].map(clv.set_index("customer_id")["clv"])
    values["value"] = values["clv"].fillna(values["monthly_margin"])
    return values


def segment_snapshots(snapshots: pd.DataFrame, clv: pd.DataFrame | None, clusters: BehaviourClusters, *,
                      income_bands: dict, tiers: list[str], lifecycle: dict, margins: dict) -> pd.DataFrame:
    """One row per snapshot row: keys, attribute bands, behaviour cluster and name, value, tier and stage."""
    check_columns(snapshots, [*KEYS, *ATTRIBUTES, *VALUE_COLUMNS], table="snapshots")
    scoring_cutoff = snapshots["cutoff"].max()
    value = customer_value(snapshots, clv, scoring_cutoff=scoring_cutoff, margins=margins)
    cluster = clusters.predict(snapshots)
    segments = pd.DataFrame({
        "customer_id": snapshots["customer_id"], "cutoff": snapshots["cutoff"],
        "age_band": snapshots["age_band"].astype("category"),
        "income_band": income_band(snapshots["income"], **income_bands),
        "segment": snapshots["segment"].astype("category"), "region": snapshots["region"].astype("category"),
        "behaviour_cluster": cluster.astype("int64"),
        "cluster_name": pd.Categorical(np.asarray(clusters.names_, dtype=object)[cluster.to_numpy()],
                                       categories=clusters.names_),
        "value_tier": value_tiers(value["value"], snapshots["cutoff"], labels=tiers),
        "lifecycle_stage": lifecycle_stage(snapshots, **lifecycle),
        "clv": value["clv"], "monthly_margin": value["monthly_margin"],
    }, index=snapshots.index)
    return segments.reset_index(drop=True)


def profile_table(segments: pd.DataFrame, labels: pd.DataFrame, *, dimensions: list[str] = DIMENSIONS) -> pd.DataFrame:
    """Per level of each dimension: customers and share at the scoring cutoff, churn rate and labelled rows over
    the fully labelled cutoffs, mean CLV and mean monthly margin at the scoring cutoff.

    `labels` holds `label` and `labeled` aligned with `segments`; a cutoff counts as fully labelled when every
    row there is labelled (at later cutoffs only churners are, which would inflate the rate).
    """
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
    return table[["dimension", "level", "customers", "share", "labelled_rows", "churn_rate", "mean_clv",
                  "mean_monthly_margin"]]


def cluster_profiles(segments: pd.DataFrame, snapshots: pd.DataFrame, clusters: BehaviourClusters) -> pd.DataFrame:
    """Per behaviour cluster: name, customers and share at the scoring cutoff, centroid (z) and raw medians."""
    now = segments["cutoff"] == segments["cutoff"].max()
    features = [*clusters.log1p, *clusters.plain]
    cluster_now = segments.loc[now, "behaviour_cluster"].to_numpy()
    medians = snapshots.loc[now.to_numpy(), features].groupby(cluster_now).median()
    sizes = segments.loc[now, "behaviour_cluster"].value_counts().reindex(range(clusters.k_), fill_value=0)
    table = pd.DataFrame({"behaviour_cluster": range(clusters.k_), "cluster_name": clusters.names_,
                          "customers": sizes.to_numpy(), "share": sizes.to_numpy() / max(int(now.sum()), 1)})
    z = clusters.centroids_.add_prefix("z_")
    return pd.concat([table, z, medians.reindex(range(clusters.k_)).add_prefix("median_").reset_index(drop=True)],
                     axis=1)


def main() -> None:
    from churnlab.serving import flatten  # imports mlflow: only the stage needs it

    setup_logging()
    base, params = load_params("base"), load_params("segment")
    margins = load_params("survival")["clv"]["margins"]
    cluster_params = params["clusters"]
    columns = list(dict.fromkeys([*KEYS, "label", "labeled", *ATTRIBUTES, *VALUE_COLUMNS, "tenure_months",
                                  "total_balance_trend_3m", "n_products_change_3m", *cluster_params["log1p"],
                                  *cluster_params["plain"]]))
    snapshots = pd.read_parquet(paths.SNAPSHOTS, columns=columns)
    clv = pd.read_parquet(paths.CLV, columns=["customer_id", "clv"]) if paths.CLV.exists() else None
    if clv is None:
        warnings.warn(f"{paths.CLV} is absent (survival stage not run): value tiers use the monthly margin on "
                      "balances and fees at every cutoff, and no CLV is reported", ValueBasisWarning, stacklevel=1)
    scoring_cutoff = snapshots["cutoff"].max()
    latest = snapshots[snapshots["cutoff"] == scoring_cutoff]
    sample = latest.sample(n=min(cluster_params["fit_rows"], len(latest)), random_state=base["seed"])
    clusters = BehaviourClusters(log1p=cluster_params["log1p"], plain=cluster_params["plain"],
                                 k_min=cluster_params["k_min"], k_max=cluster_params["k_max"],
                                 silhouette_rows=cluster_params["silhouette_rows"],
                                 silhouette_tolerance=cluster_params["silhouette_tolerance"],
                                 name_threshold_sd=cluster_params["name_threshold_sd"], seed=base["seed"]).fit(sample)
    log.info("behaviour clusters: k=%d by silhouette %s; names %s", clusters.k_, clusters.silhouette_, clusters.names_)
    segments = segment_snapshots(snapshots, clv, clusters, income_bands=params["income_bands"],
                                 tiers=params["value_tiers"], lifecycle=params["lifecycle"], margins=margins)
    profiles = profile_table(segments, snapshots[["label", "labeled"]].reset_index(drop=True))
    clusters_table = cluster_profiles(segments, snapshots.reset_index(drop=True), clusters)
    transitions = migration_matrix(segments, state="lifecycle_stage")

    if clv is not None and segments.loc[segments["cutoff"] == scoring_cutoff, "clv"].isna().any():
        log.warning("%d customers at the scoring cutoff have no CLV in %s: tiered on their monthly margin",
                    int(segments.loc[segments["cutoff"] == scoring_cutoff, "clv"].isna().sum()), paths.CLV)
    write_parquet(segments, paths.SEGMENTS)
    write_csv(profiles, paths.SEGMENT_PROFILES)
    write_csv(clusters_table, paths.CLUSTER_PROFILES)
    write_csv(transitions, paths.LIFECYCLE_TRANSITIONS)
    now = segments[segments["cutoff"] == scoring_cutoff]
    stage_rates = profiles[profiles["dimension"] == "lifecycle_stage"].set_index("level")
    metrics = {
        "rows": len(segments), "cutoffs": int(segments["cutoff"].nunique()),
        "scoring_cutoff": str(pd.Timestamp(scoring_cutoff).date()), "customers_now": len(now),
        "value_basis": "clv" if clv is not None else "monthly_margin",
        "clv_missing_now": int(now["clv"].isna().sum()),  # customers at the scoring cutoff tiered on margin instead
        "clusters": {"k": clusters.k_, "criterion": "smallest k within silhouette_tolerance of the best silhouette",
                     "fit_rows": len(sample),
                     "silhouette": {str(k): v for k, v in clusters.silhouette_.items()},
                     "names": clusters.names_, "shares": clusters_table["share"].round(4).tolist()},
        "lifecycle_share_now": {s: float((now["lifecycle_stage"] == s).mean()) for s in STAGES},
        "lifecycle_churn_rate": {s: float(stage_rates.loc[s, "churn_rate"]) for s in STAGES if s in stage_rates.index},
    }
    write_json(metrics, paths.METRICS / "segment.json")

    mlflow = tracking.start()
    with mlflow.start_run(run_name="segment"):
        mlflow.set_tags({**tracking.lineage_tags("segment", [paths.SNAPSHOTS, paths.CLV]), "kind": "segment"})
        mlflow.log_params({"seed": base["seed"], **flatten(params, "segment.")})
        mlflow.log_metrics({"k": clusters.k_, "customers_now": len(now),
                            **{f"silhouette_k{k}": v for k, v in clusters.silhouette_.items()},
                            **{f"share_now.{s}": v for s, v in metrics["lifecycle_share_now"].items()}})
        for path in (paths.SEGMENT_PROFILES, paths.CLUSTER_PROFILES, paths.LIFECYCLE_TRANSITIONS):
            mlflow.log_artifact(str(path))
    log.info("wrote %s (%d rows) and the segment reports", paths.SEGMENTS, len(segments))


if __name__ == "__main__":
    main()
