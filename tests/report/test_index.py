"""reports/index.html: links every page, the model card and the plots (or says how to make them), with the run's
date-free facts, offline."""

from bs4 import BeautifulSoup

from churnlab.contract.source import Source
from churnlab.report.html import external_references
from churnlab.report.index import facts, index_html
from churnlab.report.model_card import CardInputs

CHAMPION = {"name": "churnlab-churn", "version": 3, "run_id": "abc", "tags": {}}
SIMULATOR = Source("simulator", time_axis=True, campaigns=True, oracle=True, closures=True)
PAGES = {"notebooks/1.0-overview.html": "1.0 Customer overview", "notebooks/5.0-monitoring.html": "5.0 Monitoring <&>"}


def links(page: str) -> dict[str, str]:
    return {a["href"]: a.get_text() for a in BeautifulSoup(page, "html.parser").find_all("a")}


def test_the_index_links_every_page_the_card_and_the_static_plots():
    card = CardInputs(champion=CHAMPION, params={}, source=SIMULATOR)
    page = index_html(PAGES, card, card_page="model_card.html", card_title="Model card: churnlab-churn v3",
                      plots_page="plots.html", offline_template=True)
    assert links(page) == {**PAGES, "model_card.html": "Model card: churnlab-churn v3",
                           "plots.html": "DVC plots (static)"}
    assert "<title>Churn reports</title>" in page and "5.0 Monitoring &lt;&amp;&gt;" in page
    assert "Champion model: churnlab-churn version 3" in page and "Data source: simulator (monthly tables" in page
    assert external_references(page) == []


def test_without_a_static_plots_page_the_index_says_how_to_make_one():
    card = CardInputs(champion=CHAMPION, params={})
    page = index_html({}, card, card_page="model_card.html", card_title="card", plots_page=None, offline_template=True)
    assert "python -m churnlab.report.offline_plots -o reports/plots.html" in page
    assert "--html-template reports/dvc_plots_template.html" in page
    assert "No notebook was rendered" in page and set(links(page)) == {"model_card.html"}
    placeholder = index_html({}, card, card_page="model_card.html", card_title="card", plots_page=None,
                             offline_template=False)
    assert "pip install vl-convert-python" in placeholder


def test_facts_name_the_source_the_champion_and_the_monitoring_verdict_without_a_build_date():
    monitored = {"monitor": {"latest": {"month": "2024-12-31", "retrain": True, "reasons": ["score PSI"]}}}
    card = CardInputs(champion=CHAMPION, params={}, metrics=monitored, source=SIMULATOR)
    assert facts(card) == [f"{SIMULATOR.describe()}.",
                           "Champion model: churnlab-churn version 3 (models:/churnlab-churn@champion).",
                           "Monitoring, latest month 2024-12-31: retraining recommended."]
    snapshot = CardInputs(champion=CHAMPION, params={}, metrics={"monitor": {"skipped": {"monitor": "one date."}},
                                                                 "data": {"source": "snapshot"}})
    assert facts(snapshot)[0].startswith("Data source: snapshot (one row per customer")
    assert facts(snapshot)[2] == "Not monitored: one date."
    assert facts(CardInputs(champion=CHAMPION, params={}))[0].startswith("Data source: not recorded")


def test_a_chinese_index_has_chinese_title_headings_and_sentences():
    monitor = {"latest": {"month": "2024-06", "retrain": True}}
    card = CardInputs(champion=CHAMPION, params={}, source=SIMULATOR, metrics={"monitor": monitor})
    page = index_html(PAGES, card, card_page="model_card.html", card_title="模型卡", plots_page=None,
                      offline_template=True, language="zh")
    soup = BeautifulSoup(page, "html.parser")
    assert soup.html["lang"] == "zh-CN" and soup.title.get_text() == "客户流失分析报告"
    assert [h.get_text() for h in soup.find_all(["h1", "h2"])] == ["客户流失分析报告", "分析报告", "模型", "图表"]
    assert "冠军模型：churnlab-churn 第3版" in page and "监控（最近月份2024-06）：建议重新训练模型。" in page
    english = index_html({}, card, card_page="c.html", card_title="c", plots_page=None, offline_template=True)
    assert '<html lang="en">' in english and "Monitoring, latest month 2024-06: retraining recommended." in english
