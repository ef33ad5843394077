"""Survival models with one interface: Cox PH (penalised, optionally stratified), parametric AFTs, XGBoost AFT.

Every model answers the same question: S(start + u | x) / S(start | x), the probability that a customer
with covariates x, still a customer at tenure `start`, is still one u months later. lifelines models are
fitted on the tenure scale with left truncation (`entry_col`), so conditioning on `start` is exact.
XGBoost's AFT objective has no left truncation, so it is fitted on the time since entry (the residual)
with the tenure at entry as a covariate; its survival is then already conditional on `start`.
"""

import logging
import warnings

import numpy as np
import pandas as pd
import xgboost as xgb
from lifelines import LogLogisticAFTFitter, LogNormalAFTFitter, WeibullAFTFitter
from scipy import stats

from churnlab.survival.cox import DelayedEntryCox

log = logging.getLogger(__name__)

AFT_FITTERS = {"weibull": WeibullAFTFitter, "lognormal": LogNormalAFTFitter, "loglogistic": LogLogisticAFTFitter}
TIME, EVENT, ENTRY = "duration", "churned", "entry_tenure"


class LifelinesModel:
    """A fitted lifelines regression model on the tenure scale with delayed entry."""

    def __init__(self, fitter, columns: list[str]):
        self.fitter_, self.columns = fitter, columns

    def survival(self, frame: pd.DataFrame, start: np.ndarray, months: np.ndarray, *, chunk: int = 20_000):
        """Array (customers x months): S(start + u | x) / S(start | x) for u in `months`."""
        start = np.asarray(start, dtype=int)
        grid = np.arange(0, start.max() + months.max() + 1, dtype=float)
        out = np.empty((len(frame), len(months)))
        for lo in range(0, len(frame), chunk):
            part = frame.iloc[lo:lo + chunk][self.columns]
            curves = self.fitter_.predict_survival_function(part, times=grid).to_numpy().T  # customers x grid
            curves[:, 0] = 1.0  # S(0) = 1; lifelines' Cox clamps times before the first event to its value
            rows = np.arange(len(part))[:, None]
            first = start[lo:lo + chunk]
            at_start = np.clip(curves[rows[:, 0], first], 1e-12, None)[:, None]
            out[lo:lo + chunk] = curves[rows, first[:, None] + months[None, :]] / at_start
        return np.clip(out, 0.0, 1.0)


class CoxModel:
    """A fitted `DelayedEntryCox` on the tenure scale; strata columns (if any) come with the frame."""

    def __init__(self, fitter: DelayedEntryCox, columns: list[str], strata: list[str]):
        self.fitter_, self.columns, self.strata = fitter, columns, strata

    def _strata(self, frame: pd.DataFrame) -> pd.Series | None:
        return frame[self.strata].astype(str).agg("|".join, axis=1) if self.strata else None

    def survival(self, frame: pd.DataFrame, start: np.ndarray, months: np.ndarray) -> np.ndarray:
        """Array (customers x months): S(start + u | x) / S(start | x) = exp(-(H(start + u) - H(start)))."""
        start = np.asarray(start, dtype=int)
        grid = np.arange(0, start.max() + months.max() + 1)
        cumulative = self.fitter_.cumulative_hazard(frame, grid, self._strata(frame))
        rows = np.arange(len(frame))[:, None]
        return np.exp(-(cumulative[rows, start[:, None] + months[None, :]] - cumulative[rows, start[:, None]]))


def xgb_names(columns: list[str]) -> list[str]:
    """XGBoost refuses [, ] and < in feature names: `segment[private]` -> `segment=private`."""
    return [c.replace("[", "=").replace("]", "").replace("<", "lt") for c in columns]


class XGBoostAFT:
    """XGBoost `survival:aft` on the time since entry: log T = mu(x, entry tenure) + sigma * Z.

    mu is the mean of the bagged boosters' margins (each fitted on its own seed and early-stopping slice):
    the average of several noisy tree ensembles ranks customers more steadily than any one of them.
    """

    def __init__(self, boosters: list[xgb.Booster], columns: list[str], *, distribution: str, scale: float):
        self.boosters_, self.columns, self.distribution, self.scale = boosters, columns, distribution, scale

    def _matrix(self, frame: pd.DataFrame, start: np.ndarray) -> xgb.DMatrix:
        data = frame[self.columns[:-1]].assign(**{self.columns[-1]: np.asarray(start, dtype=float)})
        return xgb.DMatrix(data.to_numpy(dtype=np.float32), feature_names=xgb_names(self.columns))

    def location(self, frame: pd.DataFrame, start: np.ndarray) -> np.ndarray:
        """mu per customer: the mean log residual time (months) over the bagged boosters."""
        matrix = self._matrix(frame, start)
        return np.mean([b.predict(matrix, output_margin=True) for b in self.boosters_], axis=0).astype(float)

    def survival(self, frame: pd.DataFrame, start: np.ndarray, months: np.ndarray):
        """Array (customers x months): P(residual time > u | x, entry tenure = start)."""
        mu = self.location(frame, start)
        z = (np.log(np.asarray(months, dtype=float))[None, :] - mu[:, None]) / self.scale
        if self.distribution == "normal":
            return stats.norm.sf(z)
        if self.distribution == "logistic":
            return stats.logistic.sf(z)
        return np.exp(-np.exp(np.clip(z, None, 50)))  # "extreme": Gumbel (minimum) in log time = Weibull


