"""Who left and why: churner profiles, reason archetypes from SHAP, and the win-back list.

- Profiles: the indicators of churned customers in each of the `months_before` months before their churn
  month, against retained customers (no churn event) observed at comparable months: each retained
  customer gets an anchor month drawn from the churners' churn months, and is profiled in the months
  before it. Means by group, segment and months before the anchor show how the indicators moved.
- Archetypes: the churn model's SHAP vectors (TreeSHAP, log-odds units) on each churner's last snapshot
  before leaving, clustered with k-means. Each cluster is named by the features that push its risk up the
  most (largest mean SHAP) and assigned the theme (e.g. price, service) whose features carry the most of
  that push. On simulated data the clusters are compared with the latent reasons (adjusted Rand index).
- Win-back list: customers who churned in the last `recent_months` months, voluntarily, in an archetype
  whose theme the bank can fix (price or service, not a life event), ranked by the value lost. Only
  pseudonymous ids leave this module's callers.
"""

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from churnlab.core.checks import check_columns
from churnlab.core.privacy import pseudonymise
from churnlab.retention.campaign import months_between

CHURNED, RETAINED = "churned", "retained"
PRICE_LIKE = {"competitor_offer": "price"}  # the two price reasons merged: one theme (rates) drives both


def profile_anchors(customers: pd.DataFrame, events: pd.DataFrame, *, months_before: int, max_customers: int,
                    seed: int) -> pd.DataFrame:
    """customer_id, group (churned/retained), segment, churn_type and anchor month for the profiles.

    Churners are anchored at their churn month; up to `max_customers` of each group (seeded sample), each
    with at least `months_before` months as a customer before the anchor.
    """
    check_columns(customers, ("customer_id", "open_date", "segment"), table="customers")
    check_columns(events, ("customer_id", "churn_month", "churn_type"), table="churn_events")
    rng = np.random.default_rng(seed)
    opened = customers.set_index("customer_id")["open_date"] + pd.offsets.MonthEnd(0)
    churners = events.assign(anchor=events["churn_month"], group=CHURNED)
    churners = churners[months_between(churners["anchor"], churners["customer_id"].map(opened)) >= months_before]
    churners = churners.sample(n=min(max_customers, len(churners)), random_state=rng.integers(2**31))
    stayers = customers.loc[~customers["customer_id"].isin(events["customer_id"]), ["customer_id"]]
    stayers = stayers.sample(n=min(max_customers, len(stayers)), random_state=rng.integers(2**31))
    stayers = stayers.assign(anchor=rng.choice(churners["anchor"].to_numpy(), len(stayers)) if len(churners)
                             else pd.NaT, group=RETAINED, churn_type=RETAINED)
    stayers = stayers[months_between(stayers["anchor"], stayers["customer_id"].map(opened)) >= months_before]
    anchors = pd.concat([churners[["customer_id", "group", "churn_type", "anchor"]],
                         stayers[["customer_id", "group", "churn_type", "anchor"]]], ignore_index=True)
    anchors["anchor"] = anchors["anchor"].astype("datetime64[ns]")
    return anchors.merge(customers[["customer_id", "segment"]], on="customer_id", how="left")


def expand_months(anchors: pd.DataFrame, *, months_before: int) -> pd.DataFrame:
    """One row per anchor and lag j = 1..months_before, with `month` = anchor - j months."""
    lags = pd.DataFrame({"months_before": np.arange(1, months_before + 1)})
    rows = anchors.merge(lags, how="cross")
    rows["month"] = (rows["anchor"].dt.to_period("M") - rows["months_before"]).dt.to_timestamp(how="end")
    rows["month"] = rows["month"].dt.normalize().astype("datetime64[ns]")
    return rows


def profile_indicators(rows: pd.DataFrame, *, indicators: list[str]) -> pd.DataFrame:
    """Mean of each indicator by group, segment (plus "all") and months before the anchor (long format)."""
    check_columns(rows, ("group", "segment", "months_before", *indicators), table="profile rows")
    rows = rows.assign(segment=rows["segment"].astype(str))
    both = pd.concat([rows, rows.assign(segment="all")], ignore_index=True)
    means = both.groupby(["group", "segment", "months_before"])[indicators].mean().reset_index()
    counts = both.groupby(["group", "segment", "months_before"]).size().rename("customers").reset_index()
    return means.merge(counts).melt(id_vars=["group", "segment", "months_before", "customers"],
                                    var_name="indicator", value_name="mean")


def churn_types(anchors: pd.DataFrame) -> pd.DataFrame:
    """Share of each churn type among churners, per segment and overall."""
    churners = anchors[anchors["group"] == CHURNED].assign(segment=lambda f: f["segment"].astype(str))
    both = pd.concat([churners, churners.assign(segment="all")], ignore_index=True)
    return pd.crosstab(both["segment"], both["churn_type"], normalize="index").reset_index()


