"""Read a user's tabular file (CSV or Parquet) into a DataFrame, robustly, or fail with a clear `DataError`.

Every problem is a `DataError` (a ValueError) whose message names the file, the column and the problem.
How each awkward case is handled (the parameters are keyword arguments of `read_table`):

- Format: by suffix. `.parquet`/`.pq` is Parquet; anything else (`.csv`, `.txt`, `.asc`, `.tsv`) is
  delimited text; a trailing `.gz` is decompressed first. A file named as text whose bytes start with the
  Parquet magic `PAR1` (Parquet saved as `.csv`) is read as Parquet, with a warning to rename it; gzipped
  Parquet, or other binary content no text reader can split, is an error naming the file.
- Empty file: a 0-byte or blank file, or a header without data rows, is an error.
- Encoding: `encoding` if given; else UTF-16 (by its BOM), UTF-8 (a BOM is dropped), then the most plausible
  Chinese reading (GB18030/GBK, Big5), then cp1252 / cp1250 / latin-1: `churnlab.core.encodings.decode`. A
  guessed encoding is logged as a warning naming it.
- Separator: `sep` if given, else `csv.Sniffer` over the first lines, restricted to `, ; tab |`; when
  the sniffer gives up, the candidate that splits every sampled line into the same number (>1) of fields.
- Numbers: every column is read as text, stripped (blank = missing), then converted when all its values
  are numbers in one style: decimal point with optional `,` grouping ("1,234.50") or decimal comma with
  optional `.`, space, non-breaking space or `'` grouping ("1 234,50", "1.234,50"). `decimal` (and
  `thousands`) fix the style for the whole file; without them a column that fits only one style takes it,
  and ambiguous columns ("1,234", "1.234") follow the style most unambiguous columns showed, else the
  decimal point. Values with a leading zero ("007"), digit strings longer than `MAX_DIGITS` (ID and card
  numbers: float64 keeps 15 digits exactly) and the columns in `text` stay text (codes, ids). Integers without
  missing values become int64, other numbers float64. Amounts written the Chinese way ("12.5万", "1，234.5")
  and the columns declared in `units` (raw column name -> 万 | 亿 | 元) are read by
  `churnlab.core.chinese_values` (float64 yuan); a value there that is not an amount is an error.
- Dates: only the columns in `dates` (column -> strftime format, or None). With a format, exactly that
  format; without, ISO 8601, then the year-first formats `chinese_values.YEAR_FIRST` (2024/6/30,
  2024年6月30日), then the day-first formats in `DAY_FIRST`. Values no format parses are an
  error naming the file, column and example values. A column that reads both day-first and month-first
  (no day above 12, as in 03/04/2021) is read day-first with a warning naming the file, the column, the
  reading chosen and how to declare the other (`data.date_formats`).
- A column with no value at all is dropped with a warning, or an error when it is in `required`.
- `unique`: the id column of a one-row-per-customer file; a repeated or missing id is an error naming
  the column, the data rows and the ids masked to their last two characters (ids are personal data).
"""

import csv
import gzip
import io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.core.checks import DataError, check_columns
from churnlab.core.chinese_values import YEAR_FIRST, amount_columns
from churnlab.core.encodings import decode
from churnlab.core.words import in_languages, message, messages

log = logging.getLogger(__name__)

SEPARATORS = ",;\t|"
SNIFF_LINES = 50
DAY_FIRST = ("%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%y", "%d/%m/%y", "%d-%m-%y",
             "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M")
GROUPING = ".'\u00a0\u202f "  # thousands separators of the decimal-comma style
STYLES = {  # decimal mark: a number in that style (the thousands separator is optional)
    ".": re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+"),
    ",": re.compile(r"[+-]?(?:\d{1,3}(?:[.'\u00a0\u202f ]\d{3})+|\d+)(?:,\d*)?|[+-]?,\d+"),
}
LEADING_ZERO = re.compile(r"[+-]?0\d")
MAX_DIGITS = 15  # longer digit strings are identifiers (18-digit resident IDs, 16-19-digit cards), not amounts
LONG_DIGITS = re.compile(rf"[+-]?\d{{{MAX_DIGITS + 1},}}")
PARQUET_MAGIC = b"PAR1"


