"""The `retention`, `segment`, `score`, `monitor` and `report` sections: what the bank does with scores."""

from typing import Annotated, Literal

from annotated_types import Ge, Gt, Lt, MinLen
from pydantic import AfterValidator, AllowInfNan, ValidationInfo, field_validator

from churnlab.core.params_schema.fields import (
    Count,
    Name,
    Names,
    NonNegative,
    NonNegativeInt,
    PartShare,
    Positive,
    Probability,
    Section,
    Share,
    UniqueNames,
    among,
    compared_to,
    earlier,
    increasing,
    no_repeats,
    rule,
)


class XGBoostOptions(Section):
    """XGBoost settings of the uplift learners; a missing one keeps XGBoost's default."""

    n_estimators: Count | None = None
    learning_rate: PartShare | None = None
    max_depth: Count | None = None
    min_child_weight: NonNegative | None = None
    subsample: PartShare | None = None
    colsample_bytree: PartShare | None = None
    reg_lambda: NonNegative | None = None
    reg_alpha: NonNegative | None = None
    gamma: NonNegative | None = None


Learner = Literal["t_learner", "x_learner"]


class Uplift(Section):
    test_share: Share
    learners: Annotated[list[Learner], MinLen(1), AfterValidator(no_repeats)]
    policy_learner: Annotated[Learner, among("learners", "retention.uplift.learners")]
    top_shares: Annotated[list[PartShare], MinLen(1)]
    n_boot: Count
    n_jobs: Count
    xgboost: XGBoostOptions



class Policies(Section):
    budget_share: PartShare
    n_boot: Count


class Offers(Section):
    test_share: Share
    budget_share: PartShare
    final_features: dict[Name, Annotated[list[Name], AfterValidator(no_repeats)]]  # offer -> its features
    scale_by_risk: bool
    alpha: Positive
    folds: Annotated[int, Ge(2)]
    draws: Count
    n_jobs: Count
    xgboost: XGBoostOptions


class Design(Section):
    uplifts: Annotated[list[PartShare], MinLen(1)]
    explore_share: PartShare
    control_share: Share


class Churners(Section):
    months_before: Count
    max_customers: Count
    indicators: Annotated[list[Name], MinLen(1)]


class Archetypes(Section):
    n_archetypes: Count
    top_features: Count
    themes: dict[str, Names]
    fixable: Annotated[Names, among("themes", "retention.archetypes.themes")]



class Winback(Section):
    recent_months: Count


class Retention(Section):
    budget_eur: NonNegative
    offer_cost: Positive | None
    save_rate: Probability | None
    rmst_months: Count
    uplift: Uplift
    policies: Policies
    offers: Offers
    design: Design
    churners: Churners
    archetypes: Archetypes
    winback: Winback


# --- segment, score, monitor, report --------------------------------------------------------------------------

class IncomeBands(Section):
    edges: Annotated[list[Annotated[float, AllowInfNan()]], MinLen(2), AfterValidator(increasing)]  # .inf: open
    labels: UniqueNames

    @field_validator("labels")
    @classmethod
    def _one_per_band(cls, value: list[str], info: ValidationInfo) -> list[str]:
        edges = earlier(info, "edges")
        if edges is not None and len(value) != len(edges) - 1:
            raise rule(f"must hold {len(edges) - 1} labels, one per band between the {len(edges)} edges")
        return value


class Clusters(Section):
    log1p: Names
    plain: Names
    k_min: Annotated[int, Ge(2)]
    k_max: Annotated[int, Ge(2), compared_to("k_min", "segment.clusters.k_min", ">=")]
    fit_rows: Count
    silhouette_rows: Annotated[int, Ge(2)]
    silhouette_tolerance: NonNegative
    name_threshold_sd: Positive



class Lifecycle(Section):
    acquisition_months: NonNegativeInt
    growth_months: Annotated[Count, compared_to("acquisition_months", "segment.lifecycle.acquisition_months", ">")]
    decline_balance_ratio: Share
    decline_product_drop: Count
    growth_balance_ratio: Annotated[float, Gt(1)]



class Segment(Section):
    income_bands: IncomeBands
    value_tiers: UniqueNames
    clusters: Clusters
    lifecycle: Lifecycle


class Points(Section):
    pdo: Positive
    base_points: float
    base_odds: Positive
    p_floor: Annotated[float, Gt(0), Lt(0.5)]


class Grades(Section):
    labels: UniqueNames
    shares: Annotated[list[PartShare], MinLen(1)]

    @field_validator("shares")
    @classmethod
    def _one_per_grade(cls, value: list[float], info: ValidationInfo) -> list[float]:
        labels = earlier(info, "labels")
        if labels is not None and len(value) != len(labels):
            raise rule(f"must hold one share per grade of score.grades.labels ({len(labels)})")
        return value


def _reason(value: str) -> str:
    if value.count(":") > 1 or not value.split(":")[0].strip():
        raise rule('must be "feature" or "feature:direction", e.g. "fees_3m:up"')
    return value


class Action(Section):
    cost: NonNegative
    channel: Name
    response: Probability
    reasons: list[Annotated[str, AfterValidator(_reason)]] = []
    response_unmatched: Probability = 0.0
    segments: Names = []


class Reasons(Section):
    top: Count


class Score(Section):
    points: Points
    grades: Grades
    reasons: Reasons
    clv_fallback_months: Count
    actions: Annotated[dict[str, Action], MinLen(1)]


class Monitor(Section):
    every_months: Count
    bins: Annotated[int, Ge(2)]
    alpha: Share
    null_draws: Count
    min_psi: NonNegative
    min_csi: NonNegative
    market_reference_months: Count
    min_drifting_features: Count
    shock_indicators: Names
    max_auc_drop: Annotated[float, Ge(0), Lt(1)]
    auc_draws: Count
    auc_band_rows: Count
    ece_bins: Annotated[int, Ge(2)]
    recalibration_months: Count


class Report(Section):
    notebooks: Names
    timeout_s: Count
    workers: Count = 1
    language: Literal["en", "zh", "both"] = "en"  # churnlab.core.words.SETTINGS
    currency: Literal["CNY", "EUR"] | None = None  # churnlab.core.words.CURRENCIES; None: by the language
