"""The words a person reads, from one place (core/words.yaml): column labels and values in English or Chinese.

Files, metrics and params keep their machine names; notebooks, reports and the model card show tables through
`readable`, which labels the columns in the bank's words, writes p-values as a reader expects ("< 0.001", not
3.49e-187), a median the curve never reaches as "not reached" (not `inf`), and flags as yes/no.

Besides table labels, words.yaml holds the terms of the bank's early-warning system: the indicator catalogue in the
plan's three groups (客户属性指标, 银行业务指标, 市场环境指标) with each indicator's short name and Chinese meaning (its
English meaning, unit and look-back stay in `churnlab.contract.indicators`), units and currencies, reason-code
directions, retention actions and channels, risk grades, segments, value tiers, behaviour-cluster words and the
lifecycle stages (考察期, 成长期, 成熟期, 衰退期). `term` reads one of them, `reason_text` and `cluster_name` compose
the reason codes and cluster names, `catalogue_words` gives the catalogue (reports/indicators.csv) in a language;
`figure` gives the notebooks' figure labels, `message` the data validation messages;
`glossary_markdown` writes them all as docs/glossary.md (`python -m churnlab.core.words` regenerates that file).
The model card's sentences (`card`) and the Chinese data contract (`contract_doc`, `contract_fields`) live here too.

`language` is en or zh, or (report.language) both: English with the Chinese in brackets. Money is labelled in
`report_currency(language, currency)`: report.currency, or CNY for Chinese and EUR otherwise; nothing is converted.
"""

import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

LANGUAGES = ("en", "zh")  # every word has both
SETTINGS = (*LANGUAGES, "both")  # report.language; both: English with the Chinese in brackets, "Grade (风险等级)"
CURRENCIES = ("CNY", "EUR")  # report.currency
P_VALUES = {"p", "p_value", "ks_pvalue"}  # columns holding p-values
SMALLEST_P = 0.001  # p-values below this print as "< 0.001": more digits claim a precision no test has
GLOSSARY = Path("docs/glossary.md")  # glossary_markdown's output, committed
TERMS = (  # the sections `term` reads
         "indicator_groups", "units", "currency", "directions", "actions", "channels", "action_basis", "grades",
         "segments", "value_tiers", "cluster_nouns", "cluster_adjectives", "cluster_descriptors", "lifecycle")


@cache
def glossary() -> dict[str, dict[str, dict[str, str]]]:
    """core/words.yaml: {section: {name: {en, zh}}} (`indicators` by group, with `zh_meaning`)."""
    return yaml.safe_load((Path(__file__).with_name("words.yaml")).read_text(encoding="utf-8"))


def _check(language: str) -> None:
    if language not in SETTINGS:
        raise ValueError(f"language must be one of {', '.join(SETTINGS)}, not {language!r}")


def report_currency(language: str, currency: str | None = None) -> str:
    """report.currency, or for null the language's: CNY when the report is in Chinese, EUR otherwise."""
    if currency is None:
        return "CNY" if language == "zh" else "EUR"
    if currency not in CURRENCIES:
        raise ValueError(f"currency must be one of {', '.join(CURRENCIES)} or null, not {currency!r}")
    return currency


def _in_brackets(en: str, zh: str) -> str:
    return en if en == zh else f"{en} ({zh})"


def say(entry: dict[str, str], language: str, *, currency: str | None = None, **fields) -> str:
    """An entry of words.yaml in `language` ("both": "English (中文)" where they differ), its {fields} filled in
    and {currency} as the word of `report_currency(language, currency)`."""
    _check(language)
    code = report_currency(language, currency)
    if language == "both":
        return _in_brackets(*(say(entry, lang, currency=code, **fields) for lang in LANGUAGES))
    text = entry[language]
    if "{" not in text:
        return text
    return text.format(currency=glossary()["currency"][code][language], **fields)


def label(column: str, language: str = "en", *, currency: str | None = None) -> str:
    """The label of a column (KeyError naming core/words.yaml when it has none: add it there, in both languages)."""
    try:
        entry = glossary()["columns"][column]
    except KeyError:
        raise KeyError(f"core/words.yaml has no label for column {column!r}: add it under `columns`") from None
    return say(entry, language, currency=currency)


