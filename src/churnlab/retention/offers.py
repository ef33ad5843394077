"""Per-offer effects learned from a multi-arm randomised campaign, and each customer's expected net value per offer.

The campaign logs give each selected customer one arm: an offer or the control (no contact), with a known
propensity. The effect of offer a on customer x is tau_a(x) = P(churn within H months | x, a) - P(churn | x,
control), a change in probability (negative: the offer keeps the customer).

Learner: econml's DRLearner (Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous causal
effects"; econml.dr), fitted once with every offer as a category of one discrete treatment, the control as the
baseline. Its nuisance models are an XGBoost churn classifier on (x, arm) and the propensity: the campaign is
randomised, so the propensity is the arm's share, which a prior-only classifier returns exactly. Its final stage
regresses the doubly robust pseudo-outcomes on a few features per offer with a linear model, which on ~10,000
noisy binary outcomes is less variable than a forest; with `scale_by_risk` the features enter multiplied by the
churn model's risk p (tau_a(x) = p (b_a + c_a f(x))): an offer can only change the churn of a customer who would
churn, so its effect is a relative reduction of the risk that varies with the customer. econml is kept and
pinned in requirements.lock; causalml would need a second pin of scikit-learn and XGBoost.

Expected net value of offer a for customer x, in EUR per customer:

    net_a(x) = -tau_a(x) x value(x) - cost_a

with value(x) the customer's value if retained (monthly margin x the median discounted lifetime, EUR) and cost_a
the mean logged cost of the arm (EUR per customer contacted). No contact is worth 0.
"""

import logging

import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from xgboost import XGBClassifier

from churnlab.core.checks import check_columns
from churnlab.model.churn import prepare, tree_encoder

log = logging.getLogger(__name__)
CONTROL = "control"


def campaign_arms(campaigns: pd.DataFrame) -> pd.Series:
    """Each campaign row's arm: its offer where treated, else "control"."""
    check_columns(campaigns, ("treated", "offer"), table="campaigns")
    return pd.Series(np.where(campaigns["treated"].astype(bool), campaigns["offer"].astype(str), CONTROL),
                     index=campaigns.index, name="arm")


def arm_propensities(campaigns: pd.DataFrame) -> pd.Series:
    """Each row's probability of its arm: the logged `propensity`, else the arm's share of its campaign wave
    (a randomised campaign without logged propensities gave every customer of a wave the same chances)."""
    if "propensity" in campaigns and campaigns["propensity"].notna().all():
        return campaigns["propensity"].astype(float)
    arms = campaign_arms(campaigns)
    share = arms.groupby([campaigns["month"], arms]).transform("size") / campaigns.groupby("month")["month"] \
        .transform("size")
    return share.astype(float).rename("propensity")


def arm_costs(campaigns: pd.DataFrame) -> pd.Series:
    """Mean logged cost of each offer (EUR per customer contacted), the control's 0 first."""
    arms = campaign_arms(campaigns)
    costs = campaigns.loc[arms != CONTROL, "cost"].groupby(arms[arms != CONTROL]).mean()
    return pd.concat([pd.Series({CONTROL: 0.0}), costs.sort_index()]).astype(float)


class OfferEffects:
    """econml DRLearner over the offers of a campaign; `effects` returns tau_a(x) per offer (columns)."""

    def __init__(self, kinds: dict[str, list[str]], *, seed: int, n_jobs: int, final_features: list[str],
                 scale_by_risk: bool, xgboost: dict):
        self.kinds, self.seed, self.n_jobs, self.xgboost = kinds, seed, n_jobs, xgboost
        self.final_features, self.scale_by_risk = final_features, scale_by_risk

    def _final(self, frame: pd.DataFrame) -> np.ndarray:
        """The final stage's features, sign(x) log(1 + |x|): money and counts on a log scale, missing as 0."""
        check_columns(frame, self.final_features, table="campaign rows", needed_by="retention.offers.final_features")
        try:
            x = frame[self.final_features].astype(float).fillna(0.0).to_numpy()
        except (TypeError, ValueError) as err:
            raise ValueError(f"retention.offers.final_features must name numeric columns: {err}") from None
        x = np.sign(x) * np.log1p(np.abs(x))
        if not self.scale_by_risk:
            return x
        risk = frame["risk"].to_numpy(float)[:, None]  # an offer changes the churn of those who would churn
        return np.column_stack([risk, risk * x])

    def fit(self, frame: pd.DataFrame, arm: pd.Series, churned: pd.Series) -> "OfferEffects":
        from econml.dr import DRLearner

        self.offers_ = sorted(set(arm) - {CONTROL})
        if CONTROL not in set(arm) or not self.offers_:
            raise ValueError("learning offer effects needs control rows and rows of at least one offer")
        self.encoder_ = tree_encoder(self.kinds).fit(prepare(frame, self.kinds))
        outcome = XGBClassifier(random_state=self.seed, n_jobs=self.n_jobs, **self.xgboost)
        self.learner_ = DRLearner(model_propensity=DummyClassifier(strategy="prior"), model_regression=outcome,
                                  discrete_outcome=True, categories=[CONTROL, *self.offers_], cv=2,
                                  random_state=self.seed, allow_missing=True)  # XGBoost takes missing values
        controls = self.encoder_.transform(prepare(frame, self.kinds))
        self.learner_.fit(np.asarray(churned, int), np.asarray(arm, object), X=self._final(frame), W=controls,
                          inference=None)
        return self

    def effects(self, frame: pd.DataFrame) -> pd.DataFrame:
        """tau_a(x): change in the H-month churn probability from each offer against no contact (rows x offers)."""
        tau = self.learner_.const_marginal_effect(self._final(frame))
        return pd.DataFrame(np.asarray(tau).reshape(len(frame), -1), index=frame.index, columns=self.offers_)


def net_values(effects: pd.DataFrame, value: pd.Series, costs: pd.Series) -> pd.DataFrame:
    """Expected net value of each offer (EUR per customer): -effect x value - cost (no contact: 0)."""
    missing = sorted(set(effects.columns) - set(costs.index))
    if missing:
        raise ValueError(f"no cost for offer(s) {missing}: the campaigns table logs none")
    return -effects.mul(value.to_numpy(float), axis=0) - costs[effects.columns].to_numpy(float)
