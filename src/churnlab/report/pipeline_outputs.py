"""What the data source offers the story notebooks, and one sentence for every section it cannot support.

The `data` stage writes data/raw/source.json (`paths.SOURCE`): which source it read (simulator, contract,
ledger or snapshot) and what that source offers: a time axis (the monthly contract tables; a snapshot file
has one row per customer at one date), past retention campaigns, and a ground truth (only the simulator's
oracle). A notebook reads it first with `read_source` and, where a section needs what the source lacks,
prints `skip(section, reason)` instead of running the section: one sentence saying what and why, never a
number made up to fill the gap. Stages that could not run on a source write `{"skipped": reason}` into
their metrics JSON (survival.json, or its `clv` entry); `read_metrics` and `skipped_reason` read those.

Nothing here prints (the notebooks do) or writes.
"""

import json
from pathlib import Path

import pandas as pd

from churnlab.contract.source import Source, read_source  # noqa: F401  (notebooks import both here)
from churnlab.core import paths

CHURN = {  # features.churn.definition -> what churn means (churnlab.contract.labels has the exact rules)
    "closure": "a recorded churn event: an account closed, the money moved out, or a dormant account closed by "
               "the bank",
    "dormancy": "{dormancy_months} months in a row without a customer-initiated transaction",
    "value": "the balances more than {value_drop_pct} % below their level at the cutoff for {value_window_months} "
             "months in a row",
    "partial": "at least {partial_drop} fewer product(s) than at the cutoff",
}


def label_meaning(source: Source, params: dict) -> str:
    """What the churn label means on this source, in words, from params.yaml (`params`: the whole file).

    A snapshot's label is the file's churn flag, with no horizon (the file does not say when anyone left);
    otherwise it is "churned within H months after a cutoff" by `features.churn.definition`.
    """
    if source.snapshot:
        data = params["data"]
        return (f"the file's churn flag ({data['target']} = {data['positive']}), as recorded on the one date the "
                "file describes; it does not say when a customer left, so there is no horizon")
    churn = params["features"]["churn"]
    definition = churn["definition"]
    return (f"churned within {params['base']['horizon_months']} months after a cutoff, where churn means "
            f"{CHURN[definition].format(**churn)} (features.churn.definition: {definition})")


def skip(section: str, reason: str) -> str:
    """The one sentence a notebook prints instead of a section: '<section> skipped: <reason>.'"""
    return f"{section} skipped: {reason.rstrip('.')}."


def skipped_reason(metrics) -> str | None:
    """The reason in a stage's `{"skipped": {part: reason}}` (or `{"skipped": reason}`) entry, or None when
    `metrics` holds results; several parts' reasons are joined with "; "."""
    reason = metrics.get("skipped") if isinstance(metrics, dict) else None
    return "; ".join(dict.fromkeys(reason.values())) if isinstance(reason, dict) else reason


def read_metrics(stage: str, folder: Path | str = paths.METRICS) -> dict:
    """reports/metrics/<stage>.json; `{"skipped": reason}` when the stage has not written it."""
    path = Path(folder) / f"{stage}.json"
    if not path.exists():
        return {"skipped": f"{path} is missing: the {stage} stage has not run (dvc repro {stage})"}
    return json.loads(path.read_text(encoding="utf-8"))


def unrecorded(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The `columns` of `frame` holding one value at most (all 0, all missing): the source does not record them.

    An adapter fills a contract column its data lack with a constant (the ledger's digital logins are 0,
    its competitor promotion index is 0), so a chart of it would show a flat line that means "unknown".
    """
    return [c for c in columns if c in frame and frame[c].nunique(dropna=True) <= 1]
