"""Behaviour clusters: names follow the rules on standardised centroids, k by silhouette, stable across seeds."""

import numpy as np
import pandas as pd
import pytest

from churnlab.segment.clusters import BehaviourClusters, ClusterError, name_centroid, name_clusters, usable_columns

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


def test_columns_outside_the_catalogue_name_ties_in_words_and_flags_as_yes_no():
    """No catalogue column: every centroid is "everyday customers", told apart by its most distinctive columns
    (gap to the mean of the others, in SD). The first: active 0.9 - (-1.0) = 1.9, balance 1.2 - (-0.1) = 1.3. The
    other two share "is active member: no" (gap -0.95), so the second column joins for all three: age +-0.9."""
    centroids = pd.DataFrame([{"balance": 1.2, "is_active_member": 0.9, "age": 0.0},
                              {"balance": -0.1, "is_active_member": -1.0, "age": 0.6},
                              {"balance": -0.1, "is_active_member": -1.0, "age": -0.6}])
    names = name_clusters(centroids, threshold=0.5, flags=["is_active_member"])
    assert names == ["everyday customers (is active member: yes, high balance)",
                     "everyday customers (is active member: no, high age)",
                     "everyday customers (is active member: no, low age)"]
    assert name_clusters(centroids.iloc[:2], threshold=0.5, flags=["is_active_member"]) == [
        "everyday customers (is active member: yes)", "everyday customers (is active member: no)"]


def test_usable_columns_and_too_few_distinct_profiles():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": 5.0, "flag": [True, False, True, True]})
    assert usable_columns(frame, ["a", "b", "flag", "c"]) == (["a", "flag"], {"b": "constant", "c": "missing"})
    two = pd.DataFrame({"a": [1.0, 1.0, 2.0, 2.0] * 5})
    with pytest.raises(ClusterError, match="2 distinct behaviour profile"):
        BehaviourClusters(log1p=[], plain=["a"], k_min=3, k_max=5, silhouette_rows=20, name_threshold_sd=0.5,
                          seed=0).fit(two)
    three = pd.DataFrame({"a": [1.0, 2.0, 9.0] * 10})  # k capped at the three distinct rows
    clusters = BehaviourClusters(log1p=[], plain=["a"], k_min=2, k_max=6, silhouette_rows=30, name_threshold_sd=0.5,
                                 seed=0).fit(three)
    assert max(clusters.silhouette_) == 3
