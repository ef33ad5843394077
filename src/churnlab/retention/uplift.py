"""Uplift models of the retention offer (T- and X-learner on XGBoost) and their evaluation (Qini, AUUC, uplift@k).

Sign convention: the uplift of a customer is the offer's *reduction* of their churn probability within the
horizon, tau(x) = P(churn | x, control) - P(churn | x, offer). Positive uplift means the offer keeps the
customer; negative means it drives them away (the simulator's "annoyed" customers). The simulator's
`true_effect` is P(treated) - P(control), i.e. minus the uplift.

Learners (Kuenzel et al. 2019, "Metalearners for estimating heterogeneous treatment effects", PNAS):

- T-learner: one churn classifier on the treated, one on the controls; tau = mu0(x) - mu1(x).
- X-learner: the T-learner's mu0 and mu1 impute each customer's effect from the other arm
  (treated: D = mu0(x) - Y, controls: D = Y - mu1(x)); a regressor on each arm learns D, and the two are
  blended with the propensity g: tau = g tau0(x) + (1 - g) tau1(x). The campaign is randomised, so g is
  the constant treated share.

Evaluation on held-out customers, with the outcome "retained" (1 - churned), customers sorted by
predicted uplift, best first; among the top k, N_T(k), N_C(k) are the treated and control customers and
R_T(k), R_C(k) those of them retained:

- Qini curve (Radcliffe 2007): Q(k) = R_T(k) - R_C(k) N_T(k) / N_C(k), the extra customers retained
  among the treated of the top k (0 while N_C(k) = 0).
- Qini coefficient: the area between Q and the random-targeting line k Q(n) / n, with both axes scaled to
  shares of the n customers: sum_k [Q(k) - k Q(n) / n] / n^2. Zero for random ranking.
- Uplift curve: G(k) = (R_T(k) / N_T(k) - R_C(k) / N_C(k)) k, the extra customers retained if the whole
  top k were treated (0 while an arm is empty); AUUC = sum_k G(k) / n^2, the area under G / n against k / n.
- Uplift at the top share s: R_T / N_T - R_C / N_C among the top round(s n) customers.

Ties in the score are broken by row order (a stable sort).
"""

import numpy as np
import pandas as pd
from xgboost import XGBClassifier, XGBRegressor

from churnlab.model.churn import prepare, tree_encoder


