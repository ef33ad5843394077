"""The model card names the champion's version and lineage, and shows only what the pipeline produced; in Chinese
(report.language = zh) it has no English left in its headings, the same numbers, and money in the report currency."""

import re
import string
from collections import Counter

import pandas as pd
import pytest

from churnlab.core.words import glossary
from churnlab.report.html import external_references
from churnlab.report.model_card import CardInputs, card_html, grade_rows, performance_rows, render_card
from churnlab.report.pipeline_outputs import Source


def inputs(**overrides) -> CardInputs:
    base = dict(
        champion={"name": "churnlab-churn", "version": 7, "run_id": "abc123",
                  "tags": {"git_commit": "deadbeef", "git_dirty": "false",
                           "data_md5.data/processed/snapshots.parquet": "0123456789abcdef"}},
        params={"base": {"horizon_months": 6}, "features": {"churn": {"definition": "closure"}},
                "train": {"calibration": "isotonic"}},
        metrics={"features": {"customers": 100, "snapshots": 900, "cutoffs": 9, "label_rate": {"closure": 0.08}},
                 "evaluate": {"cutoff": "2023-04-30", "churn_rate": 0.08, "test": {"roc_auc": 0.81, "ece": 0.004},
                              "oracle": {"roc_auc": 0.85, "ratio": 0.886}},
                 "monitor": {"months_monitored": 12, "settings": {"alpha": 0.01},
                             "label_free": {"auc_mae": 0.01, "labelled_months": 6},
                             "simulator": {"false_alarm_rate": 0.0, "detection_rate": 0.9, "quiet_months": 6,
                                           "drift_months": 6, "shock_start": "2024-01-31"},
                             "latest": {"month": "2024-06-30", "retrain": True, "reasons": ["score PSI high"]}}},
        indicators=pd.DataFrame({"feature": ["age", "deposit_balance", "promo_index"],
                                 "group": ["customer", "banking", "market"]}),
        split={"train": ["2022-01-31", "2022-04-30"], "validation": ["2022-10-31"], "test": "2023-04-30"},
    )
    base.update(overrides)
    return CardInputs(**base)


def test_card_names_the_champion_version_and_lineage():
    card = render_card(inputs())
    assert "churnlab-churn version 7" in card and "version **7**" in card
    assert "0123456789abcdef" in card  # the inputs' md5s
    assert "deadbeef" not in card and "abc123" not in card  # commit and run id change every run: MLflow keeps them
    assert "within (t, t+6] months" in card and "`closure`" in card
    assert "**Market environment indicators** (1): `promo_index`" in card
    assert "retrain recommended = **yes**" in card and "Money amounts are in EUR." in card


def test_card_reports_oracle_ratio_and_missing_sections_honestly():
    perf = performance_rows(inputs().metrics)
    assert perf.set_index("metric").loc["oracle_roc_auc", "value"] == 0.85
    assert ("| Share of the true risk's lift over chance: (AUC - 0.5) / (true AUC - 0.5) | 0.8860 |"
            in render_card(inputs()))
    card = render_card(inputs(metrics={}, indicators=None, split=None))
    assert "not available (reports/metrics/evaluate.json missing)" in card
    assert "not available (no grade table)" in card


def test_grade_boundaries_read_as_points_ranges_not_minus_infinity():
    grades = pd.DataFrame({"grade": list("ABC"), "min_points": [600.4, 560.6, float("-inf")],
                           "customers": [50, 30, 20], "share": [0.5, 0.3, 0.2], "churners": [1, 3, 8],
                           "churn_rate": [0.02, 0.1, 0.4], "predicted_rate": [0.03, 0.09, 0.38],
                           "lift": [0.17, 0.83, 3.33], "cumulative_capture": [1.0, 0.92, 0.67]})
    assert grade_rows(grades)["points"].tolist() == ["600 and above", "561-600", "below 561"]
    card = render_card(inputs(grades=grades))
    assert "| Grade | Points (higher = safer) | Customers |" in card
    assert "| C | below 561 | 20 |" in card and not re.search(r"\binf\b", card)


def test_card_html_is_offline():
    page = card_html(render_card(inputs()), title="card")
    assert "<table>" in page and external_references(page) == []


SNAPSHOT_NO_MONITOR = ("the source has no time axis (one snapshot): there are no months after training to watch for "
                       "drift, and no later labels to measure decay by")  # monitor.json's skip entry on a snapshot