def word(value, language: str = "en", *, currency: str | None = None) -> str:
    """A value's word (model names, yes/no, signals), or the value itself as text when it has none."""
    _check(language)
    entry = glossary()["values"].get(str(value))
    return say(entry, language, currency=currency) if entry else str(value)


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


def readable(frame: pd.DataFrame, language: str = "en", *, digits: int = 3, currency: str | None = None
             ) -> pd.DataFrame:
    """`frame` for a reader: columns labelled, p-values and infinities written out, floats rounded to `digits`,
    index values (model names, signals) in words, money labelled in `currency` (default: the language's, see
    `report_currency`). Every column needs a label in core/words.yaml."""
    out = frame.round(digits)
    for column in out.columns:
        if column in P_VALUES:
            out[column] = frame[column].map(p_value_text)
        elif out[column].dtype == bool or out[column].dtype == float:
            out[column] = out[column].map(lambda v: _cell(v, language)).astype(object)
    out.columns = [label(c, language, currency=currency) for c in out.columns]
    if not isinstance(out.index, pd.RangeIndex | pd.MultiIndex):
        out.index = out.index.map(lambda v: word(v, language, currency=currency))
    out.index.names = [label(name, language, currency=currency) if name else name for name in frame.index.names]
    return out


def figure(name: str, language: str = "en", *, currency: str | None = None, **fields) -> str:
    """A notebook figure's title, axis label or legend entry (words.yaml `figures`), its {fields} filled in."""
    try:
        entry = glossary()["figures"][name]
    except KeyError:
        raise KeyError(f"core/words.yaml has no figure word {name!r}: add it under `figures`") from None
    return say(entry, language, currency=currency, **fields)


def message(name: str, language: str = "en", **fields) -> str:
    """A data validation message (words.yaml `validation`) in `language`, en or zh, its {fields} filled in. A check
    that reports in both languages renders its problems once per language (`in_languages`)."""
    try:
        entry = glossary()["validation"][name]
    except KeyError:
        raise KeyError(f"core/words.yaml has no validation message {name!r}: add it under `validation`") from None
    return say(entry, language, **fields)


def messages(name: str, language: str = "en", **fields) -> str:
    """`message` in each language of the setting `language` (both: the English, then the Chinese on the next line)."""
    return "\n".join(message(name, lang, **fields) for lang in in_languages(language))


def in_languages(language: str) -> tuple[str, ...]:
    """The languages a message is written in for the setting `language`: both is English, then Chinese."""
    _check(language)
    return LANGUAGES if language == "both" else (language,)


@cache
def indicators() -> dict[str, dict[str, str]]:
    """The catalogue's words by feature: {feature: {group, en, zh, zh_meaning}} (words.yaml keeps them by group)."""
    return {feature: {"group": group, **entry}
            for group, entries in glossary()["indicators"].items() for feature, entry in entries.items()}


def term(section: str, name, language: str = "en", *, currency: str | None = None) -> str:
    """The word for `name` in a section of words.yaml (`TERMS`, or "indicators"), money in `currency`'s word
    (default: `report_currency(language)`). KeyError naming the section when the name has none."""
    _check(language)
    entries = indicators() if section == "indicators" else glossary()[section]
    try:
        entry = entries[str(name)]
    except KeyError:
        raise KeyError(f"core/words.yaml has no {section} entry {name!r}: add it there, in both languages") from None
    return say(entry, language, currency=currency)


def reason_text(feature: str, direction: str, language: str = "en") -> str:
    """A reason code in words: "<indicator>: <direction>" (a column outside the catalogue reads as its name in
    words; a category's level, which no glossary can know, as itself)."""
    if language == "both":
        return _in_brackets(reason_text(feature, direction), reason_text(feature, direction, "zh"))
    name = term("indicators", feature, language) if feature in indicators() else feature.replace("_", " ")
    way = term("directions", direction, language) if direction in glossary()["directions"] else str(direction)
    return f"{name}：{way}" if language == "zh" else f"{name}: {way}"