class TLearner:
    """Two churn classifiers, one per arm; `predict` returns the uplift mu0(x) - mu1(x)."""

    def __init__(self, kinds: dict[str, list[str]], *, seed: int, n_jobs: int = 1, **xgboost):
        self.kinds, self.seed, self.n_jobs, self.xgboost = kinds, seed, n_jobs, xgboost

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder_.transform(prepare(frame, self.kinds))

    def _classifier(self, offset: int) -> XGBClassifier:
        return XGBClassifier(random_state=self.seed + offset, n_jobs=self.n_jobs, **self.xgboost)

    def fit(self, frame: pd.DataFrame, treated, churned) -> "TLearner":
        treated, churned = np.asarray(treated, bool), np.asarray(churned, int)
        if treated.all() or not treated.any():
            raise ValueError("an uplift model needs both treated and control rows")
        self.encoder_ = tree_encoder(self.kinds).fit(prepare(frame, self.kinds))
        X = self._encode(frame)
        self.control_ = self._classifier(0).fit(X[~treated], churned[~treated])
        self.treated_ = self._classifier(1).fit(X[treated], churned[treated])
        return self

    def outcomes(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P(churn | control), P(churn | offer)) for encoded rows."""
        return self.control_.predict_proba(X)[:, 1], self.treated_.predict_proba(X)[:, 1]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        mu0, mu1 = self.outcomes(self._encode(frame))
        return mu0 - mu1


class XLearner(TLearner):
    """The X-learner: T-learner outcome models, imputed effects per arm, propensity-weighted blend."""

    def fit(self, frame: pd.DataFrame, treated, churned) -> "XLearner":
        super().fit(frame, treated, churned)
        treated, churned = np.asarray(treated, bool), np.asarray(churned, int)
        X = self._encode(frame)
        mu0, mu1 = self.outcomes(X)
        imputed_treated = mu0[treated] - churned[treated]  # churn they would have had minus churn they had
        imputed_control = churned[~treated] - mu1[~treated]
        regressor = {k: v for k, v in self.xgboost.items() if k != "eval_metric"}
        self.tau_treated_ = XGBRegressor(random_state=self.seed + 2, n_jobs=self.n_jobs, **regressor).fit(
            X[treated], imputed_treated)
        self.tau_control_ = XGBRegressor(random_state=self.seed + 3, n_jobs=self.n_jobs, **regressor).fit(
            X[~treated], imputed_control)
        self.propensity_ = float(treated.mean())
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        X = self._encode(frame)
        g = self.propensity_
        return g * self.tau_control_.predict(X) + (1 - g) * self.tau_treated_.predict(X)


LEARNERS = {"t_learner": TLearner, "x_learner": XLearner}


def fit_learners(frame: pd.DataFrame, treated, churned, kinds: dict[str, list[str]], *, names: list[str],
                 seed: int, n_jobs: int, xgboost: dict) -> dict[str, TLearner]:
    """Fit each learner named in `names` (t_learner, x_learner) with the same XGBoost settings."""
    unknown = sorted(set(names) - set(LEARNERS))
    if unknown:
        raise ValueError(f"unknown uplift learner(s) {unknown}; choose from {sorted(LEARNERS)}")
    return {name: LEARNERS[name](kinds, seed=seed, n_jobs=n_jobs, **xgboost).fit(frame, treated, churned)
            for name in names}


def _cumulative(score, treated, churned):
    score, treated = np.asarray(score, float), np.asarray(treated, bool)
    retained = 1 - np.asarray(churned, int)
    if not (len(score) == len(treated) == len(retained)):
        raise ValueError("score, treated and churned must have the same length")
    order = np.argsort(-score, kind="stable")
    t, y = treated[order], retained[order]
    return np.cumsum(t), np.cumsum(~t), np.cumsum(y * t), np.cumsum(y * ~t)


def _ratio(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def uplift_curves(score, treated, churned) -> pd.DataFrame:
    """Qini curve Q(k) and uplift curve G(k) for k = 1..n (see the module docstring), with the share k / n."""
    n_t, n_c, r_t, r_c = _cumulative(score, treated, churned)
    k = np.arange(1, len(n_t) + 1)
    qini = r_t - _ratio(r_c * n_t, n_c)
    both = (n_t > 0) & (n_c > 0)
    gain = np.where(both, (_ratio(r_t, n_t) - _ratio(r_c, n_c)) * k, 0.0)
    return pd.DataFrame({"k": k, "share": k / len(k), "qini": qini, "gain": gain})


def qini_coefficient(curves: pd.DataFrame) -> float:
    """Area between the Qini curve and the random line, both axes as shares: sum [Q(k) - k Q(n)/n] / n^2."""
    n = len(curves)
    q = curves["qini"].to_numpy()
    return float(np.sum(q - curves["k"].to_numpy() * q[-1] / n) / n**2)


def auuc(curves: pd.DataFrame) -> float:
    """Area under the uplift curve G(k) / n against k / n: sum_k G(k) / n^2."""
    n = len(curves)
    return float(curves["gain"].sum() / n**2)


def uplift_at(score, treated, churned, *, share: float) -> float:
    """Retention rate of the treated minus that of the controls among the top round(share n) by score."""
    n_t, n_c, r_t, r_c = _cumulative(score, treated, churned)
    k = min(max(int(round(share * len(n_t))), 1), len(n_t)) - 1
    if n_t[k] == 0 or n_c[k] == 0:
        return float("nan")
    return float(r_t[k] / n_t[k] - r_c[k] / n_c[k])


def evaluate_uplift(scores: dict[str, np.ndarray], treated, churned, *, top_shares: list[float],
                    curve_points: int = 101, n_boot: int = 0, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Qini coefficient, AUUC and uplift@share of each score; the curves thinned to `curve_points` shares.

    With `n_boot` > 0, a 95 % percentile bootstrap interval of each Qini coefficient (rows resampled with
    replacement): on a few thousand customers it shows how much of a Qini difference is noise.
    """
    treated, churned = np.asarray(treated, bool), np.asarray(churned, int)
    metrics, curves = {}, []
    for name, score in scores.items():
        curve = uplift_curves(score, treated, churned)
        metrics[name] = {"qini": qini_coefficient(curve), "auuc": auuc(curve),
                         **{f"uplift_at_{round(s * 100)}": uplift_at(score, treated, churned, share=s)
                            for s in top_shares}}
        keep = np.unique(np.linspace(0, len(curve) - 1, curve_points).round().astype(int))
        curves.append(curve.iloc[keep].assign(model=name))
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in scores}
    for _ in range(n_boot):
        rows = rng.integers(0, len(treated), len(treated))
        for name, score in scores.items():
            draws[name].append(qini_coefficient(uplift_curves(np.asarray(score)[rows], treated[rows], churned[rows])))
    for name, values in draws.items():
        if values:
            metrics[name]["qini_lo"], metrics[name]["qini_hi"] = (float(x) for x in np.percentile(values, [2.5, 97.5]))
    return metrics, pd.concat(curves, ignore_index=True)
