"""The one ending every stage shares: write what its `run()` produced, atomically, then record it in MLflow.

A stage's `run()` is pure: it returns a `StageResult` (tables, figures, text files, metrics, and the parts it
skipped with the reason). `write_result` writes the files first and `reports/metrics/<stage>.json` last, each
atomically, so a stage that fails midway leaves the previous files in place; then it logs one MLflow run named
after the stage with the params it read, the numeric metrics, lineage tags and the written files as artifacts.
"""

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from churnlab.core import paths, tracking
from churnlab.core.io import atomic_path, write_csv, write_json, write_parquet, write_text

log = logging.getLogger(__name__)

MAX_PARAM_CHARS = 500  # MLflow's limit on a param value is 6,000 characters; 500 keeps the UI readable
METRIC_NAME = re.compile(r"[^\w.\- /:]")  # characters MLflow refuses in a metric or param name


@dataclass
class StageResult:
    """What a stage produced, keyed by the path it goes to (relative to the project root).

    `metrics` becomes reports/metrics/<stage>.json (with `skipped` added when any part was skipped); `tables` are
    written as Parquet or CSV by suffix, `figures` (matplotlib) as PNG, `texts` as UTF-8 text. `skipped` maps a part
    of the stage to the sentence saying why it could not run on this data.
    """

    metrics: dict[str, Any]
    tables: dict[Path, pd.DataFrame] = field(default_factory=dict)
    figures: dict[Path, Any] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def files(self) -> list[Path]:
        return [Path(p) for p in (*self.tables, *self.figures, *self.texts)]


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested params and metrics as MLflow keys (lists and scalars are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        flat |= flatten(value, f"{name}.") if isinstance(value, dict) else {name: value}
    return flat


def mlflow_params(params: dict) -> dict[str, str]:
    """Nested params as MLflow params: {"train.tune.n_trials": "40"}, values cut to MAX_PARAM_CHARS.

    An absolute path inside the repository is recorded relative to it (`data.path`), never as a machine path.
    """
    return {METRIC_NAME.sub("_", k): str(paths.relative_to_root(v))[:MAX_PARAM_CHARS]
            for k, v in flatten(params).items()}


def mlflow_metrics(metrics: dict) -> dict[str, float]:
    """The finite numbers among the nested `metrics` (booleans as 0/1), under MLflow-safe dotted names."""
    numbers = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, bool):
            value = float(value)
        if isinstance(value, int | float) and math.isfinite(value):
            numbers[METRIC_NAME.sub("_", key)] = float(value)
    return numbers


def headline(metrics: dict, spec: dict[str, str]) -> dict[str, float | bool]:
    """The headline numbers of a stage: {name: value at the dotted `path`} for each `name: path` of `spec`.

    A path may name a top-level text field in braces ("models.{best_model}.c_index_uno"); a path the metrics lack
    (a part skipped on this source) or whose value is not a number is left out.
    """
    flat, fields = flatten(metrics), {k: v for k, v in metrics.items() if isinstance(v, str)}
    chosen = {}
    for name, path in spec.items():
        try:
            value = flat.get(path.format(**fields))
        except KeyError:
            continue
        if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
            chosen[name] = value
    return chosen


def write_headline(stage: str, metrics: dict, spec: dict[str, str]) -> Path:
    """metrics/<stage>.json: the stage's `headline` numbers, the DVC metrics file that git and `dvc exp` keep.

    The detail stays in reports/metrics/<stage>.json (an output, git-ignored), so `dvc exp show` shows a few dozen
    columns across the stages, not hundreds of per-month and per-model numbers.
    """
    target = paths.HEADLINE / f"{stage}.json"
    write_json(headline(metrics, spec), target)
    return target


def write_figure(figure, target: Path) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def write_files(result: StageResult) -> None:
    """Write the tables, figures and texts of `result`, each atomically."""
    for path, frame in result.tables.items():
        (write_parquet if Path(path).suffix == ".parquet" else write_csv)(frame, Path(path))
    for path, figure in result.figures.items():
        write_figure(figure, Path(path))
    for path, text in result.texts.items():
        write_text(text, Path(path))


def write_result(stage: str, result: StageResult, *, params: dict, inputs: list[Path], tags: dict | None = None,
                 artifacts: list[Path] | None = None, headline: dict[str, str] | None = None) -> Path:
    """Write `result` (files first, the metrics JSON last) and log the MLflow run `stage`; returns the JSON path.

    `params` are the params sections the stage read (logged flattened); `inputs` the data files it read (their md5
    becomes a lineage tag); `artifacts` defaults to every file written except Parquet tables, which hold one row per
    customer (ids stay in data/, never in MLflow) and can be gigabytes. Skipped parts are logged as warnings and
    become `skipped.<part>` tags. `headline` ({name: dotted path}) picks the numbers of metrics/<stage>.json
    (`write_headline`), written after everything else.
    """
    write_files(result)
    metrics = {**result.metrics, **({"skipped": result.skipped} if result.skipped else {})}
    for part, reason in result.skipped.items():
        log.warning("%s: %s skipped: %s", stage, part, reason)
    target = paths.METRICS / f"{stage}.json"
    write_json(metrics, target)
    if headline is not None:
        write_headline(stage, metrics, headline)
    mlflow = tracking.start()
    with mlflow.start_run(run_name=stage, tags=tracking.process_tags()):
        mlflow.set_tags({**tracking.lineage_tags(stage, inputs), "kind": stage, **(tags or {}),
                         **{f"skipped.{part}": reason[:250] for part, reason in result.skipped.items()}})
        mlflow.log_params(mlflow_params(params))
        mlflow.log_metrics(mlflow_metrics(metrics))
        default = [p for p in result.files() if p.suffix != ".parquet"]
        for path in [*(default if artifacts is None else artifacts), target]:
            if Path(path).exists():
                mlflow.log_artifact(str(path), artifact_path=stage)
    return target