class Strata:
    """Stratification variables for Cox: categorical ones as they are, numeric ones cut at training quantiles."""

    def __init__(self, sources: list[str], *, numeric: set[str], bins: int):
        self.sources, self.numeric, self.bins = sources, numeric, bins
        self.edges_: dict[str, np.ndarray] = {}

    @property
    def columns(self) -> list[str]:
        return [f"stratum_{s}" for s in self.sources]

    def fit(self, covariates: pd.DataFrame) -> "Strata":
        for s in self.sources:
            if s in self.numeric:
                edges = np.unique(np.nanquantile(covariates[s].astype(float), np.linspace(0, 1, self.bins + 1)))
                self.edges_[s] = edges[1:-1]
        return self

    def transform(self, covariates: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for s, column in zip(self.sources, self.columns, strict=True):
            if s in self.numeric:
                out[column] = np.searchsorted(self.edges_[s], covariates[s].astype(float).fillna(0.0)).astype(str)
            else:
                out[column] = covariates[s].astype("string").fillna("missing").to_numpy()
        return pd.DataFrame(out, index=covariates.index)


def fit_cox(frame: pd.DataFrame, columns: list[str], *, penalizer: float,
            strata: list[str] | None = None, sql=None) -> CoxModel:
    """Penalised Cox PH (Efron ties) on the tenure scale with delayed entry, optionally stratified.

    With a Spark engine (`sql`, a `SparkSql`) every Newton step sums the customers on Spark (`cox_spark`): the
    same fit, to 1e-8 in the coefficients and standard errors. Only the covariate `columns`, the months, the event
    and the stratum go to Spark, cached for the fit. Otherwise (None, DuckDB) the fit runs in memory.
    """
    model = CoxModel(DelayedEntryCox(penalizer=penalizer), columns, strata or [])
    if getattr(sql, "name", "local") != "spark":
        model.fitter_.fit(frame[columns], frame[TIME], frame[EVENT], frame[ENTRY], model._strata(frame))
        return model
    from churnlab.survival.cox_spark import STRATUM, SparkSums, cached_customers

    with cached_customers(sql.spark, frame[columns], stop=frame[TIME], event=frame[EVENT], entry=frame[ENTRY],
                          strata=model._strata(frame)) as customers:
        model.fitter_.fit_sums(SparkSums(customers, columns, stratum=STRATUM if strata else None))
    return model


def schoenfeld_test(frame: pd.DataFrame, columns: list[str], params: pd.Series, variance: pd.DataFrame
                    ) -> pd.DataFrame:
    """Grambsch-Therneau test of proportional hazards per covariate, with delayed entry.

    The Schoenfeld residual of churner i is x_i - xbar(t_i), xbar the exp(x'b)-weighted mean over the
    risk set {entry < t_i <= duration} (Breslow ties); scaled residuals are d r V (d churners, V the
    covariance of b). Against g = the rank of the event time, T_k = (sum (g - gbar) r*_k)^2 /
    (d V_kk sum (g - gbar)^2) is chi-square(1): lifelines' `proportional_hazard_test(time_transform="rank")`,
    whose residuals refuse delayed entry. tests/test_survival_models.py checks equality without entry.
    """
    x = frame[columns].to_numpy(float)
    time, entry = frame[TIME].to_numpy(float), frame[ENTRY].to_numpy(float)
    beta = params[columns].to_numpy()
    score = np.exp(x @ beta - (x @ beta).max())
    events = np.flatnonzero(frame[EVENT].to_numpy() == 1)
    events = events[np.argsort(time[events], kind="stable")]
    residuals = np.empty((len(events), len(columns)))
    for lo in range(0, len(events), 256):  # chunks of risk sets bound the memory: 256 x customers
        t = time[events[lo:lo + 256]][:, None]
        weight = ((entry[None, :] < t) & (time[None, :] >= t)) * score[None, :]
        residuals[lo:lo + 256] = x[events[lo:lo + 256]] - (weight @ x) / weight.sum(axis=1, keepdims=True)
    variance = variance.loc[columns, columns].to_numpy()
    scaled = len(events) * residuals @ variance
    g = np.arange(1, len(events) + 1, dtype=float)
    g -= g.mean()
    statistic = (g @ scaled) ** 2 / (len(events) * np.diag(variance) * (g @ g))
    return pd.DataFrame({"covariate": columns, "test_statistic": statistic, "p": stats.chi2.sf(statistic, 1)})


def ph_tests(frame: pd.DataFrame, columns: list[str], *, penalizer: float, sample_size: int, seed: int,
             alpha: float, source_of) -> pd.DataFrame:
    """Schoenfeld-residual tests of proportional hazards on a sample of the training customers.

    The sample bounds the cost and the power: with 35,000 customers every tiny, irrelevant drift in a
    hazard ratio is "significant". Returns one row per design column: statistic, p, source, violates. It runs
    in memory on every engine: the sample is small, and its residuals need each churner's own risk set.
    """
    sample = frame.sample(n=min(sample_size, len(frame)), random_state=seed)
    cox = DelayedEntryCox(penalizer=penalizer).fit(sample[columns], sample[TIME], sample[EVENT], sample[ENTRY])
    table = schoenfeld_test(sample, columns, cox.params_, cox.variance_matrix_)
    table["source"] = table["covariate"].map(source_of)
    table["violates"] = table["p"] < alpha
    return table.sort_values("test_statistic", ascending=False, ignore_index=True)


def choose_strata(ph: pd.DataFrame, *, max_strata: int, allowed: list[str]) -> list[str]:
    """The covariates (sources) to stratify on: the `max_strata` worst PH violators among `allowed`."""
    worst = ph[ph["violates"] & ph["source"].isin(allowed)].groupby("source")["test_statistic"].max()
    return list(worst.sort_values(ascending=False).index[:max_strata])


def ph_handling(ph: pd.DataFrame, strata: list[str]) -> pd.DataFrame:
    """Say, per tested covariate, how the final Cox model handles a violation."""
    handling = np.where(~ph["violates"], "none needed",
                        np.where(ph["source"].isin(strata), "stratified (own baseline hazard per level)",
                                 "kept: its hazard ratio is an average over tenure"))
    return ph.assign(handling=handling)


def hazard_ratios(model: CoxModel, describe) -> pd.DataFrame:
    """Hazard ratios with 95 % intervals; `describe(column)` gives the unit of comparison."""
    summary = model.fitter_.summary
    table = pd.DataFrame({
        "covariate": summary.index.astype(str), "hazard_ratio": summary["exp(coef)"].to_numpy(),
        "lower_95": summary["exp(coef) lower 95%"].to_numpy(), "upper_95": summary["exp(coef) upper 95%"].to_numpy(),
        "p": summary["p"].to_numpy()})
    table["per"] = table["covariate"].map(describe)
    return table.sort_values("hazard_ratio", ascending=False, ignore_index=True)


def fit_aft(kind: str, frame: pd.DataFrame, columns: list[str], *, penalizer: float, sample_size: int | None = None,
            seed: int = 0) -> LifelinesModel:
    """Weibull, LogNormal or LogLogistic AFT on the tenure scale with delayed entry, fitted on a seeded sample of
    `sample_size` customers when there are more (lifelines fits in memory: ~2 min per model at 250,000)."""
    if sample_size and len(frame) > sample_size:
        frame = frame.sample(n=sample_size, random_state=seed)
    fitter = AFT_FITTERS[kind](penalizer=penalizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fitter.fit(frame[[*columns, TIME, EVENT, ENTRY]], duration_col=TIME, event_col=EVENT, entry_col=ENTRY)
    return LifelinesModel(fitter, columns)


def fit_xgboost_aft(frame: pd.DataFrame, columns: list[str], *, seed: int, sample_size: int, bags: int,
                    validation_share: float, num_boost_round: int, early_stopping_rounds: int,
                    distribution: str, scale: float, **booster) -> XGBoostAFT:
    """XGBoost AFT on the residual time since entry, entry tenure as a covariate (no truncation needed).

    A churner's residual time is exact ([r, r]); a censored customer's is (r, inf). Each of the `bags`
    boosters uses seed + b: its own row subsamples and its own validation slice (`validation_share` of the
    customers) for early stopping, which picks its number of trees.
    """
    data = frame.sample(n=min(sample_size, len(frame)), random_state=seed)
    names = [*columns, "tenure_at_entry"]

    def matrix(part: pd.DataFrame) -> xgb.DMatrix:
        x = part[columns].assign(tenure_at_entry=part[ENTRY].astype(float)).to_numpy(dtype=np.float32)
        d = xgb.DMatrix(x, feature_names=xgb_names(names))
        residual = part["residual"].to_numpy(dtype=float)
        d.set_float_info("label_lower_bound", residual)
        d.set_float_info("label_upper_bound", np.where(part[EVENT].to_numpy() == 1, residual, np.inf))
        return d

    boosters = []
    for bag in range(bags):
        valid = np.random.default_rng([seed + bag, 41]).random(len(data)) < validation_share
        params = {"objective": "survival:aft", "eval_metric": "aft-nloglik", "aft_loss_distribution": distribution,
                  "aft_loss_distribution_scale": scale, "tree_method": "hist", "seed": seed + bag, **booster}
        model = xgb.train(params, matrix(data[~valid]), num_boost_round=num_boost_round,
                          evals=[(matrix(data[valid]), "valid")], early_stopping_rounds=early_stopping_rounds,
                          verbose_eval=False)
        log.info("xgboost aft bag %d/%d: best iteration %d", bag + 1, bags, model.best_iteration)
        boosters.append(model[: model.best_iteration + 1])
    return XGBoostAFT(boosters, names, distribution=distribution, scale=scale)
