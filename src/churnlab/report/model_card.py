"""The champion's model card: the model-risk documentation of a bank model, written from pipeline outputs.

Sections follow the usual model-risk inventory (in the spirit of SR 11-7 / PRA SS1/23 documentation and of
Mitchell et al. 2019, "Model Cards for Model Reporting"): purpose and use, data and period, churn definition
and horizon, the features by indicator group, the validation design, performance (with the simulator's
oracle ratio where the data are simulated), calibration, stability, the risk-grade table, limitations, and
the registry version and lineage (git commit and data hash from the MLflow run tags).

The card describes the data source that ran (data/raw/source.json, `churnlab.report.pipeline_outputs.Source`): monthly
tables with cutoffs, or a snapshot file with one date, no horizon and nothing to monitor. Only simulated data
mention the oracle; a part a stage skipped is named with the reason the stage recorded, never filled in.

`render_card` is pure: it takes a `CardInputs` gathered by `gather_inputs` (the only function that reads
files or talks to MLflow) and returns Markdown; `card_html` wraps it as one offline HTML page.
"""

import html
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnlab.core import paths
from churnlab.core.words import readable, word
from churnlab.report.pipeline_outputs import CHURN, Source, read_source

CADENCE = {1: "monthly", 3: "quarterly", 6: "half-yearly", 12: "yearly"}  # features.cutoff_every_months
PREDICTS = {  # features.churn.definition -> what the probability is of, in the purpose section
    "closure": "closing their relationship",
    "dormancy": "letting their account go dormant",
    "value": "moving most of their money out",
    "partial": "closing a product",
}
TABLES = {  # data.source -> what the monthly tables are
    "simulator": "Monthly account data",
    "contract": "Monthly account data (the bank's own tables, data-contract layout)",
    "ledger": "Monthly account data built from a transaction ledger (churnlab.data.ledger)",
}
LABEL_LIMITS = {  # features.churn.definition (or "snapshot") -> who the label misses
    "closure": "Churn is defined by account closure; quiet attrition (balances moved out, account kept) is not a "
               "positive label.",
    "dormancy": "Churn is defined by dormancy (no customer-initiated transaction for the set months); a customer who "
                "moves their money out but keeps using the account is not a positive label, and a dormant customer "
                "may come back.",
    "value": "Churn is defined by balances falling; a customer who leaves with little money, or closes products "
             "without moving money, is not a positive label.",
    "partial": "Churn is defined by products closed; a customer who moves their money out but keeps every product "
               "is not a positive label.",
    "snapshot": "Churn is whatever the file's flag records: how and when a customer left is unknown, and customers "
                "who left before the file was drawn are not in it.",
}


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


def _churn_meaning(churn: dict) -> str:
    definition = churn.get("definition", "n/a")
    try:
        return CHURN[definition].format(**churn)
    except KeyError:  # an unknown definition, or its params not quoted
        return f"the `{definition}` rule of churnlab.contract.labels"


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


def grade_rows(grades: pd.DataFrame) -> pd.DataFrame:
    """The grade table (model.grades.grade_table + min_points) for readers: each grade's points range, best first
    ("566 and above", "559-566", "below 559"; the worst grade has no lower bound), then its rates."""
    low, high = grades["min_points"].astype(float), grades["min_points"].astype(float).shift(1)
    ranges = [f"{lo:.0f} {word('and_above')}" if np.isnan(hi) else f"{word('below')} {hi:.0f}" if np.isinf(lo)
              else f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(low, high, strict=True)]
    shown = grades.assign(points=ranges).set_index("grade")
    return shown[["points", "customers", "share", "churn_rate", "predicted_rate", "lift", "cumulative_capture"]]


def _purpose(inputs: CardInputs, *, one_date: bool) -> str:
    if one_date:
        return ("Ranks customers by their probability of leaving, as the file's churn flag records it (the file does "
                "not say when a customer left, so there is no horizon)")
    definition = inputs.params.get("features", {}).get("churn", {}).get("definition")
    return (f"Ranks active retail customers by their probability of {PREDICTS.get(definition, 'churning')} within "
            f"{inputs.params.get('base', {}).get('horizon_months')} months")