def read_table(path: Path | str, *, sep: str | None = None, encoding: str | None = None,
               decimal: str | None = None, thousands: str | None = None, dates: dict | list | None = None,
               required: list[str] = (), unique: str | None = None, text: list[str] = (),
               na_values: list[str] = (), units: dict[str, str] | None = None, language: str = "en") -> pd.DataFrame:
    """Read a CSV or Parquet file as described in the module docstring; raise DataError on a bad file (a missing
    file, required column, date or id in `language`, the report language: en, zh or both)."""
    path = Path(path)
    if not path.exists():
        raise DataError(messages("file_not_found", language, file=path))
    dates = dict.fromkeys(dates) if isinstance(dates, list | tuple) else dict(dates or {})
    parquet = path.suffix.lower() in (".parquet", ".pq")
    if not parquet and _parquet_bytes(path):
        log.warning("%s: the file is Parquet (it starts with the Parquet magic bytes PAR1), not text as its name "
                    "says; read as Parquet (rename it to %s.parquet)", path, path.stem)
        parquet = True
    frame = _read_parquet(path) if parquet else _read_text(path, sep=sep, encoding=encoding, na_values=na_values)
    check_columns(frame, [*required, *dates, *([unique] if unique else [])], table=str(path))
    for column, fmt in dates.items():
        frame[column] = parse_dates(frame[column], fmt, source=f"{path}: column {column!r}", language=language)
    if not parquet:  # Parquet columns carry their own types: text there is meant as text
        numeric = [c for c in frame.columns if c not in dates and c not in text]
        amounts = amount_columns(frame, numeric, units=units, source=str(path))
        frame = frame.assign(**amounts)
        frame = _parse_numbers(frame, [c for c in numeric if c not in amounts], decimal=decimal,
                               thousands=thousands, source=path)
    frame = _drop_empty(frame, required, source=path, language=language)
    if unique:
        check_unique(frame, unique, source=str(path), language=language)
    log.info("%s: read %d rows x %d columns", path.name, len(frame), frame.shape[1])
    return frame


