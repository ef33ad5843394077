"""Validation of the contract tables: each table against its schema, then the rules between tables.

Every problem of every table and every cross-table rule is collected and raised as one `ContractError`, grouped by
file, each naming the column, the rule and example rows (data rows counted from 1, ids masked to their last two
characters). Rules that real banks' data break without harm (a gap in a customer's months, a customer without
monthly rows, a campaign after churn) are warnings with a count instead. The list of rules is the data contract's
text, in `churnlab.contract.schema`'s docstring and docs/data-contract.md.

Messages are in the report language (params report.language: en, zh, or both, English then Chinese), their words
from core/words.yaml `validation` (`churnlab.core.words.message`); column, table and file names stay as in the files.
The checks take `language` en or zh; the `validate*` functions also take both and render the problems in Chinese too
only when there are any.
"""

import logging

import numpy as np
import pandas as pd
import pandera.pandas as pa

from churnlab.contract.schema import ID, TABLES, ContractError, schema
from churnlab.core.readers import mask
from churnlab.core.words import in_languages, message

log = logging.getLogger(__name__)


# --- messages: 1-based data rows, masked ids ------------------------------------------------------------

def _rows(frame: pd.DataFrame, labels, limit: int = 5) -> list[int]:
    """The 1-based data rows of index labels (data row 1 is the first row after a file's header)."""
    labels = pd.Index(pd.Series(labels).dropna().unique()[:limit])
    return sorted(int(p) + 1 for p in frame.index.get_indexer_for(labels) if p >= 0)[:limit]


def _value(column: str, value) -> str:
    """One value for a message: an id masked to its last two characters, a date as an ISO date."""
    if column == ID.name:
        return repr(mask(value))
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    return repr(value.item() if isinstance(value, np.generic) else value)


def show_rows(examples: list[tuple[int, dict]], language: str) -> str:
    """'data row 3 (customer_id '******23', month 2021-04-30), ...' for (1-based data row, {column: value}) pairs;
    shared by the pandas and the Spark validation, so both say the same."""
    return ", ".join(message("data_row", language, row=int(row),
                             values=", ".join(f"{c} {_value(c, v)}" for c, v in values.items()))
                     for row, values in examples)


def _show(frame: pd.DataFrame, positions, columns: list[str], language: str, limit: int = 3) -> str:
    """`show_rows` for the first `limit` positions of `frame`."""
    return show_rows([(int(p) + 1, {c: frame[c].iloc[p] for c in columns if c in frame})
                      for p in list(positions)[:limit]], language)


def _month_numbers(dates: pd.Series) -> pd.Series:
    """12 * year + month - 1: consecutive month-ends differ by one."""
    return 12 * dates.dt.year + dates.dt.month - 1


