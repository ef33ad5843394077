"""Per-offer effects learned from a multi-arm randomised campaign, and each customer's expected net value per offer.

The campaign logs give each selected customer one arm: an offer or the control (no contact), with a known
propensity. The effect of offer a on customer x is tau_a(x) = P(churn within H months | x, a) - P(churn | x,
control), a change in probability (negative: the offer keeps the customer).

Learner: a DR-learner (Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous causal effects").

1. Nuisance, cross-fitted over `folds` folds of customers (a customer logged in several waves sits in one fold):
   an XGBoost churn classifier mu(x, a) on the customer's features and the arm, fitted on the other folds.
   The propensity e_a is known: the logged one, else the arm's share (the campaign is randomised).
2. Pseudo-outcomes (AIPW scores): Gamma_a = mu(x, a) + 1[arm = a] (churned - mu(x, a)) / e_a, and
   Gamma_a - Gamma_control, whose mean given x is tau_a(x) whichever of mu and e is right.
3. Final stage, one ridge regression per offer on the pseudo-outcomes, with the offer's own few features
   (`final_features`: where that offer should work, e.g. deposits and segment for a rate match, complaints for
   complaint recovery; an offer it does not name gets none, one relative cut for everyone), standardised and,
   with `scale_by_risk`, multiplied by the churn model's risk p:
   tau_a(x) = p (b_a + c_a f_a(x)). An offer can only change the churn of a customer who would churn, so its
   effect is a relative cut of the risk. A feature `column=value` is the indicator of that category; other
   features enter as sign(x) log(1 + |x|) (money and counts on a log scale), missing as 0.

Why so few features per offer: on ~12,600 campaign rows the pseudo-outcomes' noise (a 1/6 propensity on a ~20 %
churn rate) dwarfs the effects' spread, so every added feature mostly fits noise; one feature set shared by all
offers learned less, and less steadily across splits of the campaign rows, than a few features chosen per offer
(README, "Offers learned from the campaign"). The steps above are the DR-learner's, written out because econml's
DRLearner fits every treatment on the same features.

Expected net value of offer a for customer x, in EUR per customer:

    net_a(x) = -tau_a(x) x value(x) - cost_a

with value(x) the customer's value if retained (monthly margin x the median discounted lifetime, EUR) and cost_a
the mean logged cost of the arm (EUR per customer contacted). No contact is worth 0.
"""

