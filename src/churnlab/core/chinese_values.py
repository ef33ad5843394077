"""Dates and amounts as Chinese core-banking exports write them, read from text cells.

Dates: `YEAR_FIRST` holds the year-first formats `churnlab.core.readers.parse_dates` tries after ISO 8601 (which
already reads 2024-6-30) and before the day-first formats: 2024/6/30, 2024.6.30 and 2024年6月30日 (month and day
with or without a leading zero), and 2024/6/30 with a time. Year first is never ambiguous: no export writes
year-day-month.

Amounts (`amount_columns`, `parse_amounts`), one value at a time:
- full-width characters read as their ASCII forms (Unicode NFKC): "１，２３４．５" is "1,234.5";
- `,` groups thousands ("1,234,567.89", "1，234，567.89"), `.` is the decimal mark, a leading sign is allowed;
- a unit suffix multiplies: 万 = 10,000 and 亿 = 100,000,000 ("12.5万" is 125,000, "3亿" is 300,000,000); a
  trailing 元 (yuan) is allowed after the number or the unit and changes nothing ("8万元" is 80,000);
- a column's declared unit (params `data.read.units`, raw column name -> 万 | 亿 | 元) multiplies every value
  without a suffix of its own ("余额（万元）" holding 12.5 means 125,000); a value with a suffix keeps its own unit;
- blank is missing. Amounts are float64 (yuan).
A column is read as amounts when it is declared, or when every value is an amount and at least one is written
the Chinese way (a unit suffix, or full-width characters): plain "1,234.50" is left to the reader's number
styles. A declared column, or an undeclared one where most values carry a unit, with a value that is not an
amount is a `DataError` naming the file, the column and example rows.
"""

import re
import unicodedata

import numpy as np
import pandas as pd

from churnlab.core.checks import DataError

YEAR_FIRST = ("%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y/%m/%d %H:%M:%S", "%Y年%m月%d日 %H:%M:%S")
UNITS = {"万": 1e4, "亿": 1e8, "元": 1.0}
AMOUNT = re.compile(r"(?P<number>[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)\s*(?P<unit>[万亿])?\s*元?")
SUFFIX = re.compile(r"[万亿元]\s*$")
NON_ASCII = re.compile(r"[^\x00-\x7f]")
MOSTLY = 0.5  # share of Chinese-style amounts that makes an undeclared column an amount column
EXAMPLES = 5  # bad values (with their data rows) quoted in an error


def halfwidth(values: pd.Series) -> pd.Series:
    """Text values with full-width digits, comma, full stop and signs as ASCII (NFKC), stripped."""
    text = values.dropna().astype(str)
    forms = {value: unicodedata.normalize("NFKC", value).strip() for value in text.unique()}  # once per distinct value
    return values.map(lambda v: forms[str(v)], na_action="ignore")


def parse_amounts(values: pd.Series, *, unit: str | None = None, source: str = "file") -> pd.Series:
    """float64 yuan from text amounts (module docstring); `unit` multiplies values without a suffix.

    A value that is not an amount raises DataError naming `source`, the column and the data rows (1-based).
    """
    if unit is not None and unit not in UNITS:
        raise DataError(f"{source}: column {values.name!r}: unit {unit!r} must be one of {list(UNITS)}")
    text = halfwidth(values)
    parts = text.str.extract(f"^(?:{AMOUNT.pattern})$")
    bad = text.notna() & parts["number"].isna()
    if bad.any():
        rows = {int(i) + 1: text.iloc[i] for i in np.flatnonzero(bad.to_numpy())[:EXAMPLES]}
        raise DataError(f"{source}: column {values.name!r}: {int(bad.sum())} value(s) are not amounts (a number "
                        f"with optional ',' grouping and a 万/亿/元 unit), e.g. (data row: value) {rows}")
    numbers = pd.to_numeric(parts["number"].str.replace(",", "", regex=False)).astype("float64")
    factor = parts["unit"].map(UNITS).fillna(UNITS.get(unit, 1.0) if unit else 1.0)
    return (numbers * factor).astype("float64").rename(values.name)


def is_amount_column(values: pd.Series) -> bool:
    """True when undeclared text `values` are written as Chinese amounts (a unit suffix or full-width digits):
    every value is an amount, or most are amounts written that way (`parse_amounts` then names the others)."""
    present = values.dropna().astype(str)
    if present.empty or not present.str.contains(NON_ASCII).any():  # every Chinese mark is non-ASCII: a fast no
        return False
    text = halfwidth(present)
    amounts = text.str.fullmatch(AMOUNT)
    chinese = present.str.contains(SUFFIX) | (text != present.str.strip())
    return bool(chinese.any() and (amounts.all() or (amounts & chinese).mean() > MOSTLY))


def amount_columns(frame: pd.DataFrame, columns: list[str], *, units: dict[str, str] | None = None,
                   source: str = "file") -> dict[str, pd.Series]:
    """{column: float64 amounts} for the `columns` of text `frame` that are declared in `units` (raw column name
    -> 万 | 亿 | 元; names the file lacks are ignored, as the contract tables share the read options) or that are
    written as Chinese amounts (`is_amount_column`)."""
    units = dict(units or {})
    return {column: parse_amounts(frame[column], unit=units.get(column), source=source)
            for column in columns if column in units or is_amount_column(frame[column])}
