"""The `features`, `train`, `evaluate` and `register` sections: snapshots and the churn model."""

from typing import Annotated, Literal

from annotated_types import Ge, Gt, Le
from pydantic import ValidationInfo, field_validator

from churnlab.core.params_schema.fields import (
    Count,
    Name,
    Names,
    NonNegative,
    NonNegativeInt,
    Option,
    Positive,
    Section,
    Share,
    compared_to,
    earlier,
    number,
    rule,
)


class Churn(Section):
    definition: Literal["closure", "dormancy", "value", "partial"]
    dormancy_months: Count
    value_drop_pct: Annotated[float, Gt(0), Le(100)]
    value_window_months: Count
    partial_drop: Count


class Catalogue(Section):
    bins: Annotated[int, Ge(2)]
    amber_lift: Annotated[float, Ge(1)]
    red_lift: Annotated[float, Ge(1), compared_to("amber_lift", "features.catalogue.amber_lift", ">=")]



class Features(Section):
    first_cutoff_month: Count
    cutoff_every_months: Count
    churn: Churn
    catalogue: Catalogue


class TimeSplit(Section):
    validation_cutoffs: Count
    max_train_cutoffs: Count | None


class RandomSplit(Section):
    test_share: Share
    validation_share: Share
    folds: Annotated[int, Ge(2)]

    @field_validator("validation_share")
    @classmethod
    def _rows_left_to_train(cls, value: float, info: ValidationInfo) -> float:
        test = earlier(info, "test_share")
        if test is not None and test + value >= 1:
            raise rule(f"plus train.random_split.test_share ({number(test)}) must be < 1, to leave rows to train on")
        return value


class BaselineModels(Section):
    """Baselines to fit (a missing one is not fitted), each with its constructor options (empty: the defaults)."""

    logistic: dict[str, Option] | None = None
    tree: dict[str, Option] | None = None
    forest: dict[str, Option] | None = None
    xgboost_default: dict[str, Option] | None = None


class Baselines(Section):
    max_rows: Count
    models: BaselineModels


class Pruner(Section):
    startup_trials: NonNegativeInt
    warmup_rounds: NonNegativeInt


class Range(Section):
    """A search range: whole numbers when both bounds are whole, on a log scale when `log`."""

    low: float
    high: Annotated[float, compared_to("low", "low", ">")]
    log: bool = False


    @field_validator("log")
    @classmethod
    def _positive_on_log_scale(cls, value: bool, info: ValidationInfo) -> bool:
        low = earlier(info, "low")
        if value and low is not None and low <= 0:
            raise rule(f"needs low > 0 (low is {number(low)}): a log scale starts above 0")
        return value


class Space(Section):
    """XGBoost settings Optuna may tune; a missing one keeps XGBoost's default."""

    learning_rate: Range | None = None
    max_depth: Range | None = None
    min_child_weight: Range | None = None
    subsample: Range | None = None
    colsample_bytree: Range | None = None
    colsample_bylevel: Range | None = None
    colsample_bynode: Range | None = None
    reg_lambda: Range | None = None
    reg_alpha: Range | None = None
    gamma: Range | None = None
    max_delta_step: Range | None = None
    scale_pos_weight: Range | None = None


class Tune(Section):
    objective: Literal["log_loss", "pr_auc", "profit"]
    n_trials: Count
    timeout_s: Positive | None
    max_rows: Count
    max_rounds: Count
    early_stopping_rounds: Count
    pruner: Pruner
    space: Space


class Train(Section):
    split: TimeSplit
    random_split: RandomSplit
    exclude: Names
    n_jobs: Count
    max_train_rows: Count | None
    calibration: Literal["isotonic", "platt"]
    baselines: Baselines
    tune: Tune


class ECE(Section):
    bins: Annotated[int, Ge(2)]
    strategy: Literal["quantile", "uniform"]


class Profit(Section):
    clv: Positive
    incentive_cost: NonNegative
    contact_cost: NonNegative
    acceptance_alpha: Positive
    acceptance_beta: Positive


class Evaluate(Section):
    top_share: Share
    ece: ECE
    profit: Profit
    shap_rows: Count
    curve_points: Annotated[int, Ge(2)]


class Register(Section):
    model_name: Name
    metric: Literal["roc_auc", "pr_auc", "empc", "log_loss", "brier"]
    min_gain: NonNegative
