"""The "snapshot" data source: one row per customer with a churn flag (like Churn_Modelling.csv).

`build_snapshot` turns the raw frame (as `churnlab.core.readers.read_table` returns it) into model-ready rows:

- `customer_id`: the id column pseudonymised with `churnlab.core.privacy.pseudonymise` (keyed HMAC); the raw id
  column is not passed on. A missing or repeated id is a `DataError`.
- `label`: Int8, 1 where the target equals `positive`, 0 where it equals `negative` (compared as text,
  case-insensitive, so 1, 1.0 and "1" match); `labeled`: True. A missing target gives label <NA> and
  labeled False (a row to score, not to train on). Any other value, or a target with one class, is an error.
- `tenure_months` (optional): the tenure column times 12 when `tenure_unit` is "years" (Churn_Modelling's
  whole years: 0 means under a year), as is for "months". The ledger counts the opening month as 1, so
  the two are comparable only to within a year for year-based files.
- Features: every other column, renamed to snake_case ("CreditScore" -> credit_score; Chinese characters are
  kept, "信用分 (分)" -> 信用分_分), with its kind:
  `feature_types` (raw column name -> numeric | categorical | flag) wins; else bool and 0/1 columns are
  flags (bool); integer columns with at most `max_code_levels` distinct values are categorical codes
  (NumOfProducts 1-4: its churn rate is far from monotone); other numbers are numeric; text is categorical
  (pandas `category`, the type the churn models expect). Text with more than `max_levels` distinct
  values is free text or an identifier, not a category: it is dropped with a warning unless declared.

Personal data never passes: the id column is pseudonymised, and `screen` drops, with a warning naming only the
column and the reason, every column that looks personal or like an identifier by its content or by its name:
- by content: values that are mostly e-mail addresses, phone or mobile numbers, PRC resident ID numbers (check
  digit), bank card numbers (Luhn) or Chinese street addresses (`churnlab.contract.personal_data`), integer row
  counters (a permutation of 1..n or 0..n-1) and near-unique large integers (account or card numbers);
- by name: a snake_case part that is personal (`PERSONAL`: surname, name, email, phone, address, ...) or an
  identifier (`IDENTIFIER`: id, row, uuid, ...), or a Chinese term for one anywhere in the name (姓名,
  身份证号, 手机号, 地址, 卡号, ...: `personal_data.CHINESE_NAMES`), unless the content says otherwise: a
  two-valued flag, each value repeated (a yes/no `PhoneService`), cannot hold personal data and is kept, with a
  note in the log. Anything richer under such a name is dropped, even with few distinct values (a file of five
  surnames).
`keep` overrules the screen for the columns it names (a false alarm); `drop` removes further columns. The data
stage reports the dropped columns and their reasons in data.json. Only column names are ever logged.
"""

import difflib
import logging
import re

import numpy as np
import pandas as pd

from churnlab.contract.personal_data import chinese_personal_name, content_reason
from churnlab.core.checks import DataError
from churnlab.core.privacy import pseudonymise
from churnlab.core.readers import check_unique

log = logging.getLogger(__name__)

KINDS = ("numeric", "categorical", "flag")
RESERVED = ("customer_id", "cutoff", "label", "labeled", "tenure_months")
PERSONAL = {"surname", "name", "firstname", "lastname", "forename", "email", "phone", "mobile",
            "telephone", "address", "street", "iban", "ssn", "passport", "zip", "postcode", "birthnumber"}
IDENTIFIER = {"id", "row", "rownum", "uuid", "guid"}
TENURE_FACTOR = {"years": 12, "months": 1}
FLAG_LEVELS = 2  # a column named like personal data is kept only as a yes/no flag: 5 surnames are still surnames
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (extension A, unified, compatibility)