import logging

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold
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
    """DR-learner of each offer's effect (module docstring); `effects` returns tau_a(x) per offer (columns)."""

    def __init__(self, kinds: dict[str, list[str]], *, seed: int, n_jobs: int,
                 final_features: dict[str, list[str]], scale_by_risk: bool, alpha: float, folds: int,
                 xgboost: dict):
        self.kinds, self.seed, self.n_jobs, self.xgboost = kinds, seed, n_jobs, xgboost
        self.final_features, self.scale_by_risk, self.alpha, self.folds = final_features, scale_by_risk, alpha, folds

    def _raw(self, frame: pd.DataFrame, offer: str) -> np.ndarray:
        """The offer's final-stage features before standardising (rows x features)."""
        names = self.final_features.get(offer, [])
        columns = sorted({name.split("=")[0] for name in names} | ({"risk"} if self.scale_by_risk else set()))
        check_columns(frame, columns, table="campaign rows", needed_by="retention.offers.final_features")
        out = []
        for name in names:
            column, _, level = name.partition("=")
            if level:
                out.append((frame[column].astype(str) == level).to_numpy(float))
                continue
            try:
                x = frame[column].astype(float).fillna(0.0).to_numpy()
            except (TypeError, ValueError) as err:
                raise ValueError(f"retention.offers.final_features: {column!r} is not numeric ({err}); name a "
                                 f"category as {column}=<value>") from None
            out.append(np.sign(x) * np.log1p(np.abs(x)))
        return np.column_stack(out) if out else np.empty((len(frame), 0))

    def _final(self, frame: pd.DataFrame, offer: str) -> np.ndarray:
        """The offer's final-stage design: [1, standardised features], times the risk with `scale_by_risk`."""
        x = (self._raw(frame, offer) - self.centre_[offer]) / self.scale_[offer]
        x = np.column_stack([np.ones(len(frame)), x])
        return x * frame["risk"].to_numpy(float)[:, None] if self.scale_by_risk else x

    def pseudo_outcomes(self, frame: pd.DataFrame, arm: pd.Series, churned: pd.Series, propensity: np.ndarray,
                        groups: np.ndarray) -> pd.DataFrame:
        """Cross-fitted AIPW scores Gamma_a of every row under every arm (rows x arms, churn probabilities)."""
        arms = [CONTROL, *self.offers_]
        arm, y = np.asarray(arm, object), np.asarray(churned, float)
        kinds = self.kinds
        scores = np.empty((len(frame), len(arms)))
        for fit_rows, score_rows in GroupKFold(n_splits=self.folds).split(frame, groups=groups):
            encoder = tree_encoder(kinds).fit(prepare(frame.iloc[fit_rows], kinds))
            features = encoder.transform(prepare(frame, kinds))

            def design(rows, arms_of_rows, features=features):
                return np.column_stack([features[rows], *[(arms_of_rows == a).astype(float) for a in arms[1:]]])

            outcome = XGBClassifier(random_state=self.seed, n_jobs=self.n_jobs, **self.xgboost)
            outcome.fit(design(fit_rows, arm[fit_rows]), y[fit_rows])
            for j, a in enumerate(arms):
                mu = outcome.predict_proba(design(score_rows, np.full(len(score_rows), a, dtype=object)))[:, 1]
                hit = arm[score_rows] == a
                scores[score_rows, j] = mu + hit * (y[score_rows] - mu) / propensity[score_rows]
        return pd.DataFrame(scores, index=frame.index, columns=arms)

    def fit(self, frame: pd.DataFrame, arm: pd.Series, churned: pd.Series, *, propensity: pd.Series | None = None,
            groups: pd.Series | None = None) -> "OfferEffects":
        """Learn tau_a(x) from campaign rows. `propensity`: each row's probability of its arm (None: the arm's share
        of the rows); `groups`: each row's customer, kept in one cross-fitting fold (None: every row its own)."""
        arm = pd.Series(np.asarray(arm, object), index=frame.index)
        self.offers_ = sorted(set(arm) - {CONTROL})
        if CONTROL not in set(arm) or not self.offers_:
            raise ValueError("learning offer effects needs control rows and rows of at least one offer")
        if propensity is None:
            propensity = arm.map(arm.value_counts(normalize=True))
        groups = np.arange(len(frame)) if groups is None else np.asarray(groups)
        unknown = sorted(set(self.final_features) - set(self.offers_))
        if unknown:
            log.warning("retention.offers.final_features names offer(s) %s that the campaign does not log; "
                        "ignored (offers it logs: %s)", unknown, self.offers_)
        scores = self.pseudo_outcomes(frame, arm, churned, np.asarray(propensity, float), groups)
        self.centre_, self.scale_, self.final_ = {}, {}, {}
        for offer in self.offers_:
            raw = self._raw(frame, offer)
            self.centre_[offer], self.scale_[offer] = raw.mean(axis=0), raw.std(axis=0) + 1e-12
            self.final_[offer] = Ridge(alpha=self.alpha, fit_intercept=False).fit(
                self._final(frame, offer), scores[offer] - scores[CONTROL])
        return self

    def effects(self, frame: pd.DataFrame) -> pd.DataFrame:
        """tau_a(x): change in the H-month churn probability from each offer against no contact (rows x offers)."""
        return pd.DataFrame({offer: self.final_[offer].predict(self._final(frame, offer)) for offer in self.offers_},
                            index=frame.index)


def net_values(effects: pd.DataFrame, value: pd.Series, costs: pd.Series) -> pd.DataFrame:
    """Expected net value of each offer (EUR per customer): -effect x value - cost (no contact: 0)."""
    missing = sorted(set(effects.columns) - set(costs.index))
    if missing:
        raise ValueError(f"no cost for offer(s) {missing}: the campaigns table logs none")
    return -effects.mul(value.to_numpy(float), axis=0) - costs[effects.columns].to_numpy(float)
