"""The `survival` section."""

from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import AfterValidator

from churnlab.core.params_schema.fields import (
    Count,
    Name,
    Names,
    NonNegative,
    NonNegativeInt,
    PartShare,
    Positive,
    Section,
    Share,
    UniqueNames,
    among,
    no_repeats,
)


class Event(Section):
    involuntary_as_censored: bool


class KaplanMeier(Section):
    times: Annotated[list[Count], MinLen(1)]
    grid_months: Count
    min_group_size: Count
    groups: dict[str, Name]
    since_entry: Annotated[Names, among("groups", "survival.km.groups")]



class Covariates(Section):
    numeric: Names
    log2: Names
    flags: Names
    categorical: Names


class Penalizer(Section):
    penalizer: NonNegative


class AFT(Section):
    penalizer: NonNegative
    sample_size: Count


class PHTest(Section):
    sample_size: Count
    alpha: Share
    max_strata: NonNegativeInt
    strata_bins: Annotated[int, Ge(2)]
    stratify: Names


class XGBoostAFT(Section):
    sample_size: Count
    validation_share: Share
    num_boost_round: Count
    early_stopping_rounds: Count
    bags: Count
    distribution: Literal["normal", "logistic", "extreme"]
    scale: Positive
    learning_rate: PartShare
    max_depth: Count
    min_child_weight: NonNegative
    subsample: PartShare
    colsample_bytree: PartShare
    nthread: Count
    reg_lambda: NonNegative | None = None  # optional booster settings
    reg_alpha: NonNegative | None = None
    gamma: NonNegative | None = None


class SurvivalEvaluation(Section):
    risk_months: Count
    auc_months: Annotated[list[Count], MinLen(1)]
    ibs_months: Count
    tau_months: Count
    oracle_column: Literal["p_voluntary_12m_at_entry", "p_voluntary_24m_at_entry", "p_voluntary_36m_at_entry",
                           "p_churn_12m_at_entry", "p_churn_24m_at_entry", "p_churn_36m_at_entry"]
    select_by: Literal["c_index_uno", "c_index_harrell", "ibs", "ici"]
    max_customers: Count


class Margins(Section):
    deposit_margin: NonNegative
    investment_fee_rate: NonNegative
    loan_margin: NonNegative


class CLV(Section):
    horizon_months: Count
    annual_discount_rate: Annotated[float, Ge(0), Lt(1)]
    truth_column: Literal["survival_voluntary", "survival_any"]
    tiers: UniqueNames
    average_market: Names
    margins: Margins


class Survival(Section):
    event: Event
    max_duration_corr: Annotated[float, Gt(0), Le(1)]
    test_share: Share
    km: KaplanMeier
    covariates: Covariates
    models: Annotated[list[Literal["cox", "weibull", "lognormal", "loglogistic", "xgboost"]], MinLen(1),
                      AfterValidator(no_repeats)]
    cox: Penalizer
    ph_test: PHTest
    aft: AFT
    xgboost: XGBoostAFT
    evaluation: SurvivalEvaluation
    clv: CLV