def snake_case(name: str) -> str:
    """'CreditScore' -> 'credit_score', 'NumOfProducts' -> 'num_of_products', 'Has Cr-Card' -> 'has_cr_card'."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", str(name).strip())
    return re.sub(f"[^0-9a-zA-Z{CJK}]+", "_", name).strip("_").lower()


def is_personal(name: str) -> bool:
    """True when a column name looks like personal data or an identifier (see the module docstring)."""
    parts = snake_case(name).split("_")
    joined = {"".join(parts[i:i + 2]) for i in range(len(parts))}
    return bool((set(parts) | joined) & (PERSONAL | IDENTIFIER)) or chinese_personal_name(name)


def _is_row_counter(values: pd.Series) -> bool:
    if not pd.api.types.is_integer_dtype(values) or len(values) < 2 or not values.is_unique:
        return False
    return values.min() in (0, 1) and values.max() - values.min() == len(values) - 1


def personal_reason(values: pd.Series, name: str) -> str | None:
    """Why column `name` must not be a feature (personal data or an identifier), or None: see the module docstring."""
    present = values.dropna()
    by_content = content_reason(values)
    if by_content:
        return by_content
    if _is_row_counter(values):
        return "its values count the rows (1..n): a row number, not a feature"
    if pd.api.types.is_integer_dtype(values) and len(present) > 20 and present.nunique() > 0.95 * len(present) \
            and present.abs().min() >= 100_000:
        return "near-unique large integers: an account, card or customer number"
    if is_personal(name):
        if present.nunique() <= FLAG_LEVELS and 2 * present.nunique() <= len(present):  # each value repeats
            log.info("column %r: its name suggests personal data, but %d distinct value(s) cannot identify anyone: "
                     "kept (data.drop drops it)", name, present.nunique())
            return None
        return "its name says personal data or an identifier"
    return None


def screen(frame: pd.DataFrame, *, keep: list[str] = ()) -> dict[str, str]:
    """{column: reason} for every column of `frame` that must be dropped as personal data or an identifier.

    Columns named in `keep` are never dropped (the user overrules a false alarm).
    """
    reasons = {column: personal_reason(frame[column], column) for column in frame.columns if column not in keep}
    return {column: reason for column, reason in reasons.items() if reason}


def _token(value) -> str:
    """A value as comparable text: 1, 1.0, True, 'true' and ' 1 ' all give '1'; 'Yes' gives 'yes'.

    `-S data.positive=true` reaches params.yaml as the boolean true, while a CSV column holds the text "true".
    """
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | float | np.number) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip().casefold()
    return {"true": "1", "false": "0"}.get(text, text)


def encode_label(target: pd.Series, *, positive, negative, source: str) -> pd.Series:
    """Int8 label: 1 for `positive`, 0 for `negative`, <NA> where missing; any other value is a DataError."""
    present = target.dropna()
    tokens = pd.Series({value: _token(value) for value in present.unique()}, dtype=object)
    pos, neg = _token(positive), _token(negative)
    unknown = tokens[~tokens.isin([pos, neg])]
    if len(unknown):
        raise DataError(f"{source}: target column {target.name!r} has value(s) {unknown.index.tolist()[:5]} that "
                        f"are neither the positive value {positive!r} nor the negative value {negative!r}")
    label = target.map(tokens).map({pos: 1, neg: 0}).astype("Int8")
    if label.nunique() < 2:
        classes = label.dropna().unique().tolist()
        raise DataError(f"{source}: target column {target.name!r} has one class only ({classes} in "
                        f"{int(label.notna().sum())} labeled rows): a churn model needs churners and stayers")
    return label


def infer_kind(values: pd.Series, *, max_code_levels: int) -> str:
    """numeric, categorical or flag, by the rule in the module docstring (without overrides)."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return "flag"
    if pd.api.types.is_numeric_dtype(values):
        if present.isin([0, 1]).all() and present.nunique() == 2:
            return "flag"
        integral = pd.api.types.is_integer_dtype(values) or bool((present == present.round()).all())
        return "categorical" if integral and present.nunique() <= max_code_levels else "numeric"
    return "categorical"