def snapshot_inputs() -> CardInputs:
    """A card on a snapshot file: one date, a random split, monitor and the campaign parts skipped."""
    return inputs(
        params={"base": {"horizon_months": 6}, "train": {"calibration": "platt"},
                "features": {"cutoff_every_months": 3, "churn": {"definition": "closure"}},
                "data": {"source": "snapshot", "target": "Exited", "positive": 1}},
        metrics={"data": {"source": "snapshot", "customers": 100, "churn_rate": 0.2},
                 "features": {"customers": 100, "snapshots": 100, "cutoffs": 1, "features": 9,
                              "label_rate": {"snapshot": 0.2}},
                 "evaluate": {"cutoff": "2000-01-31", "churn_rate": 0.2, "test": {"roc_auc": 0.85}},
                 "monitor": {"source": "snapshot", "months_monitored": 0, "skipped": {"monitor": SNAPSHOT_NO_MONITOR}},
                 "retention": {"skipped": {"campaign": "the source has no time axis and no campaigns table (one "
                                                       "snapshot)", "uplift": "no campaign (see campaign)"}}},
        indicators=pd.DataFrame({"feature": ["age", "geography"], "group": ["snapshot", "snapshot"]}),
        split={"kind": "random", "cutoff": "2000-01-31", "seed": 1, "test_share": 0.2, "validation_share": 0.15},
        source=Source("snapshot", time_axis=False, campaigns=False, oracle=False, closures=False))


def test_card_on_a_snapshot_has_no_horizon_no_monitoring_and_no_oracle():
    card = render_card(snapshot_inputs())
    assert "one row per customer at a single date (2000-01-31), 100 customers and 9 features" in card
    assert "(`Exited` = 1)" in card and "there is no horizon" in card and "Label rate: 0.2000" in card
    assert f"Not monitored: {SNAPSHOT_NO_MONITOR}." in card
    assert "## Performance on the held-out test customers" in card and "stratified random split" in card
    assert "no randomised campaign in these data" in card
    for wrong in ("oracle", "simulated", "quarterly", "Monthly account data", "within (t, t+", "monitoring backtest",
                  "label-free performance estimate", "account closure"):
        assert wrong not in card, f"a snapshot's card must not say {wrong!r}"


def test_card_on_a_monitored_real_source_names_the_skipped_alarm_rates():
    ledger = inputs(
        params={"base": {"horizon_months": 3}, "train": {"calibration": "platt"},
                "features": {"cutoff_every_months": 1, "churn": {"definition": "dormancy", "dormancy_months": 3}}},
        metrics={"data": {"source": "ledger"},
                 "features": {"customers": 50, "snapshots": 500, "cutoffs": 12, "last_training_cutoff": "1993-11-30",
                              "label_rate": {"dormancy": 0.13, "closure": 0.0}},
                 "evaluate": {"cutoff": "1993-11-30", "test": {"roc_auc": 0.9}},
                 "monitor": {"months_monitored": 9, "label_free": {"auc_mae": 0.02, "labelled_months": 6},
                             "latest": {"month": "1994-02-28", "retrain": False, "reasons": []},
                             "skipped": {"simulator": "false-alarm and detection rates need the simulator's known "
                                                      "shock months"}}},
        source=Source("ledger", time_axis=True, campaigns=False, oracle=False, closures=False))
    card = render_card(ledger)
    assert "built from a transaction ledger" in card and "12 monthly cutoffs" in card
    assert "3 months in a row without a customer-initiated transaction" in card
    assert "Training label rate: 0.1300" in card
    assert "thresholds = no-drift n/a quantiles" in card  # settings missing: said, not invented
    assert "Alarm rates against known drift: not measured (false-alarm and detection rates need the" in card
    assert "Churn is defined by dormancy" in card and "oracle" not in card and "simulated" not in card


def test_only_simulated_data_get_the_oracle_sentence():
    simulated = render_card(inputs(source=Source("simulator", True, campaigns=True, oracle=True, closures=True)))
    contract = render_card(inputs(source=Source("contract", True, campaigns=True, oracle=False, closures=True)))
    assert "The data are **simulated**" in simulated and "The data are **simulated**" not in contract
    assert "The data are real (`contract` source)" in contract
    assert "The data are **simulated**" in render_card(inputs())  # outputs older than source.json: evaluate's oracle


# What may stay in Latin letters in a Chinese heading: metric acronyms and the tools' names (model names are
# removed before the check, as the champion's registered name is the bank's choice)
ACRONYMS = ("AUC", "ECE", "PR", "ROC", "PSI", "CSI", "KS", "EMPC", "SHAP", "MLflow")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
GRADES = pd.DataFrame({"grade": list("ABC"), "min_points": [600.4, 560.6, float("-inf")],
                       "customers": [50, 30, 20], "share": [0.5, 0.3, 0.2], "churners": [1, 3, 8],
                       "churn_rate": [0.02, 0.1, 0.4], "predicted_rate": [0.03, 0.09, 0.38],
                       "lift": [0.17, 0.83, 3.33], "cumulative_capture": [1.0, 0.92, 0.67]})
REGISTER = {"version": 8, "decision": "promoted", "reason": "gain 0.004 >= 0.002", "metric": "roc_auc",
            "challenger_score": 0.812, "champion_score": 0.808}
CARDS = {  # every branch of the card: monthly tables with grades and a register run, a snapshot file, nothing
    "monthly": lambda: inputs(grades=GRADES, metrics={**inputs().metrics, "register": REGISTER}),
    "snapshot": snapshot_inputs,
    "empty": lambda: inputs(metrics={}, indicators=None, split=None),
}


def headings(card: str) -> list[str]:
    return [line for line in card.splitlines() if line.startswith("#")]


