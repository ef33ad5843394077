"""The words a reader sees: every label in both languages, p-values and infinities written out, clear errors."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from churnlab.core.words import (
    GLOSSARY,
    LANGUAGES,
    TERMS,
    catalogue_words,
    cluster_name,
    glossary,
    glossary_markdown,
    indicators,
    label,
    p_value_text,
    readable,
    reason_text,
    report_currency,
    term,
    word,
)


def test_every_entry_has_both_languages_and_no_empty_word():
    for section in ("columns", "values"):
        for name, entry in glossary()[section].items():
            assert set(entry) == set(LANGUAGES), f"{section}.{name}"
            assert all(str(entry[lang]).strip() for lang in LANGUAGES), f"{section}.{name}"


def test_chinese_labels_hold_chinese_characters():
    for name, entry in glossary()["columns"].items():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry["zh"]), f"columns.{name}: {entry['zh']!r}"


@pytest.mark.parametrize(("p", "text"), [(3.49e-187, "< 0.001"), (0.0009, "< 0.001"), (0.001, "0.001"),
                                         (0.04567, "0.046"), (np.nan, "n/a")])
def test_p_values_are_written_as_a_reader_expects(p, text):
    assert p_value_text(p) == text


def test_readable_labels_columns_and_writes_out_p_values_infinities_and_flags():
    frame = pd.DataFrame({"covariate": ["age"], "hazard_ratio": [1.23456], "p": [3.49e-187],
                          "median_months": [np.inf], "violates": [True]}, index=pd.Index(["cox"], name="model"))
    shown = readable(frame)
    assert list(shown.columns) == ["Characteristic", "Hazard ratio", "p-value", "Median lifetime (months)",
                                   "Violates proportional hazards"]
    assert shown.iloc[0].tolist() == ["age", 1.235, "< 0.001", "not reached", "yes"]
    assert shown.index.tolist() == ["Cox (stratified)"] and shown.index.name == "Model"
    assert readable(frame, "zh").iloc[0].tolist() == ["age", 1.235, "< 0.001", "未达到", "是"]


def test_a_column_without_a_label_is_a_clear_error():
    with pytest.raises(KeyError, match="core/words.yaml has no label for column 'metrics.val_auc'"):
        readable(pd.DataFrame({"metrics.val_auc": [0.8]}))


def test_an_unknown_language_is_refused_and_an_unknown_value_is_itself():
    with pytest.raises(ValueError, match="language must be one of en, zh, both, not 'fr'"):
        label("grade", "fr")
    assert word("mars") == "mars"


# The glossary of the early-warning system: every name the code emits has words in both languages.

CJK = re.compile(r"[\u4e00-\u9fff]")


def params_yaml() -> dict:
    from conftest import ROOT

    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_every_catalogue_indicator_has_both_names_its_group_and_a_chinese_meaning():
    from churnlab.contract.indicators import FEATURES, INDICATORS

    assert set(indicators()) == set(FEATURES)  # a new indicator without words fails here
    for indicator in INDICATORS:
        entry = indicators()[indicator.feature]
        assert entry["group"] == indicator.group, indicator.feature
        assert entry["en"].strip() and CJK.search(entry["zh"]) and CJK.search(entry["zh_meaning"]), indicator.feature
        assert term("indicator_groups", indicator.group, "zh") in ("客户属性指标", "银行业务指标", "市场环境指标")
        term("units", indicator.unit, "zh")  # every unit has words


def test_every_term_section_entry_has_both_languages():
    for section in (*TERMS, "indicator_groups", "sections"):
        for name, entry in glossary()[section].items():
            assert set(entry) == set(LANGUAGES) and all(str(entry[lang]).strip() for lang in LANGUAGES), \
                f"{section}.{name}"
            if section not in ("units", "directions"):  # units such as "%" are the same in both
                assert CJK.search(entry["zh"]), f"{section}.{name}: {entry['zh']!r}"


def test_every_reason_direction_action_channel_and_grade_has_both_names():
    from churnlab.model.reasons import direction
    from churnlab.score.actions import NO_ACTION

    directions = {direction(v, 1.0) for v in (2.0, 0.5, 1.0, True, False, None, np.nan)}
    assert directions == set(glossary()["directions"])
    score = params_yaml()["score"]
    for name, action in score["actions"].items():
        assert CJK.search(term("actions", name, "zh")) and CJK.search(term("channels", action["channel"], "zh"))
    assert term("actions", NO_ACTION, "zh") == "暂不采取措施"
    assert [term("grades", g, "zh") for g in score["grades"]["labels"]][::4] == ["A（低风险）", "E（高风险）"]


def test_every_segment_value_tier_and_lifecycle_stage_has_both_names():
    from churnlab.contract.lifecycle import STAGES
    from churnlab.contract.schema import SEGMENTS
    from churnlab.segment.bands import NOT_DECLARED

    assert [term("lifecycle", s, "zh") for s in STAGES] == ["考察期", "成长期", "成熟期", "衰退期"]
    for segment in SEGMENTS:
        assert CJK.search(term("segments", segment, "zh"))
    for tier in [*params_yaml()["segment"]["value_tiers"], NOT_DECLARED]:
        assert CJK.search(term("value_tiers", tier, "zh"))


def test_every_cluster_name_the_rules_can_give_reads_in_chinese():
    from churnlab.segment.clusters import DESCRIPTORS, name_centroid

    features = ["investment_balance", "loan_balance", "deposit_balance", "tx_count", "service_contacts_12m",
                "digital_share_3m", "n_products", "fees_3m"]
    names = {name_centroid(pd.Series(0.0, index=features), threshold=0.5)}
    for noun in (None, *features):
        for adjective in features:
            for sign in (1, -1):
                z = pd.Series(0.0, index=features)
                z[adjective] = sign
                if noun:
                    z[noun] += 2.0
                names.add(name_centroid(z, threshold=0.5))
    for name in names:
        assert not re.search("[a-z]", cluster_name(name, "zh")), f"{name!r} -> {cluster_name(name, 'zh')!r}"
    for high, low in DESCRIPTORS.values():
        assert all(CJK.search(term("cluster_descriptors", d, "zh")) for d in (high, low))
    assert cluster_name("digital savers (high fees, few products) 2", "zh") == "线上储蓄型客户（收费高、产品少） 2"
    assert cluster_name("dormant low-balance customers", "zh") == "休眠低余额客户"
    assert cluster_name("savers (high credit score)", "zh") == "储蓄型客户（high credit score）"  # a file's own column
    assert cluster_name("digital savers", "en") == "digital savers"


def test_reason_codes_read_in_the_language():
    assert reason_text("complaints_3m", "up") == "Complaints (3 months): up"
    assert reason_text("complaints_3m", "up", "zh") == "近3个月投诉次数：上升"
    assert reason_text("credit_score", "down", "zh") == "credit score：下降"  # a snapshot column outside the catalogue
    assert reason_text("segment", "mass", "zh") == "客户分层：mass"  # a category's level is itself


def test_money_is_in_the_report_currency():
    assert report_currency("zh") == "CNY" and report_currency("en") == "EUR" and report_currency("en", "CNY") == "CNY"
    assert term("units", "EUR/month", "zh") == "元/月" and term("units", "EUR", "en") == "EUR"
    assert term("units", "EUR/month", "zh", currency="EUR") == "欧元/月"
    with pytest.raises(ValueError, match="currency must be one of CNY, EUR or null, not 'USD'"):
        report_currency("en", "USD")
    with pytest.raises(KeyError, match="core/words.yaml has no actions entry 'call_them'"):
        term("actions", "call_them")


def test_docs_glossary_is_current():
    from conftest import ROOT

    assert (ROOT / GLOSSARY).read_text(encoding="utf-8") == glossary_markdown()
    assert "## Early-warning indicators 预警指标" in glossary_markdown()
    assert "### Market environment indicators 市场环境指标" in glossary_markdown()


def test_both_languages_read_english_with_the_chinese_in_brackets():
    frame = pd.DataFrame({"grade": ["A"], "mean_clv": [1234.5], "violates": [False]})
    assert list(readable(frame, "both").columns) == [
        "Grade (风险等级)", "Mean lifetime value (EUR) (平均客户终身价值（欧元）)",
        "Violates proportional hazards (违反比例风险假设)"]
    assert readable(frame, "both").iloc[0].tolist() == ["A", 1234.5, "no (否)"]
    assert label("mean_clv", "zh") == "平均客户终身价值（元）" and label("mean_clv") == "Mean lifetime value (EUR)"
    assert label("mean_clv", "zh", currency="EUR") == "平均客户终身价值（欧元）"
    assert reason_text("fees_3m", "up", "both") == "Fees (3 months): up (近3个月收费：上升)"
    assert cluster_name("savers", "both") == "savers (储蓄型客户)"
    assert term("lifecycle", "growth", "both") == "growth (成长期)"


def test_the_catalogue_reads_in_the_language_and_a_file_s_own_column_keeps_its_meaning():
    from churnlab.contract.indicators import catalogue

    rows = pd.concat([catalogue().query("feature in ['income', 'complaints_3m']"),
                      pd.DataFrame([{"feature": "credit_score", "group": "snapshot", "meaning": "column of the file",
                                     "unit": "number", "lookback_months": 0}])], ignore_index=True)
    zh = catalogue_words(rows, "zh").set_index("feature")
    assert zh.loc["`income`", ["group", "indicator", "unit"]].tolist() == ["客户属性指标", "月收入", "元/月"]
    assert zh.loc["`complaints_3m`", "meaning"] == "近3个月（t-2至t）的正式投诉次数"
    assert zh.loc["`credit_score`", ["group", "indicator", "meaning", "unit"]].tolist() == [
        "快照文件字段", "credit_score", "column of the file", "number"]
    en = catalogue_words(rows).set_index("feature")
    assert en.loc["`income`", ["indicator", "meaning", "unit"]].tolist() == [
        "Monthly income", "Declared net monthly income; missing when not declared", "EUR/month"]
    assert catalogue_words(rows, "both")["unit"].tolist()[:2] == ["EUR/month (欧元/月)", "count (次数/个数)"]