def feature_themes(features: list[str], themes: dict[str, list[str]]) -> dict[str, str]:
    """Each feature's theme: the theme with the longest prefix the feature starts with ("other" if none)."""
    out = {}
    for feature in features:
        matches = [(len(prefix), theme) for theme, prefixes in themes.items() for prefix in prefixes
                   if feature.startswith(prefix)]
        out[feature] = max(matches)[1] if matches else "other"
    return out


def fit_archetypes(shap: pd.DataFrame, *, n_archetypes: int, seed: int, top_features: int,
                   themes: dict[str, list[str]]) -> tuple[np.ndarray, pd.DataFrame]:
    """Archetype of each churner, and a table naming each archetype by what sets it apart.

    k-means runs on the SHAP vectors scaled to unit length: the direction of an explanation (which features
    drive the risk, in what mix) separates reasons, while its length is mostly the level of risk. An
    archetype is named by the features whose mean SHAP in it exceeds the mean over all churners the most
    (the symptoms every churner shares, such as a falling balance, cancel out). Each feature counts for one
    theme (`feature_themes`: longest matching prefix, e.g. `complaints` for `complaints_3m`); the
    archetype's theme is the one whose features carry the most of that distinctive push, or "other".
    """
    if len(shap) < n_archetypes:
        raise ValueError(f"{len(shap)} churners cannot form {n_archetypes} archetypes")
    values = shap.to_numpy(float)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    direction = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
    labels = KMeans(n_clusters=n_archetypes, n_init=10, random_state=seed).fit_predict(direction)
    distinct = shap.groupby(labels).mean() - shap.mean()
    theme_of = pd.Series(feature_themes(list(shap.columns), themes))
    rows = []
    for cluster, push in distinct.iterrows():
        top = push.sort_values(ascending=False).head(top_features)
        scores = push.clip(lower=0).groupby(theme_of).sum()
        scores = scores.drop("other", errors="ignore")
        theme = str(scores.idxmax()) if len(scores) and scores.max() > 0 else "other"
        rows.append({"archetype": int(cluster), "name": " + ".join(top.index), "theme": theme,
                     "customers": int(np.sum(labels == cluster)),
                     **{f"top{i + 1}": f"{name} ({value:+.2f})" for i, (name, value) in enumerate(top.items())}})
    return labels, pd.DataFrame(rows)


def churner_themes(shap: pd.DataFrame, themes: dict[str, list[str]]) -> pd.Series:
    """Each churner's own theme: the one whose features push their risk up the most ("other" if none does).

    Symptoms every leaver shows (falling balances, fewer transactions) belong to no theme, so they decide
    nothing here: the theme is the most likely cause among those listed.
    """
    theme_of = pd.Series(feature_themes(list(shap.columns), themes))
    push = shap.clip(lower=0).T.groupby(theme_of).sum().T.drop(columns="other", errors="ignore")
    if push.empty:
        return pd.Series("other", index=shap.index)
    return push.idxmax(axis=1).where(push.max(axis=1) > 0, "other")


def archetype_agreement(archetype, reason) -> tuple[dict, pd.DataFrame]:
    """Adjusted Rand index of archetypes against latent reasons (and against the price-merged reasons), and
    the confusion table (counts of archetype x reason). Rows without a reason are left out."""
    frame = pd.DataFrame({"archetype": np.asarray(archetype), "reason": np.asarray(reason, dtype=object)})
    frame = frame[frame["reason"].notna()]
    merged = frame["reason"].replace(PRICE_LIKE)
    scores = {"ari": float(adjusted_rand_score(frame["reason"], frame["archetype"])),
              "ari_price_merged": float(adjusted_rand_score(merged, frame["archetype"])),
              "customers": len(frame)}
    return scores, pd.crosstab(frame["archetype"], frame["reason"]).reset_index()


def winback_list(churners: pd.DataFrame, *, last_month: pd.Timestamp, recent_months: int,
                 fixable: list[str]) -> pd.DataFrame:
    """Voluntary churners of the last `recent_months` months in a fixable theme, by value lost (highest first).

    `churners` has customer_id, churn_month, churn_type, theme and lost_value (EUR).
    """
    check_columns(churners, ("customer_id", "churn_month", "churn_type", "theme", "lost_value"), table="churners")
    since = months_between(pd.Series(last_month, index=churners.index), churners["churn_month"])
    keep = (since < recent_months) & churners["theme"].isin(fixable) & (churners["churn_type"] != "involuntary")
    ranked = churners[keep].sort_values("lost_value", ascending=False, kind="stable").reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


WINBACK_COLUMNS = ("rank", "customer", "churn_month", "churn_type", "segment", "theme", "name", "lost_value")


def public_winback(ranked: pd.DataFrame, *, key: bytes) -> pd.DataFrame:
    """The win-back list as it may leave the stage: pseudonymous `customer` instead of customer_id."""
    out = ranked.assign(customer=pseudonymise(ranked["customer_id"], key=key))
    return out[list(WINBACK_COLUMNS)].reset_index(drop=True)
