"""Behaviour clusters: k-means on standardised behaviour indicators, k chosen by silhouette, named by rules.

Money and counts are skewed, so they enter as log1p (params `log1p`), the rest as they are (`plain`); a missing
value (e.g. the digital share of a customer with neither logins nor branch visits) takes the fitting sample's
median. Each column is standardised on the fitting sample and clipped at +-5 SD, so a few huge balances cannot
claim a cluster of their own. k runs over k_min..k_max; the criterion is the mean silhouette (Rousseeuw 1987; on a
seeded sample, as it costs O(n^2)), and the smallest k within `silhouette_tolerance` of the best wins (differences
below the sampling noise should not buy extra clusters). Clusters are numbered by size, largest first.

Names come from rules on the standardised centroid (z, in SD of the fitting population), with t the
`name_threshold_sd`, so they describe what the centroid is whatever the seed or k:

- noun (where the money is): the highest of investment (investors), loan (borrowers) and deposit balance
  (savers) with z > t; else transactors if transactions have z > t; else low-balance customers if the deposit
  balance has z < -t; else everyday customers.
- adjective (how they use the bank), the first rule that holds: transactions z < -t: dormant; service contacts
  z > t: service-heavy; digital share z > t: digital; digital share z < -t: branch-based; products z > t:
  multi-product; fees z > t: fee-paying; else none (the noun alone).

Two clusters with the same name get the descriptor of their most distinctive remaining indicator in brackets
("digital savers (high fees)"), of their two most distinctive if one still ties, and a number if that still
ties. An indicator outside the bank catalogue (e.g. a snapshot file's `credit_score`) reads "high credit score" /
"low credit score", a flag column (`flags`, e.g. `is_active_member`) "is active member: yes" / "...: no".

Only columns that exist and vary can separate customers (`usable_columns`): a missing or constant column is
left out with the reason. k is capped at the number of distinct standardised rows; fewer distinct rows than
k_min is a `ClusterError` (the caller skips the clusters and says why).
"""

import logging

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from churnlab.core.checks import check_columns
from churnlab.model.churn import feature_columns

log = logging.getLogger(__name__)

CLIP_SD = 5.0
NOUNS = (("investment_balance", "investors"), ("loan_balance", "borrowers"), ("deposit_balance", "savers"))
DESCRIPTORS = {  # feature: (descriptor when high, when low)
    "deposit_balance": ("high deposits", "low deposits"),
    "investment_balance": ("invested", "no investments"),
    "loan_balance": ("with loans", "no loans"),
    "tx_count": ("many transactions", "few transactions"),
    "digital_share_3m": ("digital", "branch-based"),
    "n_products": ("many products", "few products"),
    "fees_3m": ("high fees", "low fees"),
    "service_contacts_12m": ("many service contacts", "few service contacts"),
}


class ClusterError(ValueError):
    """The data cannot be split into k_min or more behaviour clusters."""


def usable_columns(snapshots: pd.DataFrame, columns: list[str]) -> tuple[list[str], dict[str, str]]:
    """The `columns` that `snapshots` has and that vary (two or more distinct values), and why each other is out."""
    usable, left_out = [], {}
    for column in columns:
        if column not in snapshots.columns:
            left_out[column] = "missing"
        elif snapshots[column].astype(float).nunique(dropna=True) < 2:
            left_out[column] = "constant"
        else:
            usable.append(column)
    return usable, left_out


def cluster_columns(snapshots: pd.DataFrame, *, log1p: list[str], plain: list[str]
                    ) -> tuple[list[str], list[str], dict[str, str]]:
    """The configured behaviour columns that exist and vary (log1p, plain), and why the others are left out;
    when none is usable, every numeric and flag column of the snapshots that varies, as plain columns."""
    use_log, out_log = usable_columns(snapshots, log1p)
    use_plain, out_plain = usable_columns(snapshots, plain)
    if use_log or use_plain:
        return use_log, use_plain, out_log | out_plain
    kinds = feature_columns(snapshots.drop(columns=[c for c in ("tenure_months",) if c in snapshots]))
    fallback, _ = usable_columns(snapshots, [*kinds["numeric"], *kinds["flag"]])
    return [], fallback, {c: "none of the configured columns is usable" for c in [*log1p, *plain]}


def descriptor(feature: str, high: bool, *, flags=()) -> str:
    """The words for a centroid high or low on `feature`: the catalogue's, else "<flag in words>: yes/no" for a
    flag, else "high/low <feature in words>"."""
    text = feature.replace("_", " ")
    if feature in DESCRIPTORS:
        return DESCRIPTORS[feature][0 if high else 1]
    if feature in flags:
        return f"{text}: {'yes' if high else 'no'}"
    return f"{'high' if high else 'low'} {text}"


def behaviour_matrix(snapshots: pd.DataFrame, *, log1p: list[str], plain: list[str]) -> pd.DataFrame:
    """The behaviour columns, log1p-transformed where asked (missing values kept)."""
    check_columns(snapshots, [*log1p, *plain], table="snapshots")
    out = {c: np.log1p(snapshots[c].astype(float).clip(lower=0)) for c in log1p}
    out |= {c: snapshots[c].astype(float) for c in plain}
    return pd.DataFrame(out, index=snapshots.index)


