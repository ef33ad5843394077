"""Churn_Modelling: churnlab's tuned model against public peers, under the peers' protocol (not a test).

Protocol (the published peer figures use it): 5-fold StratifiedKFold(shuffle=True, random_state=0) over the
10,000 customers of Churn_Modelling.csv; in each outer fold every model is fitted on the other four folds
and scores the held-out fold, which nothing saw before. Side by side in one run:

- logistic: `models.build_baseline("logistic", ...)` with params.yaml's options (standardised numbers,
  one-hot categories, class-weighted);
- xgboost_default: `models.build_baseline("xgboost_default", ...)` (XGBoost's defaults, ordinal codes);
- lightgbm_default: LGBMClassifier() with its defaults on the same columns (pandas categories, which
  LightGBM splits natively);
- flaml_20s: FLAML AutoML, `time_budget=20` seconds per fold, metric roc_auc, seed 0, its default learners;
- churnlab_tuned: `crossval.fit_cv_model` with params.yaml's `train` section (calibration, n_jobs, the
  whole `train.tune`: trials, timeout, space, pruner, rounds; `train.random_split.folds` inner folds),
  `base.seed` and `validation_share=0.0`, as the `train` stage calls it on the snapshot source. It gets all
  four training folds, whereas the stage first sets `random_split.validation_share` of its training
  customers aside (docs/benchmarks.md gives both figures). Its tuning sees only those folds (studies in a
  temporary folder).

The rows come from `readers.read_table` and `snapshot_source.build_snapshot`, as in the pipeline. Printed
per model: ROC-AUC mean +- sd over the outer folds, and the means of PR-AUC, Brier, ECE (`evaluate.ece`)
and EMPC (`evaluate.profit`, EUR per customer), with `churnlab.model.metrics.score_probabilities`, and the seconds
to fit and score all five folds. The table is also written to reports/benchmarks/bench_real.csv.

    .venv/bin/python benchmarks/bench_real.py        # or: make bench-real (about 9 minutes on 2 cores)
    .venv/bin/python benchmarks/bench_real.py --tiny --output "$(mktemp -d)/bench_real.csv"   # a smoke run (~1 min)

`--tiny` (the test suite's smoke run) keeps 1,000 of the rows, 2 outer folds, 2 Optuna trials of at most 50
rounds and a 2-second FLAML budget: it checks that the benchmark runs, and its figures mean nothing.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import yaml
from sklearn.model_selection import StratifiedKFold

from churnlab.contract.snapshot_file import build_snapshot
from churnlab.core.io import write_csv
from churnlab.core.logs import setup_logging
from churnlab.core.readers import read_table
from churnlab.model.churn import build_baseline, feature_columns, fit_model
from churnlab.model.crossval import fit_cv_model
from churnlab.model.metrics import score_probabilities

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "../shared/data/churn_modelling/Churn_Modelling.csv"
OUTPUT = REPO / "reports/benchmarks/bench_real.csv"
OUTER_FOLDS = 5
FLAML_BUDGET_S = 20
TINY = {"rows": 1000, "outer_folds": 2, "flaml_budget_s": 2, "tune": {"n_trials": 2, "max_rounds": 50}}
PEERS = {"logistic": 0.765, "xgboost_default": 0.843, "lightgbm_default": 0.861, "flaml_20s": 0.864}
METRICS = ("roc_auc", "pr_auc", "brier", "ece", "empc")


def load_rows(path: Path) -> pd.DataFrame:
    """Model rows of Churn_Modelling.csv, as the snapshot source builds them (the key only hides the ids)."""
    raw = read_table(path)
    return build_snapshot(raw, key=b"bench-real", id_column="CustomerId", target="Exited", positive=1, negative=0,
                          tenure="Tenure", tenure_unit="years")


def native_frame(rows: pd.DataFrame, kinds: dict) -> pd.DataFrame:
    """The feature columns with pandas categories kept (LightGBM and FLAML split them natively), flags as 0/1."""
    frame = rows[[*kinds["categorical"], *kinds["flag"], *kinds["numeric"]]].copy()
    frame[kinds["flag"]] = frame[kinds["flag"]].astype(int)
    return frame


def make_models(params: dict, kinds: dict, *, seed: int, n_jobs: int, profit: dict, workdir: Path,
                flaml_budget_s: int = FLAML_BUDGET_S) -> dict:
    """name -> fit(train rows, fold) returning a function from test rows to churn probabilities."""
    train = params["train"]

    def baseline(name):
        def fit(rows, fold):
            options = train["baselines"]["models"][name] or {}
            pipeline = build_baseline(name, kinds, seed=seed, n_jobs=n_jobs, **options)
            return fit_model(pipeline, rows, rows["label"].astype(int), kinds, name=name).predict_proba
        return fit

    def lightgbm(rows, fold):
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(random_state=seed, n_jobs=n_jobs, verbose=-1)
        model.fit(native_frame(rows, kinds), rows["label"].astype(int))
        return lambda test: model.predict_proba(native_frame(test, kinds))[:, 1]

    def flaml(rows, fold):
        from flaml import AutoML

        logging.getLogger("flaml").setLevel(logging.WARNING)  # its import sets INFO: a line per search otherwise
        automl = AutoML()
        automl.fit(X_train=native_frame(rows, kinds), y_train=rows["label"].astype(int).to_numpy(),
                   task="classification", metric="roc_auc", time_budget=flaml_budget_s, seed=0, n_jobs=n_jobs,
                   verbose=0)
        logging.getLogger(__name__).info("fold %d: FLAML chose %s", fold, automl.best_estimator)
        return lambda test: automl.predict_proba(native_frame(test, kinds))[:, 1]

    def churnlab_tuned(rows, fold):
        fitted = fit_cv_model(rows, kinds, seed=seed, folds=train["random_split"]["folds"], validation_share=0.0,
                              tune=train["tune"], n_jobs=n_jobs, calibration=train["calibration"],
                              storage=f"sqlite:///{workdir / 'optuna.db'}", study_name=f"bench-real-fold{fold}",
                              profit=profit, show_progress_bar=False)
        logging.getLogger(__name__).info("fold %d: %s", fold, fitted.summary)
        return fitted.model.predict_proba

    return {"logistic": baseline("logistic"), "xgboost_default": baseline("xgboost_default"),
            "lightgbm_default": lightgbm, "flaml_20s": flaml, "churnlab_tuned": churnlab_tuned}


def run(rows: pd.DataFrame, models: dict, evaluate: dict, *, outer_folds: int = OUTER_FOLDS) -> pd.DataFrame:
    """One row per model and outer fold: the test-fold metrics and the seconds to fit and score."""
    y = rows["label"].astype(int).to_numpy()
    splitter = StratifiedKFold(n_splits=outer_folds, shuffle=True, random_state=0)
    records = []
    for fold, (train_index, test_index) in enumerate(splitter.split(np.zeros(len(y)), y)):
        train, test = rows.iloc[train_index], rows.iloc[test_index]
        for name, fit in models.items():
            started = time.perf_counter()
            p = fit(train, fold)(test)
            seconds = time.perf_counter() - started
            scores = score_probabilities(y[test_index], p, ece_bins=evaluate["ece"]["bins"],
                                         ece_strategy=evaluate["ece"]["strategy"], top=evaluate["top_share"],
                                         profit=evaluate["profit"])
            records.append({"model": name, "fold": fold, **{m: scores[m] for m in METRICS}, "seconds": seconds})
            print(f"fold {fold} {name:<17} ROC-AUC {scores['roc_auc']:.4f}  {seconds:6.1f} s", flush=True)
    return pd.DataFrame(records)


def summarise(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Per model: ROC-AUC mean and sd over the folds, the other metrics' means, seconds summed over folds."""
    grouped = per_fold.groupby("model", sort=False)
    table = grouped[list(METRICS)].mean().rename(columns={"roc_auc": "roc_auc_mean"})
    table.insert(1, "roc_auc_sd", grouped["roc_auc"].std(ddof=1))
    table["seconds"] = grouped["seconds"].sum()
    table["peer_roc_auc"] = pd.Series(PEERS)
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="Churn_Modelling.csv")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--tiny", action="store_true", help="smoke run: 1,000 rows, 2 folds, 2 trials (module doc)")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"bench_real: {args.data.resolve()} not found: the benchmark needs Churn_Modelling.csv from "
                 f"the shared data folder (../shared/data/churn_modelling/ beside the repository)")
    setup_logging(logging.WARNING)
    logging.getLogger(__name__).setLevel(logging.INFO)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="flaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    seed, n_jobs = params["base"]["seed"], params["train"]["n_jobs"]
    tune, folds = params["train"]["tune"], params["train"]["random_split"]["folds"]
    rows = load_rows(args.data)
    outer_folds, flaml_budget_s = OUTER_FOLDS, FLAML_BUDGET_S
    if args.tiny:
        rows = rows.sample(n=TINY["rows"], random_state=0).reset_index(drop=True)
        outer_folds, flaml_budget_s = TINY["outer_folds"], TINY["flaml_budget_s"]
        params["train"]["tune"].update(TINY["tune"])
        tune = params["train"]["tune"]
    kinds = feature_columns(rows, exclude=params["train"]["exclude"])
    print(f"{len(rows):,} customers, churn rate {rows['label'].mean():.3f}, features {kinds}")
    print(f"churnlab_tuned budget per outer fold: {tune['n_trials']} Optuna trials (timeout {tune['timeout_s']} s), "
          f"each the mean {tune['objective']} over {folds} inner stratified folds; up to {tune['max_rounds']} "
          f"rounds, early stopping after {tune['early_stopping_rounds']}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-real-") as workdir:
        models = make_models(params, kinds, seed=seed, n_jobs=n_jobs, profit=params["evaluate"]["profit"],
                             workdir=Path(workdir), flaml_budget_s=flaml_budget_s)
        per_fold = run(rows, models, params["evaluate"], outer_folds=outer_folds)
    table = summarise(per_fold)
    wall = time.perf_counter() - started
    pd.set_option("display.width", 160)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wall time {wall:.0f} s on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)")
    write_csv(table.round(5), args.output)
    print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")


if __name__ == "__main__":
    main()