def _parquet_bytes(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == PARQUET_MAGIC


def _read_parquet(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no data rows (columns: {list(frame.columns)})")
    return frame


def _read_text(path: Path, *, sep: str | None, encoding: str | None, na_values: list[str]) -> pd.DataFrame:
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        raw = gzip.decompress(raw)
        if raw.startswith(PARQUET_MAGIC):
            raise DataError(f"{path}: the file is gzipped Parquet, not text: store it uncompressed as .parquet "
                            f"(Parquet compresses itself)")
    content = decode(raw, encoding=encoding, source=str(path)).removeprefix("\ufeff")  # a BOM, if declared utf-8
    if not content.strip():
        raise DataError(f"{path}: the file is empty ({len(raw)} bytes, no text)")
    try:
        sep = sep or sniff_separator(content, source=str(path))
        header = next(csv.reader(io.StringIO(content), delimiter=sep))
    except csv.Error as err:  # e.g. "line contains NUL": binary bytes, not delimited text
        raise DataError(f"{path}: not a delimited text file ({err}); is it a binary file (Excel, Parquet) under a "
                        f"text name?") from None
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DataError(f"{path}: column name(s) {repeated} appear more than once in the header")
    try:
        frame = pd.read_csv(io.StringIO(content), sep=sep, dtype=str, na_values=list(na_values), keep_default_na=True)
    except pd.errors.ParserError as err:
        raise DataError(f"{path}: not a consistent {sep!r}-separated table: {err}") from None
    if frame.empty:
        raise DataError(f"{path}: the file has a header but no data rows (columns: {list(frame.columns)})")
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        stripped = frame[column].astype("string").str.strip()
        frame[column] = stripped.astype(object).where(stripped.fillna("") != "", np.nan)
    return frame


def sniff_separator(content: str, *, source: str = "file") -> str:
    """The field separator of delimited `content`: csv.Sniffer, else the most consistent candidate."""
    lines = [line for line in content.splitlines()[:SNIFF_LINES] if line.strip()]
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        pass
    consistent = []
    for candidate in SEPARATORS:
        widths = {len(row) for row in csv.reader(lines, delimiter=candidate)}
        if len(widths) == 1 and widths.pop() > 1:
            consistent.append(candidate)
    if not consistent:
        log.warning("%s: no field separator found in the first lines; reading one column", source)
        return ","
    return consistent[0]


def parse_dates(values: pd.Series, fmt: str | None = None, *, source: str = "column", language: str = "en"
                ) -> pd.Series:
    """Parse `values` with `fmt`, else ISO 8601, else the first year-first or day-first format that parses every
    value."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[ns]")
    strings = values.astype("string").str.strip()
    present = strings.notna()
    best = None  # the failures of the format that parsed the most values, for the error
    for candidate in [fmt] if fmt else ["ISO8601", *YEAR_FIRST, *DAY_FIRST]:
        parsed = pd.to_datetime(strings, format=candidate, errors="coerce")
        bad = strings[present & parsed.isna()]
        if bad.empty:
            if not fmt and candidate in DAY_FIRST:
                _warn_if_month_first(strings[present], parsed[present], candidate, source=source,
                                     column=values.name)
            return parsed.astype("datetime64[ns]")
        best = bad if best is None or len(bad) < len(best) else best
    tried = [message("dates_format", lang, format=fmt) if fmt else
             message("dates_any", lang, formats=[*YEAR_FIRST, *DAY_FIRST]) for lang in in_languages(language)]
    raise DataError("\n".join(message("not_dates", lang, source=source, count=len(best), tried=said,
                                       examples=best.unique()[:5].tolist())
                              for lang, said in zip(in_languages(language), tried, strict=True)))


def _warn_if_month_first(strings: pd.Series, day_first: pd.Series, fmt: str, *, source: str, column) -> None:
    """Warn when every value also reads month-first as another date (no day above 12): the day-first reading
    is a guess, and a US-style file would be read with day and month swapped."""
    month_first = fmt.replace("%d", "{day}").replace("%m", "%d").replace("{day}", "%m")
    swapped = pd.to_datetime(strings, format=month_first, errors="coerce")
    differs = (swapped != day_first).to_numpy()
    if swapped.isna().any() or not differs.any():
        return
    example, date = strings[differs].iloc[0], day_first[differs].iloc[0]
    log.warning("%s: every date reads both day-first and month-first (no day above 12), e.g. %r; read day-first "
                "(%s, so %r is %s). If the file is month-first, declare it: data.date_formats: {%s: '%s'}",
                source, example, fmt, example, date.strftime("%d %B %Y"), column, month_first)


def _styles(values: pd.Series) -> set[str]:
    """The decimal marks under which every value of `values` (non-missing strings) is a number."""
    return {mark for mark, pattern in STYLES.items() if values.str.fullmatch(pattern).all()}


def _to_number(values: pd.Series, mark: str, thousands: str | None) -> pd.Series:
    if mark == ".":
        cleaned = values.str.replace(thousands or ",", "", regex=False)
    else:
        cleaned = values.str.replace(f"[{re.escape(thousands or GROUPING)}]", "", regex=True)
        cleaned = cleaned.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(cleaned)
    integral = not values.str.contains(re.escape(mark)).any() and numbers.notna().all()
    return numbers.astype("int64") if integral and numbers.abs().max() < 2**63 else numbers.astype("float64")


def _parse_numbers(frame: pd.DataFrame, columns: list[str], *, decimal: str | None, thousands: str | None,
                   source: Path) -> pd.DataFrame:
    """Convert the text columns whose every value is a number in one style (see the module docstring)."""
    if decimal not in (None, ".", ","):
        raise DataError(f"{source}: decimal must be '.' or ',', not {decimal!r}")
    styles = {}
    for column in columns:
        values = frame[column].dropna()
        if values.empty or values.str.match(LEADING_ZERO).any() or values.str.fullmatch(LONG_DIGITS).any():
            continue
        fits = _styles(values if thousands is None else values.str.replace(thousands, "", regex=False))
        if fits:
            styles[column] = fits
    votes = [next(iter(fits)) for fits in styles.values() if len(fits) == 1]
    default = decimal or (max(set(votes), key=votes.count) if votes else ".")
    for column, fits in styles.items():
        mark = decimal if decimal else (next(iter(fits)) if len(fits) == 1 else default)
        if mark not in fits:
            continue  # not numbers in the declared style: stays text
        frame[column] = _to_number(frame[column], mark, thousands)
    return frame


def _drop_empty(frame: pd.DataFrame, required: list[str], *, source: Path, language: str = "en") -> pd.DataFrame:
    empty = [c for c in frame.columns if frame[c].isna().all()]
    essential = [c for c in empty if c in required]
    if essential:
        raise DataError(messages("required_empty", language, file=source, columns=essential, count=len(frame)))
    if empty:
        log.warning("%s: dropped column(s) %s: no value in any row", source, empty)
    return frame.drop(columns=empty)


def mask(value) -> str:
    """An identifier masked to its last two characters, for error messages ('15634602' -> '******02')."""
    text = str(value)
    return "*" * len(text) if len(text) <= 4 else "*" * (len(text) - 2) + text[-2:]


def check_unique(frame: pd.DataFrame, column: str, *, source: str, language: str = "en") -> None:
    """Raise DataError (in `language`) when `column` (a one-row-per-customer id) is missing somewhere or repeats."""
    ids = frame[column].reset_index(drop=True)  # data row n (1-based) is position n - 1
    if ids.isna().any():
        rows = (np.flatnonzero(ids.isna())[:5] + 1).tolist()
        raise DataError(messages("id_missing", language, source=source, column=column, count=int(ids.isna().sum()),
                                 rows=rows))
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        examples = ids[repeated].drop_duplicates().head(3)
        rows = {mask(v): (np.flatnonzero(ids == v)[:3] + 1).tolist() for v in examples}
        raise DataError(messages("id_repeated", language, source=source, column=column,
                                 count=int(ids[repeated].nunique()), rows=rows))
