"""The champion's model card: the model-risk documentation of a bank model, written from pipeline outputs.

Sections follow the usual model-risk inventory (in the spirit of SR 11-7 / PRA SS1/23 documentation and of
Mitchell et al. 2019, "Model Cards for Model Reporting"): purpose and use, data and period, churn definition
and horizon, the features by indicator group, the validation design, performance (with the simulator's
oracle ratio where the data are simulated), calibration, stability, the risk-grade table, limitations, and
the registry version and lineage (git commit and data hash from the MLflow run tags). Where the indicators are
reports/indicators.csv, the features section shows the catalogue too (name, meaning, unit, look-back, IV).

The card describes the data source that ran (data/raw/source.json, `churnlab.report.pipeline_outputs.Source`): monthly
tables with cutoffs, or a snapshot file with one date, no horizon and nothing to monitor. Only simulated data
mention the oracle; a part a stage skipped is named with the reason the stage recorded, never filled in.

The card is written in `report.language` (en, zh, or both: the English card, then the Chinese one): every heading
and sentence comes from core/words.yaml (`card`), tables are labelled by `readable`, and money is labelled in
`report.currency` (CNY for a Chinese card by default, else EUR; amounts are never converted). Text a stage recorded
(why it skipped a part, the register decision, monitoring reasons) is quoted as the stage wrote it, in English.

`render_card` is pure: it takes a `CardInputs` gathered by `gather_inputs` (the only function that reads
files or talks to MLflow) and returns Markdown; `card_html` wraps it as one offline HTML page.
"""

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from churnlab.core import paths
from churnlab.core.words import catalogue_words, glossary, readable, report_currency, say, term, word
from churnlab.report.pipeline_outputs import Source, read_source

Say = Callable[..., str]  # a card sentence in the card's language: say("key", **fields)


def card_text(key: str, language: str = "en", *, currency: str | None = None, **fields) -> str:
    """The card's sentence `key` (words.yaml `card`) in `language`, its {fields} filled in."""
    return say(glossary()["card"][key], language, currency=currency, **fields)


@dataclass
class CardInputs:
    """Everything the card shows; empty fields are reported as "not available", never invented."""

    champion: dict  # name, version, run_id, tags (lineage)
    params: dict  # base, features, train (the sections the card quotes)
    metrics: dict[str, dict] = field(default_factory=dict)  # reports/metrics/<stage>.json by stage name
    indicators: pd.DataFrame | None = None  # reports/indicators.csv
    grades: pd.DataFrame | None = None  # the grade table on the test cutoff
    split: dict | None = None  # models/split.json
    source: Source | None = None  # data/raw/source.json; None: taken from reports/metrics/data.json where it exists


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return "n/a" if value is None else str(value)


def _table(frame: pd.DataFrame) -> str:
    """A Markdown table of `frame`, its index as the first column."""
    frame = frame.reset_index()
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def card_source(inputs: CardInputs) -> Source | None:
    """The data source of the run: source.json's, else the name in data.json (None: neither exists).

    Outputs older than the `data` stage have neither; their evaluate.json holds an oracle AUC only on simulated data.
    """
    if inputs.source is not None:
        return inputs.source
    name = inputs.metrics.get("data", {}).get("source")
    if name is None and "oracle" in inputs.metrics.get("evaluate", {}):
        name = "simulator"
    if name is None:
        return None
    return Source(name, time_axis=name != "snapshot", campaigns=name == "simulator", oracle=name == "simulator",
                  closures=name in ("simulator", "contract"))


def skipped_part(metrics: dict, part: str) -> str | None:
    """Why a stage skipped `part` (its `"skipped": {part: reason}` entry), or None."""
    skipped = metrics.get("skipped") or {}
    return skipped.get(part) if isinstance(skipped, dict) else None


def _churn_meaning(churn: dict, t: Say) -> str:
    definition = churn.get("definition", "n/a")
    try:
        return t(f"churn_{definition}", **churn)
    except KeyError:  # an unknown definition, or its params not quoted
        return t("churn_unknown", definition=definition)


def performance_rows(metrics: dict[str, dict]) -> pd.DataFrame:
    """Test-cutoff metrics of the chosen model (evaluate.json), with the oracle AUC and ratio where simulated."""
    evaluate = metrics.get("evaluate", {})
    rows = [(k, v) for k, v in evaluate.get("test", {}).items()]
    if "churn_rate" in evaluate:
        rows.append(("churn_rate", evaluate["churn_rate"]))
    oracle = evaluate.get("oracle", {})
    if oracle:
        rows += [("oracle_roc_auc", oracle.get("roc_auc")), ("oracle_ratio", oracle.get("ratio"))]
    return pd.DataFrame(rows, columns=["metric", "value"])


