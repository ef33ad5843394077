"""The segment reports: a profile per level of each segmentation, per behaviour cluster, and lifecycle moves.

None of them holds a customer id: reports/segments.csv, reports/clusters.csv and reports/lifecycle_transitions.csv
are summaries (the MLflow run logs them as artifacts).
"""

import pandas as pd

from churnlab.contract.lifecycle import STAGES
from churnlab.contract.migration import EXIT, migration_matrix
from churnlab.segment.bands import DIMENSIONS, KEYS
from churnlab.segment.clusters import BehaviourClusters

PROFILE_COLUMNS = ["dimension", "level", "customers", "share", "labelled_rows", "churn_rate", "mean_clv",
                   "mean_monthly_margin"]


def segmentations(segments: pd.DataFrame) -> list[str]:
    """The segmentation columns `segments` holds, the bank's own first (DIMENSIONS order), then the file's own."""
    held = [c for c in segments.columns if c not in [*KEYS, "behaviour_cluster", "clv", "monthly_margin"]]
    return [d for d in DIMENSIONS if d in held] + [d for d in held if d not in DIMENSIONS]


def profile_table(segments: pd.DataFrame, labels: pd.DataFrame, *, dimensions: list[str] | None = None
                  ) -> pd.DataFrame:
    """Per level of each dimension (default: `segmentations`): customers and share at the scoring cutoff, churn
    rate and labelled rows over the fully labelled cutoffs, mean CLV and mean monthly margin at the scoring cutoff.

    `labels` holds `label` and `labeled` aligned with `segments`; a cutoff counts as fully labelled when every
    row there is labelled (at later cutoffs only churners are, which would inflate the rate).
    """
    dimensions = segmentations(segments) if dimensions is None else dimensions
    if not dimensions:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
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
    return table[PROFILE_COLUMNS]


def cluster_profiles(segments: pd.DataFrame, snapshots: pd.DataFrame, clusters: BehaviourClusters | None
                     ) -> pd.DataFrame:
    """Per behaviour cluster: name, customers and share at the scoring cutoff, centroid (z) and raw medians;
    without `clusters` (skipped), only the header."""
    if clusters is None:
        return pd.DataFrame(columns=["behaviour_cluster", "cluster_name", "customers", "share"])
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


def lifecycle_transitions(segments: pd.DataFrame) -> pd.DataFrame:
    """Customers moving from each lifecycle stage to each stage (or out) cutoff to cutoff, pooled; only the
    header when `segments` has no lifecycle stage or one cutoff."""
    if "lifecycle_stage" not in segments or segments["cutoff"].nunique() < 2:
        return pd.DataFrame(columns=["lifecycle_stage_from", "customers", *STAGES, EXIT])
    return migration_matrix(segments, state="lifecycle_stage")
