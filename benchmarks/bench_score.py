"""Benchmark: the champion's churn probabilities and reasons for 200,000 snapshot rows, pandas against Spark.

The rows carry every feature of the indicator catalogue (categories as text levels, flags, numbers with some
missing), drawn here with a known churn signal. An XGBoost ChurnModel (300 trees of depth 5: inside the train
stage's search space, max_depth 2-8 and up to 1,000 early-stopped rounds) is fitted on 10,000 other rows and
isotonic-calibrated on 10,000 more, logged as the pyfunc the register stage logs and registered in a throwaway MLflow
store (a temporary folder, removed at exit). Then, once each:

- local: `mlflow.pyfunc.load_model(uri).predict(rows)` in this process (what `engine.name: local` amounts to);
- spark: `churnlab.model.spark_scoring.SparkScorer` on local[2]: start the session, build the UDF
  (`mlflow.pyfunc.spark_udf(..., env_manager="local")`), score the rows (pandas -> Spark -> pandas, in order).

Then the rows' top three reasons (TreeSHAP through `pred_contribs`, in the catalogue's words), once each:

- local: `churnlab.model.reasons.reasons_of` in this process (XGBoost on the model's threads);
- spark: `churnlab.model.spark_reasons.reasons_on_spark` on the same session (a `mapInPandas` task per batch, one
  XGBoost thread a task; pandas -> Spark -> pandas, in order).

Printed: wall time of each step, the largest difference between the two probabilities and whether the two engines'
reasons are identical.

    python benchmarks/bench_score.py                         # 200,000 rows, both engines
    python benchmarks/bench_score.py --rows 50000 --engine local
    python benchmarks/bench_score.py --tiny                  # smoke run (the test suite's): 2,000 rows
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.contract.indicators import CATEGORICAL, FEATURES, FLAGS
from churnlab.model.churn import build_baseline, feature_columns, fit_model

SPARK_CONF = {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 8, "spark.driver.memory": "4g",
              "spark.ui.showConsoleProgress": False}  # params.yaml's engine.spark.conf, no progress bars
TINY = {"rows": 2000, "fit_rows": 1000, "trees": 20}  # checks that it runs; its figures mean nothing


def snapshot_rows(n: int, *, seed: int) -> pd.DataFrame:
    """n rows with every catalogue feature (snapshot dtypes) and a label driven by complaints and a falling balance."""
    rng = np.random.default_rng(seed)
    data = {"customer_id": [f"C{k:07d}" for k in range(n)]}
    for column in FEATURES:
        if column in CATEGORICAL:
            levels = [f"{column}_{k}" for k in range(4)]
            values = pd.Categorical(rng.choice(levels, n), categories=levels)
            values[rng.random(n) < 0.03] = np.nan
            data[column] = values
        elif column in FLAGS:
            data[column] = rng.random(n) < 0.4
        else:
            data[column] = np.where(rng.random(n) < 0.05, np.nan, rng.gamma(2.0, 1.0, n))
    rows = pd.DataFrame(data)
    logit = -3.0 + 1.2 * rows["complaints_3m"].fillna(0) - 2.0 * (rows["deposit_trend_3m"].fillna(2) - 2.0)
    rows["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return rows


def timed(label: str, step):
    start = time.perf_counter()
    out = step()
    print(f"{label}: {time.perf_counter() - start:.1f} s", flush=True)
    return out


def cached(spark, rows: pd.DataFrame):
    from churnlab.core.engine import plain_categories

    frame = spark.createDataFrame(plain_categories(rows)).cache()
    frame.count()
    return frame


def explain(spark, model, rows: pd.DataFrame) -> pd.DataFrame:
    """The top three reasons of `rows` (timed, printed): in this process, or in Spark tasks on `spark`."""
    from churnlab.contract.indicators import catalogue
    from churnlab.model.reasons import reason_labels, reasons_of, reference_values
    from churnlab.model.spark_reasons import reasons_on_spark

    words = {"labels": reason_labels(catalogue()), "reference": reference_values(rows, model.features), "top": 3}
    engine = "local" if spark is None else "spark"
    start = time.perf_counter()
    found = reasons_of(model, rows, **words) if spark is None else reasons_on_spark(spark, model, rows, **words)
    print(f"{engine}: reasons of {len(rows):,} rows (TreeSHAP, top 3): {time.perf_counter() - start:.1f} s", flush=True)
    return found


def score_both(mlflow, model, train: pd.DataFrame, rows: pd.DataFrame, kinds: dict, *, engines: list[str]) -> dict:
    """Log and register `model` in the current MLflow store, then score and explain `rows` with each engine (timed,
    printed)."""
    from churnlab.model.serving import log_churn_model

    with mlflow.start_run():
        uri = log_churn_model(mlflow, model, train).model_uri
    version = mlflow.register_model(uri, "bench-churn").version
    uri = f"models:/bench-churn/{version}"
    print(f"rows={len(rows):,} features={len(model.features)} ({len(kinds['categorical'])} categorical)")
    answers, reasons = {}, {}
    if "local" in engines:
        pyfunc = timed("local: load the pyfunc", lambda: mlflow.pyfunc.load_model(uri))
        start = time.perf_counter()
        answers["local"] = pyfunc.predict(rows)["p_churn"].to_numpy()
        print(f"local: predict {len(rows):,} rows: {time.perf_counter() - start:.1f} s", flush=True)
        reasons["local"] = explain(None, model, rows)
    if "spark" in engines:
        from churnlab.core.engine import spark_session
        from churnlab.model.spark_scoring import SparkScorer

        spark = timed("spark: start local[2]", lambda: spark_session(master="local[2]", conf=SPARK_CONF))
        spark.sparkContext.setLogLevel("ERROR")
        scorer = timed("spark: build the UDF (spark_udf)", lambda: SparkScorer(spark, uri))
        start = time.perf_counter()
        answers["spark"] = scorer(rows)
        print(f"spark: score {len(rows):,} rows (to Spark, check categories, spark_udf, back in order): "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        # the same rows already in Spark (as rows in the lake would be): what the check and the UDF cost alone
        frame = timed("spark: the rows to Spark, cached", lambda: cached(spark, rows[model.features]))
        timed("spark: check categories (rows in Spark)", lambda: scorer.check_categories(frame))
        timed("spark: check categories + spark_udf + collect p_churn (rows in Spark)",
              lambda: scorer.score(frame).select("p_churn").toPandas())
        frame.unpersist()
        reasons["spark"] = explain(spark, model, rows)
        spark.stop()
    if len(answers) == 2:
        print(f"max_abs_difference={np.abs(answers['local'] - answers['spark']).max():.3g}")
        print(f"reasons_identical={reasons['local'].equals(reasons['spark'])}")
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--engine", nargs="+", choices=["local", "spark"], default=["local", "spark"])
    parser.add_argument("--tiny", action="store_true", help="a smoke run: 2,000 rows, a 20-tree model")
    args = parser.parse_args()
    if args.tiny:
        args.rows, args.fit_rows, args.trees = TINY["rows"], TINY["fit_rows"], TINY["trees"]
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    rows = snapshot_rows(args.rows, seed=0)
    fit = snapshot_rows(args.fit_rows, seed=1)
    kinds = feature_columns(fit[list(FEATURES)])
    train, calibration = fit.iloc[: args.fit_rows // 2], fit.iloc[args.fit_rows // 2:]
    model = timed(f"fit xgboost ({args.trees} trees, depth 5) on {len(train):,} rows", lambda: fit_model(
        build_baseline("xgboost_default", kinds, seed=0, n_jobs=2, n_estimators=args.trees, max_depth=5), train,
        train["label"], kinds, name="xgboost").calibrated(calibration, calibration["label"], method="isotonic"))
    with tempfile.TemporaryDirectory(prefix="bench-score-") as store:  # the store and artifacts: removed at exit
        os.chdir(store)  # the artifacts land beside the store, not in the repository
        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        mlflow.set_experiment("bench-score")  # not an experiment id inherited from the environment (another store's)
        answers = score_both(mlflow, model, train, rows, kinds, engines=args.engine)
        os.chdir(Path(__file__).parent)
    print(f"mean_p_churn={np.mean(next(iter(answers.values()))):.4f}")


if __name__ == "__main__":
    main()