def _data_lines(inputs: CardInputs, source: Source | None, *, one_date: bool) -> list[str]:
    """The data and period, and the churn label: monthly tables with cutoffs, or one date of a snapshot file."""
    stats, features = inputs.metrics.get("features", {}), inputs.params.get("features", {})
    horizon, churn = inputs.params.get("base", {}).get("horizon_months"), features.get("churn", {})
    lines = ["", "## Data and period"]
    if one_date:
        date = (inputs.split or {}).get("cutoff") or inputs.metrics.get("evaluate", {}).get("cutoff", "n/a")
        lines.append(f"A snapshot file: one row per customer at a single date ({date}), {_fmt(stats.get('customers'))} "
                     f"customers and {_fmt(stats.get('features'))} features; no monthly history, so each customer is "
                     "seen once, as the file describes them.")
    else:
        cadence = CADENCE.get(features.get("cutoff_every_months"))
        lines.append(f"{TABLES.get(source.name if source else None, 'Monthly account data')} of "
                     f"{_fmt(stats.get('customers'))} customers; {_fmt(stats.get('snapshots'))} point-in-time "
                     f"snapshots at {_fmt(stats.get('cutoffs'))}{f' {cadence}' if cadence else ''} cutoffs; latest "
                     f"fully labelled cutoff {stats.get('last_training_cutoff', 'n/a')}.")
    if source is not None and source.oracle:
        lines.append("The data are **simulated** (churnlab's bank simulator), so the true churn probability (the "
                     "oracle) is known and reported beside each metric.")
    elif source is not None:
        lines.append(f"The data are real (`{source.name}` source): the true churn probability is unknown, so the "
                     "metrics below are the only measure of the model's skill.")
    rates = stats.get("label_rate", {})  # by definition; a snapshot's one rate is keyed "snapshot"
    rate = rates.get("snapshot" if one_date else churn.get("definition"),
                     next(iter(rates.values())) if len(rates) == 1 else None)
    lines += ["", "## Churn definition and horizon"]
    if one_date:
        data = inputs.params.get("data", {})
        flag = f"`{data['target']}` = {data.get('positive', 1)}" if data.get("target") else "its churn flag"
        lines.append(f"Label = 1 if the file marks the customer as having left ({flag}). The file does not say when, "
                     f"so there is no horizon and no cutoff after which labels arrive. Label rate: {_fmt(rate)}.")
    else:
        lines.append(f"Label = 1 if the customer churned within (t, t+{horizon}] months of the cutoff t, by the "
                     f"`{churn.get('definition', 'n/a')}` definition ({_churn_meaning(churn)}). "
                     f"Training label rate: {_fmt(rate)}. Labels are known only {horizon} months after the cutoff.")
    return lines


def _monitoring_lines(monitor: dict) -> list[str]:
    """Stability and monitoring: the monitor stage's summary, why it was skipped, or that it has not run."""
    lines = ["", "## Stability and monitoring"]
    if not monitor:
        return [*lines, "not available (reports/metrics/monitor.json missing)"]
    if skipped_part(monitor, "monitor"):
        return [*lines, f"Not monitored: {skipped_part(monitor, 'monitor').rstrip('.')}."]
    sim, lf = monitor.get("simulator", {}), monitor.get("label_free", {})
    latest, alpha = monitor.get("latest", {}), monitor.get("settings", {}).get("alpha")
    level = "n/a" if alpha is None else f"{1 - alpha:.0%}"
    lines.append(f"{monitor.get('months_monitored')} months monitored against the training reference (PSI of the "
                 f"score, CSI and KS per feature, thresholds = no-drift {level} "
                 "quantiles at each month's sample size). Label-free AUC estimate: mean absolute error "
                 f"{_fmt(lf.get('auc_mae'))} over {lf.get('labelled_months')} labelled months.")
    if sim:
        lines.append(f"On the simulator: false-alarm rate {_fmt(sim.get('false_alarm_rate'))} on "
                     f"{sim.get('quiet_months')} quiet months, detection rate "
                     f"{_fmt(sim.get('detection_rate'))} on {sim.get('drift_months')} months from the "
                     f"competitor promotion ({sim.get('shock_start')}) on.")
    elif skipped_part(monitor, "simulator"):
        lines.append(f"Alarm rates against known drift: not measured ({skipped_part(monitor, 'simulator')}).")
    lines.append(f"Latest month {latest.get('month')}: retrain recommended = **{latest.get('retrain')}**"
                 + (f" ({'; '.join(latest.get('reasons', []))})" if latest.get("reasons") else "") + ".")
    return lines


def _limitations(inputs: CardInputs, *, one_date: bool) -> list[str]:
    horizon = inputs.params.get("base", {}).get("horizon_months")
    definition = "snapshot" if one_date else inputs.params.get("features", {}).get("churn", {}).get("definition")
    not_monitored = skipped_part(inputs.metrics.get("monitor", {}), "monitor")
    no_uplift = skipped_part(inputs.metrics.get("retention", {}), "uplift")
    return [
        "", "## Limitations",
        "- Trained on one date's snapshot: the model has seen no change over time (no market regime, no trend), and "
        "its probabilities may be biased on a later population until it is retrained on a newer file." if one_date else
        "- Trained on one bank's history; a market regime never seen in training (e.g. a competitor price war) "
        "is extrapolated flat by the trees, and the probabilities may be biased until the model is retrained.",
        f"- No drift or decay monitoring: {not_monitored.rstrip('.')}. Performance on new customers is known only "
        "once their outcomes are recorded." if not_monitored else
        "- The label-free performance estimate assumes calibration holds: it tracks shifts in who the "
        "customers are, not changes in how they behave (concept shift); realised metrics arrive "
        f"{horizon} months late.",
        *([f"- {LABEL_LIMITS[definition]}"] if definition in LABEL_LIMITS else []),
        "- Observational: a high score says who is likely to leave, not who an offer would keep "
        + ("(no randomised campaign in these data to measure that)." if no_uplift else
           "(see the retention stage's uplift analysis)."),
    ]


