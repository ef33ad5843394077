"""Shared pieces of the params.yaml schema: value types with their bounds, the strict base model, rule errors."""


import datetime as dt
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError


def rule(message: str) -> PydanticCustomError:
    """An error whose message is the end of the sentence ("must be ..."); `message` must hold no braces."""
    return PydanticCustomError("rule", message)


def _scalar(value: Any) -> Any:
    if isinstance(value, str | int | float) and value == value:  # bool is an int; NaN differs from itself
        return value
    raise rule("must be text, a number or true/false")


def _date(value: Any) -> Any:
    if isinstance(value, dt.date):  # YAML reads an unquoted 2021-01-31 as a date
        return value
    try:
        dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise rule("must be a date written YYYY-MM-DD") from None
    return value


def _month_end(value: Any) -> Any:
    day = _date(value)
    day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
    if (day + dt.timedelta(days=1)).day != 1:
        raise rule("must be the last day of a month, YYYY-MM-DD")
    return value


def _option(value: Any) -> Any:
    if value is None or (isinstance(value, str | int | float) and value == value):
        return value
    raise rule("must be text, a number, true/false or null")


def _optional_date(value: Any) -> Any:
    return None if value is None else _date(value)


def no_repeats(values: list) -> list:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise rule(f"must not repeat a value (repeated: {', '.join(repeated)})")
    return values


def increasing(values: list) -> list:
    if any(not a < b for a, b in zip(values, values[1:], strict=False)):  # NaN compares false
        raise rule("must increase strictly")
    return values


Count = Annotated[int, Ge(1)]                 # rows, trials, rounds, months, draws: at least one
NonNegativeInt = Annotated[int, Ge(0)]        # seeds, month indices (0 = the window's first month)
Share = Annotated[float, Gt(0), Lt(1)]        # a part of a whole: neither none nor all
PartShare = Annotated[float, Gt(0), Le(1)]    # a part of a whole, possibly all
Probability = Annotated[float, Ge(0), Le(1)]
Positive = Annotated[float, Gt(0)]
NonNegative = Annotated[float, Ge(0)]
Name = Annotated[str, MinLen(1)]              # a column, feature, label, file or pattern
Names = list[Name]
UniqueNames = Annotated[list[Name], MinLen(1), AfterValidator(no_repeats)]
Scalar = Annotated[Any, PlainValidator(_scalar)]
Date = Annotated[Any, PlainValidator(_date)]
OptionalDate = Annotated[Any, PlainValidator(_optional_date)]
MonthEnd = Annotated[Any, PlainValidator(_month_end)]
Option = Annotated[Any, PlainValidator(_option)]  # a library's constructor option, passed on as is


class Section(BaseModel):
    """Base of every model: unknown keys, loose types, NaN and infinity are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def number(value: float) -> str:
    """2.0 -> "2", 0.5 -> "0.5": a number as one writes it in params.yaml."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def earlier(info: ValidationInfo, key: str) -> Any:
    """An earlier key's validated value, or None when it is missing or invalid (then a rule cannot be checked)."""
    return info.data.get(key)


OPERATORS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def compared_to(key: str, label: str, op: str) -> AfterValidator:
    """A rule between two keys of a section: the value (or every value of a list) `op` the earlier key `key`.

    >>> class Clusters(Section):
    ...     k_min: int
    ...     k_max: Annotated[int, compared_to("k_min", "segment.clusters.k_min", ">=")]
    """
    def check(value, info: ValidationInfo):
        bound = earlier(info, key)
        values = value if isinstance(value, list) else [value]
        if bound is not None and not all(OPERATORS[op](v, bound) for v in values):
            every = "every value " if isinstance(value, list) else ""
            raise rule(f"{every}must be {op} {label} ({number(bound)})")
        return value

    return AfterValidator(check)


def among(key: str, label: str) -> AfterValidator:
    """A rule between two keys of a section: the value (a name or a list of names) is among the earlier key `key`
    (a list, or a mapping's keys)."""
    def check(value, info: ValidationInfo):
        known = earlier(info, key)
        unknown = [v for v in (value if isinstance(value, list) else [value]) if known is not None and v not in known]
        if unknown:
            raise rule(f"must be among {label} ({', '.join(known)}); unknown: {', '.join(map(str, unknown))}")
        return value

    return AfterValidator(check)
