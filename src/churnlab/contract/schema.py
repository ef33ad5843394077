"""The data contract: the tables a bank provides, their data dictionary, and their validation.

The simulator writes exactly these tables and every later stage reads only them. Each field below says
what it means, its unit and its allowed values; the pandera schemas are built from the same entries, so
the dictionary and the validation cannot drift apart. `python -m churnlab.contract.schema` prints the dictionary
as Markdown (docs/data-contract.md is that output).

Months are month-end dates (`datetime64[ns]`, e.g. 2021-01-31). Money is in EUR. A customer has one row
in `monthly` per month-end from the month of opening up to and including the churn month (the month in
which the relationship ended); a customer who has not churned is right-censored at the last month.

Validation (`validate_all`) checks every table and every cross-table rule, then raises one `ContractError`
listing every problem, grouped by file (or table), each with the column, the rule and example rows. Rows are
data rows counted from 1 (data row 1 is the first row after a CSV file's header). Customer ids are personal
data: messages show them masked to their last two characters (`churnlab.core.readers.mask`).

Errors (the data cannot be used as given):

- a column missing, extra or of another type; a value outside the allowed values or bounds below;
- a missing or blank value in a column that is not nullable. The contract source checks `customer_id` before
  it pseudonymises the ids, so a missing id can never become a customer of its own;
- a number that is not finite (`inf`, `-inf`) in any numeric column (`NaN` only where the column is nullable),
  or a fraction in a whole-number (int64) column;
- a repeated key: one problem per table, naming the key columns and the rows;
- `market` months that are not consecutive month-ends (a month missing);
- an id in `monthly`, `churn_events` or `campaigns` with no row in `customers`. When the ids match once a
  trailing `.0` is dropped, the problem is the id type instead (whole numbers in one file, floats in the
  other), named with both files and the fix;
- a `monthly` row before the customer's open date, after the customer's churn month, or outside the months
  of `market`; a churn month before the open date.

Warnings (logged with a count and examples; the rows are kept, since real banks have them and the later
stages cope):

- a gap in a customer's months in `monthly` (features read a missing month as a month without data);
- a customer without any row in `monthly` (such a customer is in no snapshot);
- a `campaigns` row after the customer's churn month.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from churnlab.core.checks import DataError
from churnlab.core.words import glossary, say, term

SEGMENTS = ("mass", "affluent", "private")
EDUCATION = ("primary", "secondary", "tertiary")
OCCUPATIONS = ("employee", "self_employed", "retired", "student", "unemployed")
CHANNELS = ("branch", "online", "referral", "partner")
GENDERS = ("F", "M")
CHURN_TYPES = ("voluntary_closure", "transfer_out", "involuntary")
REASONS = ("price", "service", "competitor_offer", "life_event")


@dataclass(frozen=True)
class Field:
    """One column of a contract table."""

    name: str
    dtype: str
    meaning: str
    unit: str = ""
    allowed: tuple | None = None  # categorical values
    ge: float | None = None  # lower bound (inclusive)
    le: float | None = None  # upper bound (inclusive)
    nullable: bool = False
    required: bool = True  # False: the column may be absent (e.g. simulator-only fields)
    checks: tuple = field(default=())

    def column(self) -> pa.Column:
        checks = list(self.checks)
        if self.dtype == "float64":
            checks.append(FINITE)
        if self.allowed is not None:
            checks.append(pa.Check.isin(list(self.allowed)))
        if self.ge is not None:
            checks.append(pa.Check.ge(self.ge))
        if self.le is not None:
            checks.append(pa.Check.le(self.le))
        return pa.Column(self.dtype, checks, nullable=self.nullable, required=self.required)

    def describe(self) -> str:
        if self.allowed is not None:
            return ", ".join(self.allowed)
        bounds = [f">= {self.ge:g}" if self.ge is not None else "", f"<= {self.le:g}" if self.le is not None else ""]
        return " and ".join(b for b in bounds if b)


def _finite(values: pd.Series) -> pd.Series:
    """True where a number is finite (pandera drops NaN first: missing values are the `nullable` flag's business)."""
    if not pd.api.types.is_float_dtype(values):
        return pd.Series(True, index=values.index)  # a column of another type fails its dtype check instead
    return pd.Series(np.isfinite(values.to_numpy()), index=values.index)


MONTH_END = pa.Check(lambda s: s.dt.is_month_end, element_wise=False, name="is_month_end")
FINITE = pa.Check(_finite, element_wise=False, name="finite")
ID = Field("customer_id", "str", "Pseudonymous customer identifier (no name, no national id)")

TABLES: dict[str, tuple[list[Field], list[str]]] = {
    # table name: (fields, columns that are unique together)
    "customers": (
        [
            ID,
            Field("open_date", "datetime64[ns]", "Date the first account was opened", "date"),
            Field("birth_year", "int64", "Year of birth", "year", ge=1900, le=2015),
            Field("gender", "str", "Gender as recorded at onboarding", allowed=GENDERS, nullable=True),
            Field("education", "str", "Highest education; missing when never collected", allowed=EDUCATION,
                  nullable=True),
            Field("income", "float64", "Declared net monthly income; missing when not declared", "EUR/month",
                  ge=0, nullable=True),
            Field("occupation", "str", "Occupation at onboarding", allowed=OCCUPATIONS, nullable=True),
            Field("region", "str", "Home region of the customer"),
            Field("segment", "str", "Bank's customer segment", allowed=SEGMENTS),
            Field("acquisition_channel", "str", "Channel through which the customer joined", allowed=CHANNELS),
            Field("payroll", "bool", "Salary is paid into the bank (payroll account) at opening"),
        ],
        ["customer_id"],
    ),
    "monthly": (
        [
            ID,
            Field("month", "datetime64[ns]", "Month-end the row describes", "month-end date", checks=(MONTH_END,)),
            Field("deposit_balance", "float64", "Current and savings account balance at month-end", "EUR", ge=0),
            Field("investment_balance", "float64", "Funds and securities held at month-end", "EUR", ge=0),
            Field("loan_balance", "float64", "Outstanding loan principal at month-end", "EUR", ge=0),
            Field("card_limit", "float64", "Credit-card limit; 0 without a card", "EUR", ge=0),
            Field("card_utilisation", "float64", "Card balance / limit at month-end; missing without a card",
                  "share", ge=0, le=1.5, nullable=True),
            Field("n_products", "int64", "Number of products held (current account counts as one)", "count",
                  ge=1, le=10),
            Field("tx_count", "int64", "Customer-initiated transactions in the month", "count", ge=0),
            Field("tx_amount", "float64", "Value of customer-initiated transactions in the month", "EUR", ge=0),
            Field("digital_logins", "int64", "Logins to online or mobile banking in the month", "count", ge=0),
            Field("branch_visits", "int64", "Branch visits in the month", "count", ge=0),
            Field("complaints", "int64", "Formal complaints filed in the month", "count", ge=0),
            Field("service_contacts", "int64", "Calls, chats and e-mails to customer service in the month",
                  "count", ge=0),
            Field("fees_paid", "float64", "Account, card and transaction fees charged in the month", "EUR", ge=0),
            Field("salary_inflow", "float64", "Salary credited in the month; 0 when none", "EUR", ge=0),
        ],
        ["customer_id", "month"],
    ),
    "market": (
        [
            Field("month", "datetime64[ns]", "Month-end the row describes", "month-end date", checks=(MONTH_END,)),
            Field("policy_rate", "float64", "Central-bank policy rate", "% per year", ge=-2, le=25),
            Field("competitor_spread", "float64", "Best competitor deposit rate minus the bank's", "percentage points",
                  ge=-10, le=10),
            Field("unemployment", "float64", "National unemployment rate", "%", ge=0, le=100),
            Field("promo_index", "float64", "Intensity of competitor acquisition promotions (0 none, 1 peak)",
                  "index", ge=0, le=1),
        ],
        ["month"],
    ),
    "churn_events": (
        [
            ID,
            Field("churn_month", "datetime64[ns]", "Month-end of the month in which the relationship ended",
                  "month-end date", checks=(MONTH_END,)),
            Field("churn_type", "str", "voluntary_closure: customer closed the accounts; transfer_out: customer "
                  "moved the funds out; involuntary: the bank closed a dormant account", allowed=CHURN_TYPES),
            Field("reason", "str", "Latent reason (simulated data only; missing for involuntary churn)",
                  allowed=REASONS, nullable=True, required=False),
        ],
        ["customer_id"],
    ),
    "campaigns": (
        [
            ID,
            Field("month", "datetime64[ns]", "Month-end of the campaign wave", "month-end date", checks=(MONTH_END,)),
            Field("treated", "bool", "True: received the offer; False: randomised control (not contacted)"),
            Field("offer", "str", "Offer made; for controls 'control' (a multi-arm campaign) or the offer the "
                  "treated customers of a single-offer campaign received"),
            Field("cost", "float64", "Cost of the offer and contact to the bank; 0 for controls", "EUR", ge=0),
            Field("propensity", "float64", "Probability that the randomisation gave the customer this row's arm "
                  "(its offer, or the control); absent: the campaign's arm shares are used", "probability",
                  ge=0, le=1, required=False),
        ],
        ["customer_id", "month"],
    ),
}


class ContractError(DataError):
    """A table breaks the data contract; the message names the table (or file), column, rule and rows."""


def schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of one contract table (strict: no missing, extra or mistyped columns)."""
    fields, unique = TABLES[table]
    return pa.DataFrameSchema({f.name: f.column() for f in fields}, strict=True, unique=unique, name=table)



def empty_table(table: str) -> pd.DataFrame:
    """A contract table with no rows, in the contract's column types (a source without closures or campaigns)."""
    kinds = {"str": object, "datetime64[ns]": "datetime64[ns]", "bool": bool, "float64": "float64", "int64": "int64"}
    return pd.DataFrame({f.name: pd.Series(dtype=kinds[f.dtype]) for f in TABLES[table][0]})


ARROW_TYPES = {"str": "string", "float64": "float64", "int64": "int64", "bool": "bool",
               "datetime64[ns]": "timestamp[ns]"}


def arrow_schema(table: str):
    """The Arrow schema of a contract table (column order and types as in the dictionary)."""
    import pyarrow as pa

    return pa.schema([(f.name, pa.type_for_alias(ARROW_TYPES[f.dtype])) for f in TABLES[table][0]])


def data_dictionary() -> pd.DataFrame:
    """The data dictionary as a table: one row per (table, column)."""
    rows = [
        {"table": table, "column": f.name, "dtype": f.dtype, "meaning": f.meaning, "unit": f.unit,
         "allowed": f.describe(), "nullable": f.nullable, "required": f.required}
        for table, (fields, _) in TABLES.items() for f in fields
    ]
    return pd.DataFrame(rows)


def dictionary_markdown(language: str = "en") -> str:
    """The data dictionary as Markdown, one section per table: docs/data-contract.md, or in Chinese (`language` zh)
    docs/data-contract.zh.md, its headings, intro and meanings from core/words.yaml (column names stay as they are)."""
    if language == "zh":
        return _dictionary_markdown_zh()
    out = ["# Data contract", "", __doc__.split("\n\n", 1)[1].strip(), ""]
    for table, part in data_dictionary().groupby("table", sort=False):
        keys = ", ".join(TABLES[table][1])
        out += [f"## `{table}` (one row per {keys})", "", "| column | type | meaning | unit | allowed | nullable |",
                "|---|---|---|---|---|---|"]
        out += [f"| `{r.column}` | {r.dtype} | {r.meaning} | {r.unit} | {r.allowed} | {'yes' if r.nullable else 'no'} |"
                for r in part.itertuples()]
        out.append("")
    return "\n".join(out)


def _dictionary_markdown_zh() -> str:
    words = glossary()
    doc, meanings = words["contract_doc"], words["contract_fields"]

    def zh(key: str, **fields) -> str:
        return say(doc[key], "zh", **fields)

    out = [f"# {zh('title')}", "", doc["intro"]["zh"], ""]
    for table, part in data_dictionary().groupby("table", sort=False):
        keys = "、".join(f"`{k}`" for k in TABLES[table][1])
        out += [f"## {zh('table', table=table, keys=keys)}", "", zh("header"), "|---|---|---|---|---|---|"]
        for r in part.itertuples():  # the contract's money is EUR (see the intro); bounds read "x 且 y"
            unit = term("units", r.unit, "zh", currency="EUR") if r.unit else ""
            out.append(f"| `{r.column}` | {r.dtype} | {meanings[table][r.column]} | {unit} | "
                       f"{r.allowed.replace(' and ', zh('and'))} | {zh('yes' if r.nullable else 'no')} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    sys.stdout.write(dictionary_markdown(*sys.argv[1:2]))  # `python -m churnlab.contract.schema zh`: the Chinese
