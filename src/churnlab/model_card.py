"""The champion's model card: the model-risk documentation of a bank model, written from pipeline outputs.

Sections follow the usual model-risk inventory (in the spirit of SR 11-7 / PRA SS1/23 documentation and of
Mitchell et al. 2019, "Model Cards for Model Reporting"): purpose and use, data and period, churn definition
and horizon, the features by indicator group, the validation design, performance (with the simulator's
oracle ratio where the data are simulated), calibration, stability, the risk-grade table, limitations, and
the registry version and lineage (git commit and data hash from the MLflow run tags).

`render_card` is pure: it takes a `CardInputs` gathered by `gather_inputs` (the only function that reads
files or talks to MLflow) and returns Markdown; `card_html` wraps it as one offline HTML page.
"""

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from churnlab import paths


@dataclass
class CardInputs:
    """Everything the card shows; empty fields are reported as "not available", never invented."""

    champion: dict  # name, version, run_id, tags (lineage)
    params: dict  # base, features, train (the sections the card quotes)
    metrics: dict[str, dict] = field(default_factory=dict)  # reports/metrics/<stage>.json by stage name
    indicators: pd.DataFrame | None = None  # reports/indicators.csv
    grades: pd.DataFrame | None = None  # the grade table on the test cutoff
    split: dict | None = None  # models/split.json


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return "n/a" if value is None else str(value)