def name_centroid(z: pd.Series, *, threshold: float) -> str:
    """The plain-language name of one standardised centroid (indicator -> z); see the module docstring."""

    def at(feature: str) -> float:
        return float(z.get(feature, 0.0))

    money = [(at(f), word) for f, word in NOUNS if at(f) > threshold]
    if money:
        noun = max(money)[1]
    elif at("tx_count") > threshold:
        noun = "transactors"
    elif at("deposit_balance") < -threshold:
        noun = "low-balance customers"
    else:
        noun = "everyday customers"
    rules = (("tx_count", -1, "dormant"), ("service_contacts_12m", 1, "service-heavy"),
             ("digital_share_3m", 1, "digital"), ("digital_share_3m", -1, "branch-based"),
             ("n_products", 1, "multi-product"), ("fees_3m", 1, "fee-paying"))
    adjective = next((word for f, sign, word in rules if sign * at(f) > threshold), "")
    return f"{adjective} {noun}".strip()


def name_clusters(centroids: pd.DataFrame, *, threshold: float, flags=()) -> list[str]:
    """Unique names for the standardised centroids (one row per cluster); see the module docstring for ties."""
    names = [name_centroid(row, threshold=threshold) for _, row in centroids.iterrows()]
    for name in sorted(set(names)):
        tied = [i for i, n in enumerate(names) if n == name]
        if len(tied) < 2:
            continue
        words = {}
        for i in tied:
            others = centroids.iloc[[j for j in tied if j != i]].mean()
            gaps = (centroids.iloc[i] - others).abs().sort_values(ascending=False, kind="stable")
            words[i] = [descriptor(f, centroids.iloc[i][f] >= others[f], flags=flags) for f in gaps.index[:2]]
        depth = 1 if len({tuple(w[:1]) for w in words.values()}) == len(tied) else 2
        for i in tied:
            names[i] = f"{name} ({', '.join(words[i][:depth])})"
    for name in sorted(set(names)):
        tied = [i for i, n in enumerate(names) if n == name]
        if len(tied) > 1:
            for rank, i in enumerate(tied, start=1):
                names[i] = f"{name} {rank}"
    return names


class BehaviourClusters:
    """Fitted behaviour clustering: `fit` on one sample of snapshots, `predict` any snapshot rows."""

    def __init__(self, *, log1p: list[str], plain: list[str], k_min: int, k_max: int, silhouette_rows: int,
                 name_threshold_sd: float, seed: int, silhouette_tolerance: float = 0.0, flags: list[str] = ()):
        if not 2 <= k_min <= k_max:
            raise ValueError(f"segment.clusters: need 2 <= k_min ({k_min}) <= k_max ({k_max})")
        self.log1p, self.plain, self.flags = list(log1p), list(plain), list(flags)  # flags: plain 0/1 columns
        self.k_min, self.k_max, self.silhouette_rows = k_min, k_max, silhouette_rows
        self.threshold, self.seed, self.tolerance = name_threshold_sd, seed, silhouette_tolerance

    def _standardise(self, snapshots: pd.DataFrame) -> np.ndarray:
        x = behaviour_matrix(snapshots, log1p=self.log1p, plain=self.plain).fillna(self.medians_)
        return ((x - self.means_) / self.scales_).clip(-CLIP_SD, CLIP_SD).to_numpy()

    def fit(self, snapshots: pd.DataFrame) -> "BehaviourClusters":
        """Standardise on `snapshots`, choose k by silhouette, fit k-means, order clusters by size, name them.

        Fitted: fit_rows_ (rows fitted on), k_, silhouette_ {k: mean silhouette}, centroids_ (z), names_."""
        x = behaviour_matrix(snapshots, log1p=self.log1p, plain=self.plain)
        self.fit_rows_ = len(x)
        if x.shape[1] == 0:
            raise ClusterError("no behaviour column to cluster on")
        self.medians_ = x.median().fillna(0.0)
        x = x.fillna(self.medians_)
        self.means_, self.scales_ = x.mean(), x.std(ddof=0).replace(0.0, 1.0)
        z = self._standardise(snapshots)
        distinct = len(np.unique(z, axis=0))
        if distinct < self.k_min:
            raise ClusterError(f"{len(z)} rows hold {distinct} distinct behaviour profile(s): fewer than "
                               f"k_min = {self.k_min} clusters")
        if distinct < self.k_max:
            log.warning("%d distinct behaviour profiles: k capped at %d (k_max %d)", distinct, distinct, self.k_max)
        sample = min(self.silhouette_rows, len(z))
        self.silhouette_, fits = {}, {}
        for k in range(self.k_min, min(self.k_max, distinct) + 1):
            fits[k] = KMeans(n_clusters=k, n_init=4, random_state=self.seed).fit(z)
            self.silhouette_[k] = float(silhouette_score(z, fits[k].labels_, sample_size=sample,
                                                         random_state=self.seed))
            log.info("k=%d: silhouette %.4f, inertia %.0f", k, self.silhouette_[k], fits[k].inertia_)
        best = max(self.silhouette_.values())
        self.k_ = min(k for k, score in self.silhouette_.items() if score >= best - self.tolerance)
        self.kmeans_ = fits[self.k_]
        sizes = np.bincount(self.kmeans_.labels_, minlength=self.k_)
        self.order_ = np.argsort(-sizes, kind="stable")  # new id i <- old cluster order_[i]
        columns = [*self.log1p, *self.plain]
        self.centroids_ = pd.DataFrame(self.kmeans_.cluster_centers_[self.order_], columns=columns)
        self.names_ = name_clusters(self.centroids_, threshold=self.threshold, flags=self.flags)
        return self

    def predict(self, snapshots: pd.DataFrame) -> pd.Series:
        """Cluster number (0 = the largest cluster at fit time) of each snapshot row."""
        raw = self.kmeans_.predict(self._standardise(snapshots))
        renumber = np.empty(self.k_, dtype=int)
        renumber[self.order_] = np.arange(self.k_)
        return pd.Series(renumber[raw], index=snapshots.index, name="behaviour_cluster")
