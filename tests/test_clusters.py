"""Behaviour clusters: names follow the rules on standardised centroids, k by silhouette, stable across seeds."""

import numpy as np
import pandas as pd
import pytest

from churnlab.clusters import BehaviourClusters, name_centroid, name_clusters

FEATURES = {"log1p": ["deposit_balance", "investment_balance", "loan_balance", "tx_count", "fees_3m",
                      "service_contacts_12m"], "plain": ["n_products", "digital_share_3m"]}


@pytest.mark.parametrize(("z", "name"), [
    ({"investment_balance": 1.5, "loan_balance": 1.0, "n_products": 1.2}, "multi-product investors"),
    ({"deposit_balance": 0.9, "tx_count": -1.0}, "dormant savers"),
    ({"tx_count": 1.0, "digital_share_3m": 0.8}, "digital transactors"),
    ({"deposit_balance": -0.8, "digital_share_3m": -2.0}, "branch-based low-balance customers"),
    ({"loan_balance": 1.6, "service_contacts_12m": 0.7, "digital_share_3m": 0.9}, "service-heavy borrowers"),
    ({"deposit_balance": 0.2}, "everyday customers"),
])
def test_names_follow_the_rules(z, name):
    assert name_centroid(pd.Series(z, dtype=float), threshold=0.5) == name


def test_tied_names_get_their_most_distinctive_indicator():
    centroids = pd.DataFrame([{"deposit_balance": 1.0, "fees_3m": 0.9, "n_products": 0.0},
                              {"deposit_balance": 1.0, "fees_3m": -0.9, "n_products": 0.0},
                              {"deposit_balance": -1.0, "fees_3m": 0.0, "n_products": 0.0}]).assign(tx_count=0.0)
    names = name_clusters(centroids, threshold=0.5)
    assert names == ["fee-paying savers", "savers", "low-balance customers"]
    twins = pd.DataFrame([{"deposit_balance": 1.0, "fees_3m": 0.2}, {"deposit_balance": 1.0, "fees_3m": -0.2}])
    assert name_clusters(twins, threshold=0.5) == ["savers (high fees)", "savers (low fees)"]


def blobs(seed: int, n: int = 200) -> pd.DataFrame:
    """Three clearly separated groups: investors, borrowers, dormant low-balance customers."""
    rng = np.random.default_rng(seed)

    def group(deposit, investment, loan, tx, products):
        return pd.DataFrame({"deposit_balance": rng.lognormal(deposit, 0.2, n),
                             "investment_balance": rng.lognormal(investment, 0.2, n) * (investment > 0),
                             "loan_balance": rng.lognormal(loan, 0.2, n) * (loan > 0),
                             "tx_count": rng.poisson(tx, n), "fees_3m": rng.gamma(5, 1, n),
                             "service_contacts_12m": rng.poisson(1, n), "n_products": products + rng.integers(0, 2, n),
                             "digital_share_3m": np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0.6, 0.9, n))})

    return pd.concat([group(9, 10, 0, 15, 3), group(8, 0, 10, 15, 3), group(6, 0, 0, 0, 1)], ignore_index=True)


def fit(frame: pd.DataFrame, seed: int) -> BehaviourClusters:
    return BehaviourClusters(**FEATURES, k_min=2, k_max=5, silhouette_rows=500, name_threshold_sd=0.5,
                             seed=seed).fit(frame)


def test_three_separated_groups_give_three_clusters_with_true_names_for_any_seed():
    frame = blobs(0)
    names = []
    for seed in (1, 2):
        clusters = fit(frame, seed)
        assert clusters.k_ == 3
        assert max(clusters.silhouette_, key=clusters.silhouette_.get) == 3
        labels = clusters.predict(frame)
        assert labels.value_counts().sort_index().tolist() == [200, 200, 200]
        named = pd.Series(np.asarray(clusters.names_)[labels.to_numpy()])
        assert named.iloc[:200].str.endswith("investors").all()
        assert named.iloc[200:400].str.endswith("borrowers").all()
        assert (named.iloc[400:] == "dormant low-balance customers").all()
        names.append(sorted(clusters.names_))
    assert names[0] == names[1]


def test_the_smallest_k_within_the_tolerance_wins():
    clusters = BehaviourClusters(**FEATURES, k_min=2, k_max=4, silhouette_rows=500, name_threshold_sd=0.5, seed=0,
                                 silhouette_tolerance=10.0).fit(blobs(0))
    assert clusters.k_ == 2 and len(clusters.names_) == 2


def test_missing_behaviour_column_is_named():
    with pytest.raises(KeyError, match="digital_share_3m"):
        fit(blobs(0).drop(columns="digital_share_3m"), 0)