def render_card(inputs: CardInputs) -> str:
    """The model card as Markdown (see the module docstring for the sections)."""
    champion, tags = inputs.champion, inputs.champion.get("tags", {})
    monitor, evaluate = inputs.metrics.get("monitor", {}), inputs.metrics.get("evaluate", {})
    source = card_source(inputs)
    random_split = bool(inputs.split) and inputs.split.get("kind") == "random"
    one_date = (source is not None and source.snapshot) or random_split  # a snapshot file: no cutoffs, no horizon
    monitored = bool(monitor) and not skipped_part(monitor, "monitor")
    lines = [
        f"# Model card: {champion.get('name', 'churn model')} version {champion.get('version', 'n/a')}",
        "",
        f"Registry: `models:/{champion.get('name')}@champion` = version **{champion.get('version', 'n/a')}**.",
        "",
        "## Purpose and use",
        f"{_purpose(inputs, one_date=one_date)}, so the retention team can contact the riskiest first (early-warning "
        "list, risk grades A-E). The probabilities are calibrated, so they can be summed into expected churn counts "
        "and weighed against offer costs. Not for credit decisions, pricing of individual customers, or any use on "
        "data outside the period and population below.",
        *_data_lines(inputs, source, one_date=one_date),
    ]
    lines += ["", "## Features by indicator group"]
    if inputs.indicators is not None:
        for group, rows in inputs.indicators.groupby("group", sort=False):
            names = ", ".join(f"`{f}`" for f in rows["feature"])
            lines.append(f"- **{group}** ({len(rows)}): {names}")
        lines.append("\nDefinitions, units, look-back windows and information values: reports/indicators.csv.")
    else:
        lines.append("not available (reports/indicators.csv missing)")
    lines += ["", "## Validation design"]
    if random_split:
        lines.append(f"No time axis (one row per customer): a stratified random split by customer, "
                     f"{inputs.split['test_share']:.0%} test (used once), {inputs.split['validation_share']:.0%} "
                     "validation (early stopping, calibration), the rest training; tuning by stratified k-fold "
                     "cross-validation on the training customers (model.split.RandomSplit, model.crossval).")
    elif inputs.split:
        train = inputs.split["train"]
        lines.append(f"Out of time, as deployed: training cutoffs {train[0]}..{train[-1]} ({len(train)}), "
                     "validation (early stopping, tuning, calibration) "
                     f"{', '.join(inputs.split['validation'])}, test {inputs.split['test']} (the latest fully "
                     f"labelled cutoff, used once). A training label window never reaches the validation cutoff, "
                     "nor a validation one the test cutoff (churnlab.model.split).")
    lines += ["", "## Performance on the held-out test customers" if random_split else
              f"## Performance on the test cutoff {evaluate.get('cutoff', '')}".rstrip()]
    perf = performance_rows(inputs.metrics)
    lines.append(_table(readable(perf.set_index("metric"), digits=4))
                 if len(perf) else "not available (reports/metrics/evaluate.json missing)")
    lines += ["", "## Calibration",
              f"Calibration: `{inputs.params.get('train', {}).get('calibration', 'n/a')}` on the validation "
              f"{'customers' if random_split else 'cutoff'}. Expected calibration error (ECE) and Brier score are in "
              "the table above" + ("; the monitoring backtest compares mean predicted probability with the realised "
                                   "churn rate every month." if monitored else ".")]
    lines += _monitoring_lines(monitor)
    lines += ["", "## Risk grades"]
    lines.append(_table(readable(grade_rows(inputs.grades)))
                 if inputs.grades is not None else "not available (no grade table)")
    lines += _limitations(inputs, one_date=one_date)
    register = inputs.metrics.get("register", {})
    if register:
        lines += ["", "## Registration",
                  f"Last `register` run: version {register.get('version')} {register.get('decision')} "
                  f"({register.get('reason')}); `{register.get('metric')}` challenger "
                  f"{_fmt(register.get('challenger_score'))} vs champion {_fmt(register.get('champion_score'))}."]
    # No run id or git commit here: they differ on every run and commit, and the card is a DVC output that the same
    # params must reproduce; the registry version's MLflow run holds them as tags (git_commit, git_dirty).
    lines += ["", "## Lineage",
              f"- registry version: {champion.get('version', 'n/a')}: its MLflow run (Models -> "
              f"{champion.get('name')} in `make ui`) holds the git commit, the params and the inputs' md5s"]
    lines += [f"- {k.removeprefix('data_md5.')} md5: {v}" for k, v in sorted(tags.items()) if k.startswith("data_md5.")]
    lines += ["", "Reproduce: `git checkout <commit> && dvc repro`; retrain path: README, \"Monitoring and "
              "retraining\"."]
    return "\n".join(lines) + "\n"


def card_html(markdown: str, *, title: str) -> str:
    """The card as one offline HTML page (nbconvert's mistune Markdown renderer, inline CSS only)."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}code{background:#f4f4f4}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
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
