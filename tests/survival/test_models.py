"""Survival models: the delayed-entry PH test against lifelines, the design matrix, one survival interface."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test

from churnlab.survival.design import Design, split_customers
from churnlab.survival.models import (
    Strata,
    XGBoostAFT,
    choose_strata,
    fit_aft,
    fit_cox,
    fit_xgboost_aft,
    schoenfeld_test,
)


def synthetic(n: int = 1500, seed: int = 0, *, entry: bool = True, months: bool = True) -> pd.DataFrame:
    """Weibull tenure with a known log hazard ratio: +0.7 per complaint, -0.5 with payroll (in months if `months`)."""
    rng = np.random.default_rng(seed)
    complaints = rng.poisson(0.5, n).astype(float)
    payroll = rng.random(n) < 0.5
    start = np.where(entry & (rng.random(n) < 0.5), rng.uniform(0, 30, n), 0.0)
    scale = 40 * np.exp(-(0.7 * complaints - 0.5 * payroll) / 1.3)
    # Draw beyond the entry (left truncation) by inverting the conditional Weibull survival.
    u = rng.random(n)
    t = scale * ((start / scale) ** 1.3 - np.log(u)) ** (1 / 1.3)
    censor = start + rng.uniform(5, 60, n)
    stop = np.minimum(t, censor)
    if months:  # churn in month k means tenure in (k-1, k]: entry rounds down, exit up
        start, stop = np.floor(start), np.maximum(np.ceil(stop), np.floor(start) + 1)
    return pd.DataFrame({"complaints": complaints, "payroll": payroll.astype(float), "entry_tenure": start,
                         "duration": stop, "churned": (t <= censor).astype(int), "residual": stop - start})


def test_schoenfeld_test_equals_lifelines_without_entry():
    frame = synthetic(entry=False, months=False)  # distinct times: Breslow and Efron residuals coincide
    columns = ["complaints", "payroll"]
    cox = CoxPHFitter().fit(frame[[*columns, "duration", "churned"]], "duration", "churned")
    theirs = proportional_hazard_test(cox, frame[[*columns, "duration", "churned"]], time_transform="rank")
    ours = schoenfeld_test(frame, columns, cox.params_, cox.variance_matrix_).set_index("covariate")
    assert ours["test_statistic"].to_numpy() == pytest.approx(theirs.summary["test_statistic"].to_numpy(), rel=1e-6)


def test_cox_with_entry_recovers_the_hazard_ratios():
    model = fit_cox(synthetic(4000), ["complaints", "payroll"], penalizer=0.0)
    assert model.fitter_.params_["complaints"] == pytest.approx(0.7, abs=0.1)
    assert model.fitter_.params_["payroll"] == pytest.approx(-0.5, abs=0.1)


@pytest.mark.parametrize("kind", ["cox", "weibull", "xgboost"])
def test_every_model_gives_conditional_survival_curves(kind):
    frame = synthetic(1500)
    columns = ["complaints", "payroll"]
    if kind == "cox":
        model = fit_cox(frame, columns, penalizer=0.01)
    elif kind == "weibull":
        model = fit_aft("weibull", frame, columns, penalizer=0.001)
    else:
        model = fit_xgboost_aft(frame, columns, seed=1, sample_size=10_000, bags=2, validation_share=0.2,
                                num_boost_round=50, early_stopping_rounds=10, distribution="normal", scale=1.0,
                                max_depth=2)
    months = np.arange(1, 25)
    curves = model.survival(frame, np.floor(frame["entry_tenure"]).astype(int).to_numpy(), months)
    assert curves.shape == (len(frame), 24)
    assert ((curves >= 0) & (curves <= 1)).all() and (np.diff(curves, axis=1) <= 1e-12).all()
    # More complaints, lower survival (the behavioural check of a churn model).
    risky = frame.assign(complaints=3.0).head(50)
    calm = frame.assign(complaints=0.0).head(50)
    start = np.zeros(50, dtype=int)
    assert (model.survival(risky, start, months)[:, -1] <= model.survival(calm, start, months)[:, -1] + 1e-9).all()


def test_design_encodes_and_handles_unseen_and_missing_values():
    covariates = pd.DataFrame({"age": [30.0, np.nan, 50.0, 40.0], "deposit_balance": [0.0, 1.0, 3.0, 7.0],
                               "payroll": pd.array([True, False, None, True], dtype="boolean"),
                               "segment": ["mass", "mass", "affluent", None]})
    design = Design(numeric=["age"], log2=["deposit_balance"], flags=["payroll"], categorical=["segment"])
    matrix = design.fit(covariates).transform(covariates)
    assert matrix["deposit_balance"].tolist() == [0.0, 1.0, 2.0, 3.0]  # log2(1 + x): per doubling
    assert matrix["age"].tolist() == [30.0, 40.0, 50.0, 40.0] and matrix["age_missing"].tolist() == [0, 1, 0, 0]
    assert list(matrix.columns[-2:]) == ["segment[affluent]", "segment[missing]"]  # mass is the reference
    unseen = design.transform(covariates.assign(segment="private"))
    assert unseen[["segment[affluent]", "segment[missing]"]].eq(0).all().all()
    with pytest.raises(KeyError, match="deposit_balance"):
        design.transform(covariates.drop(columns="deposit_balance"))


def test_strata_choice_and_numeric_bins():
    ph = pd.DataFrame({"covariate": ["a", "segment[x]", "age"], "test_statistic": [30.0, 20.0, 10.0],
                       "p": [1e-6, 1e-4, 1e-3], "source": ["a", "segment", "age"], "violates": [True, True, True]})
    assert choose_strata(ph, max_strata=2, allowed=["segment", "age"]) == ["segment", "age"]
    covariates = pd.DataFrame({"age": np.arange(30.0), "segment": ["mass", "affluent", "private"] * 10})
    strata = Strata(["age", "segment"], numeric={"age"}, bins=3).fit(covariates)
    out = strata.transform(covariates)
    assert out["stratum_age"].value_counts().tolist() == [10, 10, 10]
    assert out["stratum_segment"].nunique() == 3


def test_split_is_seeded_and_disjoint():
    frame = pd.DataFrame({"customer_id": [f"C{i}" for i in range(1000)]})
    train, test = split_customers(frame, test_share=0.3, seed=7)
    again, _ = split_customers(frame, test_share=0.3, seed=7)
    assert train.equals(again) and not set(train["customer_id"]) & set(test["customer_id"])
    assert 250 < len(test) < 350
    with pytest.raises(ValueError, match="test_share"):
        split_customers(frame, test_share=1.5, seed=7)


def test_bagged_xgboost_aft_averages_its_boosters_locations():
    frame = synthetic(1500)
    model = fit_xgboost_aft(frame, ["complaints", "payroll"], seed=1, sample_size=10_000, bags=3,
                            validation_share=0.2, num_boost_round=50, early_stopping_rounds=10,
                            distribution="normal", scale=1.0, max_depth=2, subsample=0.7)
    start = np.zeros(len(frame), dtype=int)
    single = [XGBoostAFT([b], model.columns, distribution="normal", scale=1.0).location(frame, start)
              for b in model.boosters_]
    assert len(single) == 3 and not np.allclose(single[0], single[1])  # own seed, own slice: different fits
    np.testing.assert_allclose(model.location(frame, start), np.mean(single, axis=0), rtol=1e-6)


def test_design_drops_constant_and_all_missing_covariates(caplog):
    """The Berka ledger: complaints constant 0, income and education never recorded, one channel, no card."""
    covariates = pd.DataFrame({"age": [30.0, 45.0, 50.0, 40.0], "complaints_12m": 0.0, "income": np.nan,
                               "deposit_balance": [0.0, 1.0, 3.0, 7.0],
                               "has_card": pd.array([False, None, False, False], dtype="boolean"),
                               "payroll": [True, False, True, True], "acquisition_channel": "branch",
                               "education": None, "segment": ["mass", "mass", "affluent", "mass"]})
    design = Design(numeric=["age", "complaints_12m"], log2=["income", "deposit_balance"],
                    flags=["payroll", "has_card"], categorical=["segment", "acquisition_channel", "education"])
    matrix = design.fit(covariates).transform(covariates)
    dropped = ["complaints_12m", "income", "has_card", "acquisition_channel", "education"]
    assert design.dropped_ == dropped and design.used == ["age", "deposit_balance", "payroll", "segment"]
    assert matrix.columns.tolist() == ["age", "deposit_balance", "payroll", "segment[affluent]"]
    assert len(caplog.records) == 1 and str(dropped) in caplog.text
    # Applied elsewhere (CLV, another source) without the dropped columns; the kept ones are still required.
    assert design.transform(covariates.drop(columns=dropped)).equals(matrix)
    with pytest.raises(KeyError, match="age"):
        design.transform(covariates.drop(columns="age"))


def test_cox_fits_on_a_design_with_a_constant_covariate():
    """Unpenalised, a constant column makes the Cox information matrix singular; the design leaves it out."""
    frame = synthetic(800).assign(complaints_12m=0.0)
    with pytest.raises(np.linalg.LinAlgError):
        fit_cox(frame, ["complaints", "payroll", "complaints_12m"], penalizer=0.0)
    design = Design(numeric=["complaints", "complaints_12m"], log2=[], flags=["payroll"], categorical=[])
    columns = list(design.fit(frame).transform(frame).columns)
    model = fit_cox(frame, columns, penalizer=0.0)
    assert columns == ["complaints", "payroll"] and model.fitter_.params_["complaints"] == pytest.approx(0.7, abs=0.15)


def test_an_aft_above_its_sample_size_is_the_aft_of_its_seeded_sample():
    frame, columns = synthetic(1500), ["complaints", "payroll"]
    sampled = fit_aft("weibull", frame, columns, penalizer=0.001, sample_size=600, seed=3)
    by_hand = fit_aft("weibull", frame.sample(n=600, random_state=3), columns, penalizer=0.001)
    whole = fit_aft("weibull", frame, columns, penalizer=0.001, sample_size=1500, seed=3)
    assert sampled.fitter_.params_.to_numpy() == pytest.approx(by_hand.fitter_.params_.to_numpy(), rel=1e-12)
    assert whole.fitter_.params_.to_numpy() == pytest.approx(
        fit_aft("weibull", frame, columns, penalizer=0.001).fitter_.params_.to_numpy(), rel=1e-12)
    assert not np.allclose(sampled.fitter_.params_.to_numpy(), whole.fitter_.params_.to_numpy())