def _as_kind(values: pd.Series, kind: str, source: str) -> pd.Series:
    if kind == "flag":
        tokens = values.dropna().map(_token)
        if not tokens.isin(["0", "1", "true", "false"]).all():
            raise DataError(f"{source}: column {values.name!r} is declared a flag but has values other than "
                            f"0/1/True/False: {sorted(set(tokens) - {'0', '1', 'true', 'false'})[:5]}")
        return values.map(_token, na_action="ignore").map({"1": True, "true": True, "0": False, "false": False})\
            .astype("boolean" if values.isna().any() else bool)
    if kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()]
        if len(bad):
            raise DataError(f"{source}: column {values.name!r} is declared numeric but has {len(bad)} non-number(s)")
        return numbers
    if pd.api.types.is_float_dtype(values) and (values.dropna() == values.dropna().round()).all():
        values = values.astype("Int64")  # integer codes read as float (missing values): '2', not '2.0'
    return values.map(str, na_action="ignore").astype("category")


def _check_names(frame: pd.DataFrame, names: list[str], param: str, source: str) -> None:
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        hints = {n: difflib.get_close_matches(n, list(map(str, frame.columns)), n=1) for n in unknown}
        raise DataError(f"{source}: {param} names column(s) {unknown} not in the file (columns: "
                        f"{list(frame.columns)}; closest: {hints})")


def build_snapshot(raw: pd.DataFrame, *, key: bytes, id_column: str, target: str, positive=1, negative=0,
                   tenure: str | None = None, tenure_unit: str = "years", drop: list[str] = (), keep: list[str] = (),
                   feature_types: dict[str, str] | None = None, max_code_levels: int = 5, max_levels: int = 50,
                   source: str = "snapshot", language: str = "en") -> pd.DataFrame:
    """Model-ready rows from a one-row-per-customer file (see the module docstring for every rule); a missing or
    repeated id is reported in `language` (the report language)."""
    feature_types = dict(feature_types or {})
    _check_names(raw, [id_column, target, *([tenure] if tenure else []), *drop, *keep, *feature_types],
                 "the snapshot params", source)
    bad_kinds = {c: k for c, k in feature_types.items() if k not in KINDS}
    if bad_kinds:
        raise DataError(f"{source}: feature_types {bad_kinds} must be one of {KINDS}")
    if tenure_unit not in TENURE_FACTOR:
        raise DataError(f"{source}: tenure_unit {tenure_unit!r} must be one of {tuple(TENURE_FACTOR)}")
    check_unique(raw, id_column, source=source, language=language)
    rows = pd.DataFrame({
        "customer_id": pseudonymise(raw[id_column].astype(str), key=key).to_numpy(),
        "label": encode_label(raw[target], positive=positive, negative=negative, source=source).array,
    }, index=raw.index)
    rows["labeled"] = rows["label"].notna().to_numpy()
    if tenure:
        months = pd.to_numeric(raw[tenure], errors="coerce") * TENURE_FACTOR[tenure_unit]
        rows["tenure_months"] = months.astype("int64") if months.notna().all() else months.astype("float64")
    features = select_features(raw.drop(columns=[id_column, target, *([tenure] if tenure else []), *drop]),
                               feature_types=feature_types, max_code_levels=max_code_levels,
                               max_levels=max_levels, source=source, keep=keep)
    if not rows["labeled"].all():
        log.warning("%s: %d row(s) have no target value: kept for scoring with labeled False", source,
                    int((~rows["labeled"]).sum()))
    log.info("%s: %d customers, %d churners (%.1f %%), %d features", source, len(rows), int(rows["label"].sum()),
             100 * rows["label"].mean(), features.shape[1])
    return pd.concat([rows, features], axis=1).reset_index(drop=True)