@pytest.mark.parametrize("name", sorted(CARDS))
def test_a_chinese_card_has_no_english_left_in_its_headings(name):
    card_inputs = CARDS[name]()
    card = render_card(card_inputs, language="zh")
    assert len(headings(card)) == len(headings(render_card(card_inputs)))  # the same sections
    for heading in headings(card):
        rest = heading.replace(card_inputs.champion["name"], "")
        for acronym in ACRONYMS:
            rest = rest.replace(acronym, "")
        assert not set(rest) & set(string.ascii_letters), heading


@pytest.mark.parametrize("name", sorted(CARDS))
def test_a_chinese_card_shows_the_same_numbers_as_the_english_one(name):
    english, chinese = (render_card(CARDS[name](), language=lang) for lang in ("en", "zh"))
    assert Counter(NUMBER.findall(chinese)) == Counter(NUMBER.findall(english))
    tables = [[NUMBER.findall(row) for row in card.splitlines() if row.startswith("|")] for card in (english, chinese)]
    assert tables[0] == tables[1]  # cell for cell, in order


def test_a_chinese_card_reads_the_plan_s_words():
    card = render_card(inputs(grades=GRADES), language="zh")
    assert "## 按指标分组的特征" in card and "## 风险等级" in card and "## 局限性" in card
    assert "- **市场环境指标**（1个）：同业营销强度指数（`promo_index`）" in card
    assert "| 风险等级 | 评分（越高越安全） | 客户数 |" in card and "| C | 低于 561 | 20 |" in card
    assert "(t, t+6]个月内流失" in card and "是否建议重训 = **是**（score PSI high）" in card
    assert "| 相对真实风险的AUC比例：(AUC-0.5)/(真实AUC-0.5) | 0.8860 |" in card


def test_money_is_labelled_in_the_report_currency_and_never_converted():
    metrics = {**inputs().metrics, "evaluate": {"cutoff": "2023-04-30", "test": {"empc": 12.5}}}
    zh, zh_eur = (render_card(inputs(metrics=metrics), language="zh", currency=c) for c in (None, "EUR"))
    en, en_cny = (render_card(inputs(metrics=metrics), currency=c) for c in (None, "CNY"))
    assert "金额单位：元。" in zh and "| 每客户期望最大利润（EMPC，元） | 12.5000 |" in zh
    assert "金额单位：欧元。" in zh_eur and "（EMPC，欧元）" in zh_eur
    assert "Money amounts are in EUR." in en and "| Expected maximum profit per customer (EMPC, EUR) | 12.5000 |" in en
    assert "Money amounts are in CNY." in en_cny and "(EMPC, CNY) | 12.5000 |" in en_cny


def test_both_is_the_english_card_then_the_chinese_one_in_one_currency():
    both = render_card(inputs(), language="both", currency="CNY")
    english, chinese = both.split("\n---\n")
    assert english.strip().endswith(render_card(inputs(), currency="CNY").strip())
    assert chinese.strip().endswith(render_card(inputs(), language="zh", currency="CNY").strip())
    assert "以下为同一模型卡的中文版。" in chinese


def test_every_card_sentence_has_both_languages_with_the_same_fields():
    for key, entry in glossary()["card"].items():
        fields = [set(re.findall(r"\{(\w+)", entry[lang])) for lang in ("en", "zh")]
        assert fields[0] == fields[1], key


def catalogue_inputs() -> CardInputs:
    """A card whose indicators are reports/indicators.csv's columns: the catalogue with its information values."""
    from churnlab.contract.indicators import catalogue

    indicators = catalogue().query("feature in ['age', 'income', 'fees_3m', 'promo_index']").reset_index(drop=True)
    return inputs(indicators=indicators.assign(iv=[0.006, 0.0036, 0.21, 0.12]))


def test_the_chinese_card_shows_the_indicator_catalogue_with_chinese_names_meanings_and_units():
    english, chinese = (render_card(catalogue_inputs(), language=lang) for lang in ("en", "zh"))
    assert "### 预警指标目录" in chinese and "### Early-warning indicator catalogue" in english
    assert "| `income` | 客户属性指标 | 月收入 | 客户申报的税后月收入；未申报时为空 | 元/月 | 0 | 0.0036 |" in chinese
    assert "| `fees_3m` | 银行业务指标 | 近3个月收费 | 近3个月（t-2至t）向客户收取的费用 | 元 | 3 | 0.2100 |" in chinese
    assert ("| `income` | Customer attribute indicators | Monthly income | Declared net monthly income; missing when "
            "not declared | EUR/month | 0 | 0.0036 |") in english
    for heading in headings(chinese):
        assert not set(heading.replace("churnlab-churn", "")) & set(string.ascii_letters), heading
    rows = [[row.split(" | ")[0], *row.split(" | ")[-2:]] for card in (english, chinese)
            for row in card.splitlines() if row.startswith("| `")]
    assert rows[: len(rows) // 2] == rows[len(rows) // 2:]  # the same indicators, look-backs and IVs