def catalogue_words(catalogue: pd.DataFrame, language: str = "en", *, currency: str | None = None) -> pd.DataFrame:
    """The indicator catalogue (reports/indicators.csv: feature, group, meaning, unit, lookback_months and maybe iv)
    for a reader: each indicator's group, machine name, name, meaning and unit in `language`. A column the glossary
    does not know (a snapshot file's) keeps its machine name and the catalogue's meaning."""
    if language == "both":
        en, zh = (catalogue_words(catalogue, lang, currency=report_currency("en", currency)) for lang in LANGUAGES)
        text = ["group", "indicator", "meaning", "unit"]
        return en.assign(**{c: [_in_brackets(a, b) for a, b in zip(en[c], zh[c], strict=True)] for c in text})
    known = indicators()

    def words(row) -> dict:
        entry = known.get(row.feature)
        units = glossary()["units"]
        return {"group": term("indicator_groups", row.group, language) if row.group in glossary()["indicator_groups"]
                else row.group,
                "feature": f"`{row.feature}`", "indicator": say(entry, language) if entry else row.feature,
                "meaning": entry["zh_meaning"] if entry and language == "zh" else row.meaning,
                "unit": term("units", row.unit, language, currency=currency) if row.unit in units else row.unit,
                "lookback_months": row.lookback_months, **({"iv": row.iv} if "iv" in catalogue else {})}

    return pd.DataFrame([words(row) for row in catalogue.itertuples()])


CLUSTER = re.compile(r"^(?P<head>[^(]+?)(?: \((?P<descriptors>[^)]*)\))?(?: (?P<number>\d+))?$")


def cluster_name(name: str, language: str = "en") -> str:
    """A behaviour cluster's name (churnlab.segment.clusters: "[adjective] noun[ (descriptors)][ number]") in
    `language`; a descriptor the glossary does not know (a snapshot column's "high credit score") stays as it is."""
    _check(language)
    words, match = glossary(), CLUSTER.match(name)
    if language == "both":
        return _in_brackets(name, cluster_name(name, "zh"))
    if language == "en" or match is None:
        return name
    adjective, noun = "", match["head"]
    if noun not in words["cluster_nouns"]:  # adjectives are one word: "dormant low-balance customers"
        adjective, _, noun = noun.partition(" ")
    if noun not in words["cluster_nouns"] or (adjective and adjective not in words["cluster_adjectives"]):
        return name
    text = term("cluster_nouns", noun, language)
    if adjective:
        text = term("cluster_adjectives", adjective, language) + text
    if match["descriptors"]:
        described = [term("cluster_descriptors", d, language) if d in words["cluster_descriptors"] else d
                     for d in match["descriptors"].split(", ")]
        text += f"（{'、'.join(described)}）"
    return f"{text} {match['number']}" if match["number"] else text


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _both(section: str, name: str) -> str:
    entry = glossary()["sections"][name] if section == "sections" else glossary()[section][name]
    return f"{entry['en']} {entry['zh']}"


def glossary_markdown() -> str:
    """docs/glossary.md: every term of words.yaml in English and Chinese, the indicators by the plan's groups."""
    words, heading = glossary(), lambda name: _both("sections", name)
    lines = [f"# {heading('glossary')}", "",
             "Generated from `src/churnlab/core/words.yaml` by `python -m churnlab.core.words`: edit the YAML, then "
             "rerun. 由 `src/churnlab/core/words.yaml` 生成，请修改该文件后重新运行 `python -m churnlab.core.words`。",
             "", "Money is shown in the report currency (`report.currency`: CNY 元 or EUR 欧元), written {currency} "
             "below. 金额以报告币种显示（`report.currency`），下表记作 {currency}。",
             "", f"## {heading('indicators')}", "",
             "English meanings, units and look-back windows: docs/indicators.md. 英文含义、单位及回看窗口见 "
             "docs/indicators.md。"]
    for group, entries in words["indicators"].items():
        lines += ["", f"### {_both('indicator_groups', group)}", "",
                  _row(heading("name"), "English", "中文", "含义"), "|---|---|---|---|"]
        lines += [_row(f"`{f}`", e["en"], e["zh"], e["zh_meaning"]) for f, e in entries.items()]
    for section in (*TERMS, "columns", "values", "figures"):
        lines += ["", f"## {heading(section)}", "", _row(heading("name"), "English", "中文"), "|---|---|---|"]
        lines += [_row(f"`{name}`", e["en"], e["zh"]).replace("\n", " ") for name, e in words[section].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    GLOSSARY.write_text(glossary_markdown(), encoding="utf-8")
