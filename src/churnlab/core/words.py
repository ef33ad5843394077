"""The words a person reads, from one place (core/words.yaml): column labels and values in English or Chinese.

Files, metrics and params keep their machine names; notebooks, reports and the model card show tables through
`readable`, which labels the columns in the bank's words, writes p-values as a reader expects ("< 0.001", not
3.49e-187), a median the curve never reaches as "not reached" (not `inf`), and flags as yes/no.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

LANGUAGES = ("en", "zh")
P_VALUES = {"p", "p_value", "ks_pvalue"}  # columns holding p-values
SMALLEST_P = 0.001  # p-values below this print as "< 0.001": more digits claim a precision no test has


@cache
def glossary() -> dict[str, dict[str, dict[str, str]]]:
    """core/words.yaml: {"columns": {name: {en, zh}}, "values": {name: {en, zh}}}."""
    return yaml.safe_load((Path(__file__).with_name("words.yaml")).read_text(encoding="utf-8"))


def _check(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")


def label(column: str, language: str = "en") -> str:
    """The label of a column (KeyError naming core/words.yaml when it has none: add it there, in both languages)."""
    _check(language)
    try:
        return glossary()["columns"][column][language]
    except KeyError:
        raise KeyError(f"core/words.yaml has no label for column {column!r}: add it under `columns`") from None


def word(value, language: str = "en") -> str:
    """A value's word (model names, yes/no, signals), or the value itself as text when it has none."""
    _check(language)
    entry = glossary()["values"].get(str(value))
    return entry[language] if entry else str(value)


def p_value_text(p: float) -> str:
    """A p-value as a reader expects it: "< 0.001" below 0.001, else three decimals; "n/a" when missing."""
    if p is None or np.isnan(p):
        return "n/a"
    return f"< {SMALLEST_P}" if p < SMALLEST_P else f"{p:.3f}"


def _cell(value, language: str):
    if isinstance(value, bool | np.bool_):
        return word(str(bool(value)), language)
    if isinstance(value, float) and np.isinf(value):
        return word("not_reached", language)
    return value


def readable(frame: pd.DataFrame, language: str = "en", *, digits: int = 3) -> pd.DataFrame:
    """`frame` for a reader: columns labelled, p-values and infinities written out, floats rounded to `digits`,
    index values (model names, signals) in words. Every column needs a label in core/words.yaml."""
    out = frame.round(digits)
    for column in out.columns:
        if column in P_VALUES:
            out[column] = frame[column].map(p_value_text)
        elif out[column].dtype == bool or out[column].dtype == float:
            out[column] = out[column].map(lambda v: _cell(v, language)).astype(object)
    out.columns = [label(c, language) for c in out.columns]
    if not isinstance(out.index, pd.RangeIndex | pd.MultiIndex):
        out.index = out.index.map(lambda v: word(v, language))
    out.index.names = [label(name, language) if name else name for name in frame.index.names]
    return out
