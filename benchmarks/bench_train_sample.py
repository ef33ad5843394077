"""Benchmark (not a test): does the final XGBoost fit need every training row, or does a sample on the driver do?

Issue #14 asks for the final fit on every row with `xgboost.spark`, or a benchmark showing that a fit on a sample
loses less than 0.002 test ROC-AUC at 1,000,000 customers. This is that benchmark. It reads a project folder
after `train` ran (bench_pipeline.py leaves one per size: `<workdir>/local-1000000`): the snapshots, the
out-of-time split (models/split.json) and the tuned hyperparameters (reports/metrics/train.json, `best_params`).
Then, exactly as `train` refits (`train.fit.fit_tuned`: same params, early stopping on the validation cutoff),
it refits on a sample of the training rows, stratified by the label, for each `--rows`, and on all of them, and
scores the test cutoff (the rows `evaluate` scores). Printed per fit: training rows, wall time, boosting rounds,
test ROC-AUC, and its difference from the all-rows fit with a paired bootstrap 95 % interval over test customers
(`--boot` resamples). Calibration is left out: Platt scaling is monotone, so it does not change the AUC.

    .venv/bin/python benchmarks/bench_train_sample.py "${TMPDIR:-/tmp}/churnlab-bench-pipeline/local-1000000"
    .venv/bin/python benchmarks/bench_train_sample.py FOLDER --rows 100000 250000 500000
    .venv/bin/python benchmarks/bench_train_sample.py --tiny FOLDER   # smoke run (the suite's, on its test project)
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from churnlab.core import paths
from churnlab.model.churn import feature_columns
from churnlab.model.split import TimeSplit, read_snapshots
from churnlab.model.tune import OBJECTIVES
from churnlab.train.fit import fit_tuned, training_parts

TINY = {"rows": [500], "boot": 20}  # checks that it runs (on a small project, the suite's); its figures mean nothing


def stratified_sample(frame: pd.DataFrame, rows: int, *, seed: int) -> pd.DataFrame:
    """`rows` rows of `frame` drawn without replacement, with the churn rate of the whole (all rows if fewer)."""
    if rows >= len(frame):
        return frame
    sample, _ = train_test_split(frame, train_size=rows, stratify=frame["label"], random_state=seed)
    return sample.sort_index()


def paired_auc_interval(y: np.ndarray, p: np.ndarray, q: np.ndarray, *, boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of AUC(p) - AUC(q) over `boot` resamples of the test rows (the same rows for both)."""
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(boot):
        index = rng.integers(0, len(y), len(y))
        differences.append(roc_auc_score(y[index], p[index]) - roc_auc_score(y[index], q[index]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a project folder after `train` (and `features`)")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 250_000, 500_000],
                        help="training rows of each sample fit (the all-rows fit always runs)")
    parser.add_argument("--boot", type=int, default=200, help="bootstrap resamples of the test rows")
    parser.add_argument("--tiny", action="store_true", help=f"smoke run: {TINY}")
    args = parser.parse_args()
    if args.tiny:
        args.rows, args.boot = TINY["rows"], TINY["boot"]
    folder = args.folder.resolve()
    os.chdir(folder)  # the stages' relative paths
    params = yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8"))
    seed, horizon, settings = params["base"]["seed"], params["base"]["horizon_months"], params["train"]
    tune = settings["tune"]
    split = TimeSplit.from_dict(json.loads(paths.SPLIT.read_text(encoding="utf-8")))
    best = json.loads((paths.METRICS / "train.json").read_text(encoding="utf-8"))["study"]["best_params"]
    rows = read_snapshots(paths.SNAPSHOTS, cutoffs=[*split.train, *split.validation, split.test])
    parts = training_parts(rows[rows["cutoff"] != split.test], split, horizon_months=horizon)
    test = rows[(rows["cutoff"] == split.test) & rows["labeled"]]
    kinds = feature_columns(rows, exclude=settings["exclude"])
    train, validation, y_test = parts["train"], parts["validation"], test["label"].astype(int).to_numpy()
    print(f"folder={folder.name} training_rows={len(train):,} validation_rows={len(validation):,} "
          f"test_rows={len(test):,} churn_rate={train['label'].mean():.4f} best_params={best}", flush=True)
    probabilities = {}
    for n in sorted({*(r for r in args.rows if r < len(train)), len(train)}):
        started = time.perf_counter()
        model = fit_tuned(stratified_sample(train, n, seed=seed), validation, kinds, best_params=best, seed=seed,
                          n_jobs=settings["n_jobs"], max_rounds=tune["max_rounds"],
                          early_stopping_rounds=tune["early_stopping_rounds"],
                          eval_metric=OBJECTIVES[tune["objective"]][1])
        wall = time.perf_counter() - started
        probabilities[n] = model.predict_proba(test)
        rounds = int(model.estimator.named_steps["model"].best_iteration) + 1
        print(f"rows={n:,} fit_s={wall:.1f} rounds={rounds} test_roc_auc={roc_auc_score(y_test, probabilities[n]):.5f}",
              flush=True)
    full = probabilities[len(train)]
    for n, p in probabilities.items():
        if n == len(train):
            continue
        loss = roc_auc_score(y_test, full) - roc_auc_score(y_test, p)
        low, high = paired_auc_interval(y_test, full, p, boot=args.boot, seed=seed)
        print(f"rows={n:,} auc_loss_vs_all={loss:.5f} (95% CI {low:.5f} to {high:.5f}, {args.boot} paired "
              f"resamples) below_0.002={loss < 0.002}")


if __name__ == "__main__":
    main()