def _month_end(number) -> str:
    number = int(number)
    return str((pd.Timestamp(year=number // 12, month=number % 12 + 1, day=1) + pd.offsets.MonthEnd(0)).date())


# --- one table ------------------------------------------------------------------------------------------


def _duplicates(frame: pd.DataFrame, keys: list[str], language: str, limit: int = 3) -> list[str]:
    """One problem for all repeated keys of a table: the key columns, how many keys repeat, and their rows."""
    if not set(keys) <= set(frame.columns):
        return []
    repeated = frame.duplicated(keys, keep=False).to_numpy() & frame[keys].notna().all(axis=1).to_numpy()
    positions = np.flatnonzero(repeated)
    if not len(positions):
        return []
    group = frame.iloc[positions].groupby(keys, sort=False).ngroup().to_numpy()
    examples = [((positions[group == g][:5] + 1).tolist(), {k: frame[k].iloc[positions[group == g][0]] for k in keys})
                for g in pd.unique(group)[:limit]]
    return [duplicate_problem(keys, examples, count=len(pd.unique(group)), rows=len(positions), language=language)]


def duplicate_problem(keys: list[str], examples: list[tuple[list[int], dict]], *, count: int, rows: int,
                      language: str) -> str:
    """The one problem of a table's repeated keys: `count` keys repeat in `rows` rows; `examples` are the first keys'
    (1-based data rows, {key column: value})."""
    shown = "; ".join(message("data_rows", language, rows=list(map(int, numbers)),
                              key=", ".join(f"{k} {_value(k, v)}" for k, v in key.items()))
                      for numbers, key in examples)
    return message("duplicate_key", language, keys=", ".join(keys), count=count, rows=rows, examples=shown)


def _dtype_problem(frame: pd.DataFrame, column: str, check: str, found, language: str) -> list[str]:
    """A dtype failure; an int64 column read as floats is explained by its fractions (missing values are
    reported as missing, so they give no second problem here)."""
    values = frame[column]
    if check == "dtype('int64')" and pd.api.types.is_float_dtype(values):
        present = values.dropna()
        fractions = present[present % 1 != 0]  # inf % 1 is NaN, so inf counts too
        if len(fractions):
            return [message("whole_numbers", language, column=column, count=len(fractions),
                            rows=_rows(frame, fractions.index), values=fractions.head(5).tolist())]
        if len(present) < len(values):
            return []
    return [message("dtype", language, column=column, expected=check, found=found)]


def _describe_failures(failures: pd.DataFrame, frame: pd.DataFrame, keys: list[str], language: str,
                       limit: int = 5) -> list[str]:
    """pandera's failure cases as problem lines, one per (column, rule), with 1-based data rows."""
    lines = []
    if failures["check"].eq("multiple_fields_uniqueness").any():
        lines += _duplicates(frame, keys, language)
    failures = failures[failures["check"].ne("multiple_fields_uniqueness")]
    for (column, check), cases in failures.groupby(["column", "check"], dropna=False, sort=False):
        column = "(table)" if pd.isna(column) else column
        if check in ("column_in_schema", "column_in_dataframe"):
            lines.append(message("extra_columns" if check == "column_in_schema" else "missing_columns", language,
                                 columns=sorted(cases["failure_case"].astype(str))))
        elif str(check).startswith("dtype("):
            lines += _dtype_problem(frame, column, str(check), cases["failure_case"].iloc[0], language)
        else:
            lines.append(rule_problem(column, str(check), count=len(cases), rows=_rows(frame, cases["index"], limit),
                                      values=cases["failure_case"].head(limit).tolist(), language=language))
    return lines


def rule_problem(column: str, check: str, *, count: int, rows: list[int], values: list, language: str) -> str:
    """One failed column rule (pandera's check name, e.g. not_nullable, finite, isin(...)): how many rows, the first
    1-based data rows and values (ids masked); shared by the pandas and the Spark validation."""
    values = [mask(v) if column == ID.name else v for v in values]
    found = {"column": column, "count": count, "rows": rows, "values": values}
    if check == "not_nullable":
        return message("blank_id" if column == ID.name else "missing_values", language, **found)
    if check == "finite":
        return message("not_finite", language, **found)
    return message("fails_check", language, check=check, **found)


def _table_rules(frame: pd.DataFrame, table: str, language: str) -> list[str]:
    """Rules on a whole table that column checks cannot say: the market's months are consecutive month-ends."""
    if table != "market" or not _is_dates(frame, "month") or frame["month"].isna().all():
        return []
    present = np.unique(_month_numbers(frame["month"].dropna()).to_numpy())
    missing = np.setdiff1d(np.arange(present[0], present[-1] + 1), present)
    if not len(missing):
        return []
    return [market_gap_problem(present[0], present[-1], missing[:5], count=len(missing), language=language)]


def market_gap_problem(first, last, examples, *, count: int, language: str) -> str:
    """`count` month-ends missing between the month numbers `first` and `last` (12 * year + month - 1), e.g.
    `examples`; shared by the pandas and the Spark validation."""
    return message("market_gap", language, count=count, first=_month_end(first), last=_month_end(last),
                   examples=[_month_end(m) for m in examples])


def table_problems(frame: pd.DataFrame, table: str, language: str = "en") -> list[str]:
    """Every way `frame` breaks the contract of `table` on its own: columns, values, key, table rules."""
    try:
        schema(table).validate(frame, lazy=True)
        problems = []
    except pa.errors.SchemaErrors as err:
        problems = _describe_failures(err.failure_cases, frame, TABLES[table][1], language)
    return problems + _table_rules(frame, table, language)


def _report(problems: dict[str, list[str]], sources: dict[str, str], language: str) -> str:
    """One message for every problem: a block per table (named by its file, if known), a line per problem."""
    blocks = [message("report_block", language, file=sources.get(t) or t, table=t) + "\n  - " + "\n  - ".join(lines)
              for t, lines in problems.items() if lines]
    head = [message("report_head", language, count=len(blocks))] if len(blocks) > 1 else []
    return "\n".join(head + blocks)


def check_problems(find, language: str, sources: dict[str, str]) -> None:
    """Run `find(language)` -> (errors by table, warnings) in each language of `language` (the next one only when
    the first found something to say); log the warnings, raise one ContractError with the errors in every language."""
    found = {}
    for lang in in_languages(language):
        found[lang] = find(lang)
        if not any(found[lang][0].values()) and not found[lang][1]:
            return
    for _, warnings in found.values():
        for warning in warnings:
            log.warning("%s", warning)
    if any(lines for errors, _ in found.values() for lines in errors.values()):
        raise ContractError("\n".join(_report(errors, sources, lang) for lang, (errors, _) in found.items()))


def validate(frame: pd.DataFrame, table: str, *, source: str | None = None, language: str = "en") -> pd.DataFrame:
    """Validate one table against the contract and return it; raise ContractError listing every problem."""
    check_problems(lambda lang: ({table: table_problems(frame, table, lang)}, []), language, {table: source})
    return frame


# --- between tables -------------------------------------------------------------------------------------


def _is_dates(frame: pd.DataFrame | None, column: str) -> bool:
    return frame is not None and column in frame and pd.api.types.is_datetime64_any_dtype(frame[column])


def _by_id(ids: pd.Series, values: pd.Series) -> pd.Series:
    """`values` indexed by customer id (the first row of an id; rows without an id left out), for `.map`."""
    lookup = pd.Series(values.to_numpy(), index=ids.to_numpy())
    return lookup[lookup.index.notna() & ~lookup.index.duplicated()]


def _whole(ids: pd.Series) -> pd.Series:
    """Ids with a trailing '.0' dropped ('1234.0' -> '1234'): how a float column writes whole-number ids."""
    return ids.where(ids.isna(), ids.astype(str).str.replace(r"^([+-]?\d+)\.0+$", r"\1", regex=True))


def _unknown(ids: dict[str, pd.Series]) -> dict[str, np.ndarray]:
    known = pd.Index(ids["customers"].dropna().unique())
    return {t: (s.notna() & ~s.isin(known)).to_numpy() for t, s in ids.items() if t != "customers"}


def _known_ids(tables: dict, ids: dict[str, pd.Series], where, errors: dict[str, list[str]],
               language: str) -> dict[str, pd.Series]:
    """Report ids with no row in customers, or, when ids match once a '.0' is dropped, that the files' id types
    differ. Returns the ids the other rules compare: without the '.0' in that case, so one mistake is one problem."""
    unknown = _unknown(ids)
    if not any(u.any() for u in unknown.values()):
        return ids
    whole = {t: _whole(s) for t, s in ids.items()}
    matched = {t: u & whole[t].isin(pd.Index(whole["customers"].dropna().unique())).to_numpy()
               for t, u in unknown.items()}
    for t in [t for t, m in matched.items() if m.any()]:
        first = int(np.flatnonzero(matched[t])[0])
        example, common = ids[t].iloc[first], whole[t].iloc[first]
        twin = ids["customers"][whole["customers"].eq(common).to_numpy()].iloc[0]
        here, there = ("id_decimals", "id_whole") if str(example) != common else ("id_whole", "id_decimals")
        errors[t].append(message("id_types", language, file=where(t), customers=where("customers"),
                                 count=ids[t][matched[t]].nunique(), here=message(here, language),
                                 there=message(there, language), example=mask(example), twin=mask(twin)))
    if any(m.any() for m in matched.values()):
        ids, unknown = whole, _unknown(whole)
    for t, u in unknown.items():
        if u.any():
            raw = tables[t]["customer_id"]
            examples = [(v, (np.flatnonzero(raw.eq(v).to_numpy())[:3] + 1).tolist()) for v in pd.unique(raw[u])[:3]]
            errors[t].append(unknown_ids_problem(examples, count=len(pd.unique(raw[u])), rows=int(u.sum()),
                                                 customers=where("customers", True), language=language))
    return ids


def unknown_ids_problem(examples: list[tuple[str, list[int]]], *, count: int, rows: int, customers: str,
                        language: str) -> str:
    """Ids with no row in customers: `count` ids in `rows` rows; `examples` (id, its first 1-based data rows)."""
    shown = [f"{mask(v)!r}: {list(map(int, numbers))}" for v, numbers in examples]
    return message("unknown_ids", language, count=count, customers=customers, rows=rows,
                   examples=f"{{{', '.join(shown)}}}")


def month_gaps(tables: dict, codes: np.ndarray, language: str = "en", limit: int = 3) -> tuple[int, int, str]:
    """Customers whose monthly rows skip a month: how many, the month-ends missing in all, and examples.

    `codes` number the monthly rows' customers (pd.factorize, -1 without an id). Sorting (customer, month)
    pairs once finds every gap (a repeated pair is a step of 0: the duplicate-key rule's business)."""
    numbers = _month_numbers(tables["monthly"]["month"]).to_numpy(dtype="float64")
    valid = (codes >= 0) & ~np.isnan(numbers)
    if not valid.any():
        return 0, 0, ""
    first = int(numbers[valid].min())
    span = int(numbers[valid].max()) - first + 1
    pairs = np.sort(codes[valid].astype(np.int64) * span + (numbers[valid] - first).astype(np.int64))
    customer, month = np.divmod(pairs, span)
    gaps = np.flatnonzero((np.diff(customer) == 0) & (np.diff(month) > 1))  # a gap between pairs i and i + 1
    examples = []
    for i in gaps[np.unique(customer[gaps], return_index=True)[1]][:limit]:
        before, after = (int(np.flatnonzero((codes == customer[i]) & (numbers == first + month[j]))[0])
                         for j in (i, i + 1))
        examples.append(month_gap_example(tables["monthly"][ID.name].iloc[before], first + month[i],
                                          first + month[i + 1], before=before + 1, after=after + 1,
                                          language=language))
    return len(np.unique(customer[gaps])), int((month[gaps + 1] - month[gaps] - 1).sum()), "; ".join(examples)


def month_gap_example(customer_id, previous, following, *, before: int, after: int, language: str) -> str:
    """A customer's months skipped between the month numbers `previous` and `following` (12 * year + month - 1),
    the rows of those two months being the 1-based data rows `before` and `after`; shared with the Spark rules."""
    return message("month_gap", language, customer=_value(ID.name, customer_id), first=_month_end(previous + 1),
                   last=_month_end(following - 1), before=before, after=after)


def relation_problems(tables: dict[str, pd.DataFrame], sources: dict[str, str] | None = None,
                      language: str = "en") -> tuple[dict[str, list[str]], list[str]]:
    """The cross-table rules (module docstring): errors by table, and warnings (each naming its file).

    A rule whose columns are absent or mistyped is skipped: the table's own problems already say why.
    Vectorised, for 50,000 customers x 48 months (the simulator checks every block of 10,000).
    """
    sources = sources or {}

    def where(table: str, named: bool = False) -> str:  # the file, or with `named` 'customers (its file)'
        return f"{table} ({sources[table]})" if named and sources.get(table) else sources.get(table) or table

    errors, warnings = {t: [] for t in tables}, []

    def error(table: str, bad: np.ndarray, rule: str, columns: list[str]) -> None:
        if bad.any():
            errors[table].append(message("rule_rows", language, rule=rule, count=int(bad.sum()),
                                         examples=_show(tables[table], np.flatnonzero(bad), columns, language)))

    ids = {t: f["customer_id"] for t, f in tables.items() if t != "market" and "customer_id" in f}
    if "customers" not in ids:
        return errors, warnings
    ids = _known_ids(tables, ids, where, errors, language)
    customers, monthly = tables["customers"], tables.get("monthly")
    events, campaigns, market = tables.get("churn_events"), tables.get("campaigns"), tables.get("market")
    opened = _by_id(ids["customers"], customers["open_date"]) if _is_dates(customers, "open_date") else None
    churned = _by_id(ids["churn_events"], events["churn_month"]) \
        if "churn_events" in ids and _is_dates(events, "churn_month") else None
    codes, present = pd.factorize(ids["monthly"]) if "monthly" in ids else (None, None)
    if "monthly" in ids and _is_dates(monthly, "month"):
        month, keys = monthly["month"], ["customer_id", "month"]
        if opened is not None:
            early = (month < ids["monthly"].map(opened) + pd.offsets.MonthEnd(0)).to_numpy()
            error("monthly", early, message("month_before_open", language, customers=where("customers", True)), keys)
        if churned is not None:
            late = (month > ids["monthly"].map(churned)).to_numpy()
            error("monthly", late, message("month_after_churn", language, events=where("churn_events", True)), keys)
        if _is_dates(market, "month") and market["month"].notna().any():
            first, last = market["month"].min(), market["month"].max()
            error("monthly", ((month < first) | (month > last)).to_numpy(), message(
                "month_outside_market", language, market=where("market", True), first=first.date(), last=last.date()),
                keys)
        customers_gapped, months_missing, examples = month_gaps(tables, codes, language)
        if customers_gapped:
            warnings.append(message("month_gaps", language, file=where("monthly"), count=customers_gapped,
                                    months=months_missing, examples=examples))
    if "monthly" in ids:
        alone = (ids["customers"].notna() & ~ids["customers"].isin(present)).to_numpy()
        if alone.any():
            warnings.append(message("no_monthly_rows", language, file=where("customers"), count=int(alone.sum()),
                                    monthly=where("monthly", True),
                                    examples=_show(customers, np.flatnonzero(alone), ["customer_id"], language)))
    if churned is not None and opened is not None:
        before = (events["churn_month"] < ids["churn_events"].map(opened) + pd.offsets.MonthEnd(0)).to_numpy()
        error("churn_events", before, message("churn_before_open", language, customers=where("customers", True)),
              ["customer_id", "churn_month"])
    if churned is not None and "campaigns" in ids and _is_dates(campaigns, "month"):
        after = (campaigns["month"] > ids["campaigns"].map(churned)).to_numpy()
        if after.any():
            warnings.append(message("campaign_after_churn", language, file=where("campaigns"),
                                    events=where("churn_events", True), count=int(after.sum()),
                                    examples=_show(campaigns, np.flatnonzero(after), ["customer_id", "month"],
                                                   language)))
    return errors, warnings


def validate_relations(tables: dict[str, pd.DataFrame], *, sources: dict[str, str] | None = None,
                       language: str = "en") -> None:
    """The cross-table rules: log each warning; raise one ContractError listing every error."""
    check_problems(lambda lang: relation_problems(tables, sources, lang), language, sources or {})


def all_problems(tables: dict[str, pd.DataFrame], sources: dict[str, str],
                 language: str = "en") -> tuple[dict[str, list[str]], list[str]]:
    """Every problem of every table and of the relations between them, by table; and the warnings."""
    problems = {name: table_problems(frame, name, language) for name, frame in tables.items()}
    errors, warnings = relation_problems(tables, sources, language)
    return {name: problems[name] + errors[name] for name in tables}, warnings


def validate_all(tables: dict[str, pd.DataFrame], sources: dict[str, str] | None = None, *,
                 language: str = "en") -> dict[str, pd.DataFrame]:
    """Validate every contract table and the relations between them; raise one ContractError listing every
    problem of every table, grouped by table (or file), in `language` (en, zh or both). Warnings are logged."""
    checked = {name: tables[name] for name in TABLES}
    check_problems(lambda lang: all_problems(checked, sources or {}, lang), language, sources or {})
    return checked