def _table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _flat(payload: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in payload.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def performance_rows(metrics: dict[str, dict]) -> pd.DataFrame:
    """Test-cutoff metrics of the chosen model (evaluate.json), with the oracle AUC and ratio where simulated."""
    evaluate = metrics.get("evaluate", {})
    rows = [(k, v) for k, v in evaluate.get("test", {}).items()]
    if "churn_rate" in evaluate:
        rows.append(("churn_rate", evaluate["churn_rate"]))
    oracle = evaluate.get("oracle", {})
    if oracle:
        rows += [("oracle_roc_auc", oracle.get("roc_auc")),
                 ("oracle_ratio = (AUC - 0.5) / (oracle AUC - 0.5)", oracle.get("ratio"))]
    return pd.DataFrame(rows, columns=["metric", "value"])


def render_card(inputs: CardInputs) -> str:
    """The model card as Markdown (see the module docstring for the sections)."""
    champion, base, features = inputs.champion, inputs.params.get("base", {}), inputs.params.get("features", {})
    tags = champion.get("tags", {})
    feature_stats = inputs.metrics.get("features", {})
    monitor = inputs.metrics.get("monitor", {})
    horizon = base.get("horizon_months")
    lines = [
        f"# Model card: {champion.get('name', 'churn model')} version {champion.get('version', 'n/a')}",
        "",
        f"Registry: `models:/{champion.get('name')}@champion` = version **{champion.get('version', 'n/a')}** "
        f"(run `{champion.get('run_id', 'n/a')}`).",
        "",
        "## Purpose and use",
        f"Ranks active retail customers by their probability of closing their relationship within {horizon} months, "
        "so the retention team can contact the riskiest first (early-warning list, risk grades A-E). The "
        "probabilities are calibrated, so they can be summed into expected churn counts and weighed against "
        "offer costs. Not for credit decisions, pricing of individual customers, or any use on data outside "
        "the period and population below.",
        "",
        "## Data and period",
        f"Monthly account data of {_fmt(feature_stats.get('customers'))} customers; "
        f"{_fmt(feature_stats.get('snapshots'))} point-in-time snapshots at {_fmt(feature_stats.get('cutoffs'))} "
        f"quarterly cutoffs; latest fully labelled cutoff {feature_stats.get('last_training_cutoff', 'n/a')}.",
    ]
    if "simulate" in inputs.metrics:
        lines.append("The data are **simulated** (churnlab's bank simulator), so the true churn probability (the "
                     "oracle) is known and reported beside each metric.")
    churn = features.get("churn", {})
    lines += ["", "## Churn definition and horizon",
              f"Label = 1 if the customer churned within (t, t+{horizon}] months of the cutoff t, by the "
              f"`{churn.get('definition', 'n/a')}` definition (the bank's own record of a closed relationship). "
              f"Training label rate: {_fmt(feature_stats.get('label_rate', {}).get(churn.get('definition')))}. "
              f"Labels are known only {horizon} months after the cutoff."]
    lines += ["", "## Features by indicator group"]
    if inputs.indicators is not None:
        for group, rows in inputs.indicators.groupby("group", sort=False):
            names = ", ".join(f"`{f}`" for f in rows["feature"])
            lines.append(f"- **{group}** ({len(rows)}): {names}")
        lines.append("\nDefinitions, units, look-back windows and information values: reports/indicators.csv.")
    else:
        lines.append("not available (reports/indicators.csv missing)")
    lines += ["", "## Validation design"]
    if inputs.split:
        train = inputs.split["train"]
        lines.append(f"Out of time, as deployed: training cutoffs {train[0]}..{train[-1]} ({len(train)}), "
                     "validation (early stopping, tuning, calibration) "
                     f"{', '.join(inputs.split['validation'])}, test {inputs.split['test']} (the latest fully "
                     f"labelled cutoff, used once). A training label window never reaches the validation cutoff, "
                     "nor a validation one the test cutoff (churnlab.split).")
    evaluate = inputs.metrics.get("evaluate", {})
    lines += ["", f"## Performance on the test cutoff {evaluate.get('cutoff', '')}".rstrip()]
    perf = performance_rows(inputs.metrics)
    lines.append(_table(perf) if len(perf) else "not available (reports/metrics/evaluate.json missing)")
    lines += ["", "## Calibration",
              f"Calibration: `{inputs.params.get('train', {}).get('calibration', 'n/a')}` on the validation cutoff. "
              "Expected calibration error (ECE) and Brier score are in the table above; the monitoring backtest "
              "compares mean predicted probability with the realised churn rate every month."]
    lines += ["", "## Stability and monitoring"]
    if monitor:
        sim, lf = monitor.get("simulator", {}), monitor.get("label_free", {})
        latest = monitor.get("latest", {})
        lines.append(f"{monitor.get('months_monitored')} months monitored against the training reference (PSI of the "
                     f"score, CSI and KS per feature, thresholds = no-drift {1 - monitor['settings']['alpha']:.0%} "
                     f"quantiles at each month's sample size). Label-free AUC estimate: mean absolute error "
                     f"{_fmt(lf.get('auc_mae'))} over {lf.get('labelled_months')} labelled months.")
        if sim:
            lines.append(f"On the simulator: false-alarm rate {_fmt(sim.get('false_alarm_rate'))} on "
                         f"{sim.get('quiet_months')} quiet months, detection rate "
                         f"{_fmt(sim.get('detection_rate'))} on {sim.get('drift_months')} months from the "
                         f"competitor promotion ({sim.get('shock_start')}) on.")
        lines.append(f"Latest month {latest.get('month')}: retrain recommended = **{latest.get('retrain')}**"
                     + (f" ({'; '.join(latest.get('reasons', []))})" if latest.get("reasons") else "") + ".")
    else:
        lines.append("not available (reports/metrics/monitor.json missing)")
    lines += ["", "## Risk grades"]
    lines.append(_table(inputs.grades) if inputs.grades is not None else "not available (no grade table)")
    lines += ["", "## Limitations",
              "- Trained on one bank's history; a market regime never seen in training (e.g. a competitor price war) "
              "is extrapolated flat by the trees, and the probabilities may be biased until the model is retrained.",
              "- The label-free performance estimate assumes calibration holds: it tracks shifts in who the "
              "customers are, not changes in how they behave (concept shift); realised metrics arrive "
              f"{horizon} months late.",
              "- Churn is defined by account closure; quiet attrition (balances moved out, account kept) is not a "
              "positive label.",
              "- Observational: a high score says who is likely to leave, not who an offer would keep (see the "
              "retention stage's uplift analysis)."]
    register = inputs.metrics.get("register", {})
    if register:
        lines += ["", "## Registration",
                  f"Last `register` run: version {register.get('version')} {register.get('decision')} "
                  f"({register.get('reason')}); `{register.get('metric')}` challenger "
                  f"{_fmt(register.get('challenger_score'))} vs champion {_fmt(register.get('champion_score'))}."]
    lines += ["", "## Lineage",
              f"- registry version: {champion.get('version', 'n/a')}; run id: {champion.get('run_id', 'n/a')}",
              f"- git commit: {tags.get('git_commit', 'n/a')} (dirty: {tags.get('git_dirty', 'n/a')})"]
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
    from churnlab import tracking

    mlflow = tracking.start()
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias(model_name, "champion")
    tags = client.get_run(version.run_id).data.tags if version.run_id else {}
    champion = {"name": model_name, "version": int(version.version), "run_id": version.run_id,
                "tags": {k: v for k, v in tags.items() if k.startswith(("git_", "data_md5.", "dvc_dep."))}}
    metrics = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(paths.METRICS.glob("*.json"))}
    grades = next((pd.read_csv(p) for p in (paths.REPORTS / "grade_table.csv",) if Path(p).exists()), None)
    return CardInputs(
        champion=champion, params=params, metrics=metrics,
        indicators=pd.read_csv(paths.INDICATORS) if paths.INDICATORS.exists() else None, grades=grades,
        split=json.loads(paths.SPLIT.read_text(encoding="utf-8")) if paths.SPLIT.exists() else None)