def select_features(frame: pd.DataFrame, *, feature_types: dict[str, str], max_code_levels: int, max_levels: int,
                    source: str, keep: list[str] = ()) -> pd.DataFrame:
    """The feature columns of `frame`, typed and renamed to snake_case; personal columns (`screen`) dropped."""
    kept, kinds = {}, {}
    personal = screen(frame, keep=keep)
    for column in frame.columns:
        values = frame[column]
        if column in personal:
            log.warning("%s: dropped column %r: %s (data.keep keeps it)", source, column, personal[column])
            continue
        kind = feature_types.get(column) or infer_kind(values, max_code_levels=max_code_levels)
        if kind == "categorical" and column not in feature_types and values.nunique() > max_levels:
            log.warning("%s: dropped column %r: %d distinct values is free text or an identifier, not a category "
                        "(declare it in feature_types to keep it)", source, column, values.nunique())
            continue
        name = snake_case(column)
        if name in RESERVED or name in kept:
            raise DataError(f"{source}: column {column!r} becomes {name!r}, which is reserved or already taken "
                            f"(reserved: {RESERVED}); rename or drop it")
        kept[name], kinds[name] = _as_kind(values.rename(column), kind, source), kind
    log.info("%s: feature kinds %s", source, kinds)
    return pd.DataFrame(kept, index=frame.index)


def feature_names(rows: pd.DataFrame) -> list[str]:
    """The feature columns of `build_snapshot` rows (everything but the reserved columns)."""
    return [c for c in rows.columns if c not in RESERVED]


def snapshot_table(rows: pd.DataFrame, *, as_of: str) -> pd.DataFrame:
    """The features stage's snapshots from `build_snapshot` rows: one cutoff, `as_of` (a month-end). The tenure
    (months), known at the snapshot, is a feature as in the simulator's snapshots; integer features become
    float64, the type of every number in the simulator's snapshots and the models' signature."""
    cutoff = pd.Timestamp(as_of)
    if cutoff != cutoff + pd.offsets.MonthEnd(0):
        raise DataError(f"params.yaml: data.as_of {as_of!r} must be a month-end date, e.g. 2000-01-31")
    keys = pd.DataFrame({"customer_id": rows["customer_id"].astype(str),
                         "cutoff": pd.Series(cutoff, index=rows.index, dtype="datetime64[ns]"),
                         "label": rows["label"].astype("Int8"), "labeled": rows["labeled"].astype(bool)})
    features = rows[[*feature_names(rows), *(["tenure_months"] if "tenure_months" in rows else [])]]
    numbers = [c for c in features if pd.api.types.is_integer_dtype(features[c])]
    return pd.concat([keys, features.astype(dict.fromkeys(numbers, "float64"))], axis=1)  # double, as the models'



def snapshot_lifetimes(rows: pd.DataFrame, *, as_of: str, tenure_unit: str) -> pd.DataFrame:
    """Lifetimes (the `churnlab.features.lifetimes` columns) from a snapshot's tenure: an approximation.

    A churner's duration is its tenure when it left; a stayer is censored at its tenure on `as_of`. Tenure
    in whole years is taken at the middle of the year (12 y + 6 months: 0 years means under one), tenure in
    months as given (at least 1). There is no left truncation to undo (entry_tenure 0), although customers
    who left before the file was drawn are missing from it; and the covariates are measured at the
    snapshot, for churners around their exit, not at the start of the relationship. Rows without a label
    or a tenure are left out. Both `entry_` and `last_` covariates are the snapshot's features.
    """
    known = rows["labeled"].astype(bool) & rows["tenure_months"].notna()
    part = rows[known].reset_index(drop=True)
    duration = part["tenure_months"].astype("float64") + (6 if tenure_unit == "years" else 0)
    event = part["label"].astype("int8").to_numpy()
    when = pd.Series(pd.Timestamp(as_of), index=part.index, dtype="datetime64[ns]")
    out = pd.DataFrame({
        "customer_id": part["customer_id"].astype(str), "entry_month": when, "entry_tenure": 0,
        "exit_month": when, "duration": duration.clip(lower=1).round().astype("int64"), "event": event,
        "churn_type": pd.Series(np.where(event == 1, "voluntary_closure", None), dtype="string"),
        "censor_reason": pd.Series(np.where(event == 1, None, "end_of_data"), dtype="string"),
        "active_until": when})
    features = part[feature_names(part)]
    return pd.concat([out, features.add_prefix("entry_"), features.add_prefix("last_")], axis=1)
