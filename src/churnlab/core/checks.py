"""One check for the columns a step needs, and the exception family for data a user must fix.

`DataError` is the base of every error about the user's data (a file, table or column that cannot be used as
given); `ColumnError` is the one error for a missing or misspelt column, wherever it is found. Both messages
name the file or table, the column and the problem, so the data stage can print them as one sentence.
"""

import difflib
from collections.abc import Iterable

import pandas as pd


class DataError(ValueError):
    """A user's data cannot be used as given; the message names the file or table, the column and the problem."""


class ColumnError(DataError, KeyError):
    """A table lacks a column a step needs (or misspells it). A KeyError too, as pandas raises for a column."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


def check_columns(frame: pd.DataFrame, columns: Iterable[str], *, table: str, needed_by: str = "") -> None:
    """Raise ColumnError naming every column of `columns` that `frame` lacks, with the closest present name.

    `table` names the file or table in the message; `needed_by` says what needs the columns (a stage, a model).
    """
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if not missing:
        return
    present = [str(c) for c in frame.columns]
    hints = []
    for column in missing:
        close = difflib.get_close_matches(column, present, n=1)
        hints.append(f"{column!r}" + (f" (found {close[0]!r}: misspelt?)" if close else ""))
    purpose = f" needed by {needed_by}" if needed_by else ""
    raise ColumnError(f"{table}: missing {len(missing)} column(s){purpose}: {', '.join(hints)} "
                      f"(it has {len(present)} columns)")
