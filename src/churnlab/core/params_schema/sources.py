"""The `base`, `data` and `simulate` sections: where the data come from."""

import codecs
import re
from typing import Annotated, Any, Literal

from annotated_types import MaxLen, MinLen
from pydantic import AfterValidator, ValidationInfo, field_validator

from churnlab.core.params_schema.fields import (
    Count,
    Date,
    MonthEnd,
    Name,
    Names,
    NonNegative,
    NonNegativeInt,
    OptionalDate,
    PartShare,
    Positive,
    Probability,
    Scalar,
    Section,
    Share,
    compared_to,
    earlier,
    increasing,
    no_repeats,
    rule,
)


class Base(Section):
    seed: NonNegativeInt
    horizon_months: Count


def _codec(value: str | None) -> str | None:
    if value is not None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise rule("must be a Python codec name (utf-8, gb18030, gbk, big5, cp1252, ...) or null") from None
    return value


class Read(Section):
    sep: str | None
    encoding: Annotated[str | None, AfterValidator(_codec)]
    decimal: str | None
    thousands: str | None
    units: dict[Name, Literal["万", "亿", "元"]]  # raw column -> the unit its plain numbers are in


class Ledger(Section):
    czk_per_eur: Positive
    segment_thresholds_czk: Annotated[list[NonNegative], MinLen(2), MaxLen(2), AfterValidator(increasing)]
    profile_months: Count
    complete_months_only: bool
    extract_end: OptionalDate = None  # optional conventions of churnlab.data.ledger.ledger_tables
    policy_rate: float = 0.0
    competitor_spread: float = 0.0
    promo_index: Probability = 0.0




CATALOG = "table:"  # churnlab.data.contract.CATALOG
CATALOG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


def _location(value: str | None, info: ValidationInfo) -> str | None:
    """A contract table's location: a file or folder, or `table:<name>`, a Spark catalog table (catalog.db.table,
    db.table or table), which only the Spark engine reads (validate_params passes the engine's name as context)."""
    if value is None or not value.startswith(CATALOG):
        return value
    if not CATALOG_NAME.fullmatch(value[len(CATALOG):]):
        raise rule("must name a catalog table as table:<name>, e.g. table:bank.monthly (up to three dotted parts of "
                   "letters, digits and _)")
    if (info.context or {}).get("engine") == "local":
        raise rule("names a catalog table, which only the Spark engine reads: set engine.name: spark, or give a "
                   "Parquet or CSV file")
    return value


def _token(value: Any) -> str:
    """A churn flag as the snapshot reader compares it: 1, 1.0, true and "1" are the same."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return str(int(value))
    return str(value).strip().casefold()


class Data(Section):
    source: Literal["simulator", "contract", "snapshot", "ledger"]
    tables: dict[Literal["customers", "monthly", "market", "churn_events", "campaigns"],
                 Annotated[str | None, AfterValidator(_location)]]  # a file, a folder or table:<name>
    path: str | None  # after `tables`: a contract may name every file there instead
    read: Read
    date_formats: dict[str, Name]
    id: str | None
    target: str | None
    positive: Scalar
    negative: Scalar
    tenure: str | None
    tenure_unit: Literal["years", "months"]
    drop: Names
    keep: Names
    rename: dict[str, Name]
    feature_types: dict[str, Literal["numeric", "categorical", "flag"]]
    as_of: Date
    ledger: Ledger

    @field_validator("negative")
    @classmethod
    def _two_classes(cls, value: Any, info: ValidationInfo) -> Any:
        positive = earlier(info, "positive")
        if positive is not None and _token(value) == _token(positive):
            raise rule(f"must differ from data.positive ({positive}), compared as text")
        return value


class Simulate(Section):
    n_customers: Count
    n_months: Count
    start_month: MonthEnd
    burn_in_months: NonNegativeInt
    existing_share: Probability
    max_prior_tenure_months: NonNegativeInt
    base_monthly_hazard: Share
    shock_month: Annotated[NonNegativeInt, compared_to("n_months", "simulate.n_months", "<")]
    shock_months: Count
    shock_spread_pp: float
    recession_month: NonNegativeInt  # may fall after the window (then the data show no recession)
    campaign_months: Annotated[list[NonNegativeInt], AfterValidator(no_repeats),
                               compared_to("n_months", "simulate.n_months", "<")]
    campaign_target_share: PartShare
    campaign_treat_share: Share
    offer_costs: dict[Literal["rate_match", "fee_waiver", "complaint_recovery", "digital_nudge",
                              "relationship_manager_call"], NonNegative]  # simulator.offers.OFFERS
    oracle_paths: Count
    oracle_every_months: Count
    workers: Count
    oracle_survival_months: Count