def grade_rows(grades: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """The grade table (model.grades.grade_table + min_points) for readers: each grade's points range, best first
    ("566 and above", "559-566", "below 559"; the worst grade has no lower bound), then its rates."""
    low, high = grades["min_points"].astype(float), grades["min_points"].astype(float).shift(1)
    above, below = word("and_above", language), word("below", language)
    ranges = [f"{lo:.0f} {above}" if np.isnan(hi) else f"{below} {hi:.0f}" if np.isinf(lo)
              else f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(low, high, strict=True)]
    shown = grades.assign(points=ranges).set_index("grade")
    return shown[["points", "customers", "share", "churn_rate", "predicted_rate", "lift", "cumulative_capture"]]


def _purpose(inputs: CardInputs, t: Say, *, one_date: bool) -> str:
    if one_date:
        return t("purpose_snapshot")
    definition = inputs.params.get("features", {}).get("churn", {}).get("definition")
    predicts = t(f"predicts_{definition}" if f"predicts_{definition}" in glossary()["card"] else "predicts_other")
    return t("purpose_months", predicts=predicts, horizon=inputs.params.get("base", {}).get("horizon_months"))


def _data_lines(inputs: CardInputs, source: Source | None, t: Say, *, one_date: bool) -> list[str]:
    """The data and period, and the churn label: monthly tables with cutoffs, or one date of a snapshot file."""
    stats, features = inputs.metrics.get("features", {}), inputs.params.get("features", {})
    horizon, churn = inputs.params.get("base", {}).get("horizon_months"), features.get("churn", {})
    lines = ["", f"## {t('h_data')}"]
    if one_date:
        date = (inputs.split or {}).get("cutoff") or inputs.metrics.get("evaluate", {}).get("cutoff", "n/a")
        lines.append(t("data_snapshot", date=date, customers=_fmt(stats.get("customers")),
                       features=_fmt(stats.get("features"))))
    else:
        every = features.get("cutoff_every_months")
        tables = f"tables_{source.name}" if source and f"tables_{source.name}" in glossary()["card"] else None
        lines.append(t("data_months", tables=t(tables or "tables_simulator"), customers=_fmt(stats.get("customers")),
                       snapshots=_fmt(stats.get("snapshots")), cutoffs=_fmt(stats.get("cutoffs")),
                       cadence=t(f"cadence_{every}") if f"cadence_{every}" in glossary()["card"] else "",
                       last=stats.get("last_training_cutoff", "n/a")))
    if source is not None and source.oracle:
        lines.append(t("simulated"))
    elif source is not None:
        lines.append(t("real", source=source.name))
    lines.append(t("money"))
    rates = stats.get("label_rate", {})  # by definition; a snapshot's one rate is keyed "snapshot"
    rate = rates.get("snapshot" if one_date else churn.get("definition"),
                     next(iter(rates.values())) if len(rates) == 1 else None)
    lines += ["", f"## {t('h_churn')}"]
    if one_date:
        data = inputs.params.get("data", {})
        flag = f"`{data['target']}` = {data.get('positive', 1)}" if data.get("target") else t("its_flag")
        lines.append(t("churn_snapshot", flag=flag, rate=_fmt(rate)))
    else:
        lines.append(t("churn_months", horizon=horizon, definition=churn.get("definition", "n/a"),
                       meaning=_churn_meaning(churn, t), rate=_fmt(rate)))
    return lines


def _monitoring_lines(monitor: dict, t: Say, language: str) -> list[str]:
    """Stability and monitoring: the monitor stage's summary, why it was skipped, or that it has not run."""
    lines = ["", f"## {t('h_monitoring')}"]
    if not monitor:
        return [*lines, t("missing_monitor")]
    if skipped_part(monitor, "monitor"):
        return [*lines, t("not_monitored", reason=skipped_part(monitor, "monitor").rstrip("."))]
    sim, lf = monitor.get("simulator", {}), monitor.get("label_free", {})
    latest, alpha = monitor.get("latest", {}), monitor.get("settings", {}).get("alpha")
    level = "n/a" if alpha is None else f"{1 - alpha:.0%}"
    lines.append(t("monitored", months=monitor.get("months_monitored"), level=level, mae=_fmt(lf.get("auc_mae")),
                   labelled=lf.get("labelled_months")))
    if sim:
        lines.append(t("simulator_rates", false_alarm=_fmt(sim.get("false_alarm_rate")), quiet=sim.get("quiet_months"),
                       detection=_fmt(sim.get("detection_rate")), drift=sim.get("drift_months"),
                       start=sim.get("shock_start")))
    elif skipped_part(monitor, "simulator"):
        lines.append(t("alarm_not_measured", reason=skipped_part(monitor, "simulator")))
    reasons = t("in_brackets", text="; ".join(latest["reasons"])) if latest.get("reasons") else ""
    lines.append(t("latest", month=latest.get("month"), retrain=word(latest.get("retrain"), language),
                   reasons=reasons))
    return lines


def _limitations(inputs: CardInputs, t: Say, *, one_date: bool) -> list[str]:
    horizon = inputs.params.get("base", {}).get("horizon_months")
    definition = "snapshot" if one_date else inputs.params.get("features", {}).get("churn", {}).get("definition")
    not_monitored = skipped_part(inputs.metrics.get("monitor", {}), "monitor")
    no_uplift = skipped_part(inputs.metrics.get("retention", {}), "uplift")
    label_limit = f"label_limit_{definition}"
    return [
        "", f"## {t('h_limitations')}",
        f"- {t('limit_snapshot' if one_date else 'limit_history')}",
        f"- {t('limit_not_monitored', reason=not_monitored.rstrip('.'))}" if not_monitored else
        f"- {t('limit_label_free', horizon=horizon)}",
        *([f"- {t(label_limit)}"] if label_limit in glossary()["card"] else []),
        f"- {t('limit_observational', why=t('why_no_campaign' if no_uplift else 'why_uplift'))}",
    ]


def _feature_lines(indicators: pd.DataFrame | None, t: Say, language: str, currency: str | None) -> list[str]:
    """The features by indicator group (the plan's three groups; a snapshot file's columns are one group), each
    named in the card's language with its machine name; then the catalogue (name, meaning, unit, look-back, IV)
    where `indicators` is reports/indicators.csv."""
    lines = ["", f"## {t('h_features')}"]
    if indicators is None:
        return [*lines, t("missing_indicators")]
    groups, names = glossary()["indicator_groups"], glossary()["indicators"]
    for group, rows in indicators.groupby("group", sort=False):
        known = {f for entries in names.values() for f in entries}
        shown = [f"{term('indicators', f, language)}（`{f}`）" if language == "zh" and f in known else f"`{f}`"
                 for f in rows["feature"]]
        lines.append(t("feature_group", group=term("indicator_groups", group, language) if group in groups else group,
                       count=len(rows), names=("、" if language == "zh" else ", ").join(shown)))
    if {"meaning", "unit", "lookback_months"} <= set(indicators.columns):  # reports/indicators.csv: the catalogue
        catalogue = catalogue_words(indicators, language, currency=currency).set_index("feature")
        lines += ["", f"### {t('h_catalogue')}", _table(readable(catalogue, language, digits=4, currency=currency))]
    return [*lines, "", t("features_where")]


def _validation_lines(split: dict | None, t: Say, *, random_split: bool) -> list[str]:
    lines = ["", f"## {t('h_validation')}"]
    if random_split:
        lines.append(t("validation_random", test=split["test_share"], validation=split["validation_share"]))
    elif split:
        lines.append(t("validation_time", first=split["train"][0], last=split["train"][-1], n=len(split["train"]),
                       validation=", ".join(split["validation"]), test=split["test"]))
    return lines


def render_card(inputs: CardInputs, *, language: str = "en", currency: str | None = None) -> str:
    """The model card as Markdown (see the module docstring for the sections), in `language` (en, zh, or both: the
    English card, then the Chinese one), money in `currency` (None: CNY for zh, else EUR; amounts are not converted)."""
    if language == "both":
        code = report_currency("en", currency)
        return "\n".join([card_text("both", "en"), "", _card(inputs, "en", code), "---", "", card_text("both", "zh"),
                          "", _card(inputs, "zh", code)])
    return _card(inputs, language, currency)


def _card(inputs: CardInputs, language: str, currency: str | None) -> str:
    t = partial(card_text, language=language, currency=currency)
    champion, tags = inputs.champion, inputs.champion.get("tags", {})
    name, version = champion.get("name"), champion.get("version", "n/a")
    monitor, evaluate = inputs.metrics.get("monitor", {}), inputs.metrics.get("evaluate", {})
    source = card_source(inputs)
    random_split = bool(inputs.split) and inputs.split.get("kind") == "random"
    one_date = (source is not None and source.snapshot) or random_split  # a snapshot file: no cutoffs, no horizon
    monitored = bool(monitor) and not skipped_part(monitor, "monitor")
    lines = [f"# {t('title', name=name or 'churn model', version=version)}", "",
             t("registry", name=name, version=version), "", f"## {t('h_purpose')}",
             t("purpose_use", purpose=_purpose(inputs, t, one_date=one_date)),
             *_data_lines(inputs, source, t, one_date=one_date),
             *_feature_lines(inputs.indicators, t, language, currency),
             *_validation_lines(inputs.split, t, random_split=random_split)]
    lines += ["", f"## {t('h_performance_random')}" if random_split else
              f"## {t('h_performance_cutoff', cutoff=evaluate.get('cutoff', '')).rstrip()}"]
    perf = performance_rows(inputs.metrics)
    lines.append(_table(readable(perf.set_index("metric"), language, digits=4, currency=currency))
                 if len(perf) else t("missing_evaluate"))
    lines += ["", f"## {t('h_calibration')}",
              t("calibration", method=inputs.params.get("train", {}).get("calibration", "n/a"),
                on=t("on_customers" if random_split else "on_cutoff"),
                end=t("calibration_monitored" if monitored else "calibration_end"))]
    lines += _monitoring_lines(monitor, t, language)
    lines += ["", f"## {t('h_grades')}"]
    lines.append(_table(readable(grade_rows(inputs.grades, language), language, currency=currency))
                 if inputs.grades is not None else t("missing_grades"))
    lines += _limitations(inputs, t, one_date=one_date)
    register = inputs.metrics.get("register", {})
    if register:
        lines += ["", f"## {t('h_registration')}",
                  t("registration", version=register.get("version"), decision=register.get("decision"),
                    reason=register.get("reason"), metric=register.get("metric"),
                    challenger=_fmt(register.get("challenger_score")), champion=_fmt(register.get("champion_score")))]
    # No run id or git commit here: they differ on every run and commit, and the card is a DVC output that the same
    # params must reproduce; the registry version's MLflow run holds them as tags (git_commit, git_dirty).
    lines += ["", f"## {t('h_lineage')}", t("lineage_version", version=version, name=name)]
    lines += [t("lineage_md5", file=k.removeprefix("data_md5."), md5=v)
              for k, v in sorted(tags.items()) if k.startswith("data_md5.")]
    lines += ["", t("reproduce")]
    return "\n".join(lines) + "\n"


def card_html(markdown: str, *, title: str, language: str = "en") -> str:
    """The card as one offline HTML page (nbconvert's mistune Markdown renderer, inline CSS only), its `lang` set
    so a browser picks a Chinese font for a zh card."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}code{background:#f4f4f4}")
    lang = {"zh": "zh-CN"}.get(language, "en")
    return (f"<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{markdown2html_mistune(markdown)}\n</body></html>\n")


def gather_inputs(params: dict, *, model_name: str) -> CardInputs:
    """Read the champion from the MLflow registry (with its run's tags) and the pipeline's outputs."""
    from churnlab.core import tracking

    mlflow = tracking.start()
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(model_name, "champion")
    tags = client.get_run(version.run_id).data.tags if version.run_id else {}
    champion = {"name": model_name, "version": int(version.version), "run_id": version.run_id,
                "tags": {k: v for k, v in tags.items() if k.startswith(("git_", "data_md5.", "dvc_dep."))}}
    metrics = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(paths.METRICS.glob("*.json"))}
    return CardInputs(
        champion=champion, params=params, metrics=metrics,
        source=read_source(paths.SOURCE) if paths.SOURCE.exists() else None,
        indicators=pd.read_csv(paths.INDICATORS) if paths.INDICATORS.exists() else None,
        grades=pd.read_csv(paths.GRADE_TABLE) if paths.GRADE_TABLE.exists() else None,
        split=json.loads(paths.SPLIT.read_text(encoding="utf-8")) if paths.SPLIT.exists() else None)
