"""Churn probabilities on Spark: a registered champion applied with `mlflow.pyfunc.spark_udf` (issue #14).

`SparkScorer(spark, model_uri)` wraps `mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local",
result_type="double")`: each Spark task loads the same pyfunc (`churnlab.model.serving.ChurnPyfunc`) and scores
its Arrow batches of rows with it, so a probability is the calibrated churn probability within the horizon that
`ChurnModel.predict_proba` gives for the same row, to 1e-12: every step of the model is row by row, so the batch
boundaries do not matter (bit for bit for the trees; the logistic model's matrix product may round the last bit
differently with the batch's shape, ~3e-16). `env_manager="local"` means the executors' Python must hold the
packages of the model's `pip_requirements` (this venv, on a local master).

How the columns reach the wrapper. The signature types the categorical columns `Any`: MLflow 3.17's schema check
passes such a column through untouched (`_enforce_schema`; Spark's VARIANT appears only when an `Any` *output* sets
the UDF's result type, and `result_type="double"` is given), while a pandas `category` column would be refused under
a `string` type (mlflow/mlflow#12910, open) and has no Arrow type Spark reads. So the rows are handed to the UDF as
one struct of the feature columns, cast to the types the model was trained on: categorical columns as text (a
missing value is null, None in pandas), flags boolean, numbers double (null, NaN in pandas).
Inside the UDF the struct arrives as a pandas frame with those names, and the wrapper's own preprocessing
(`churn.prepare`) turns the text into the categories its encoders learnt, as it does for JSON sent to the REST
server. Snapshot categories are text in churnlab; a category column of numbers would be compared as text.

Unknown categories and missing columns are checked on the driver, before any row is scored, because a warning
raised inside a Spark task stays in that task's Python worker (its stderr): a missing feature column raises
`ColumnError` naming it; a category the fitted encoders never saw warns (`UnknownCategoryWarning`) or is refused
(`UnknownCategoryError`), as the registered wrapper's `unknown_category` says, with the message the local wrapper
gives for the same rows (one Spark aggregation finds the unknown values and counts their rows). With "warn", each
task's wrapper warns again in its worker's stderr; the driver's warning is the one a caller can catch.

Over Spark Connect (engine.spark.remote) the same UDF gives the same probabilities (tests/model/
test_spark_scoring.py runs the known-answer check through a Connect server), but the model reaches the executors
another way. On a classic session `spark_udf` downloads the model here and ships it with the SparkContext's files;
a Connect client has no SparkContext, so each Python worker of the server loads the model itself from
`model_uri`, through this process's MLflow tracking URI (a `models:/` URI resolves in the registry there). The
workers must therefore be able to read the store: an MLflow tracking server (http://...) with artifacts the
cluster can read, or, with a Connect server on this machine, a local store under an absolute path. A local store
(SQLite, `file:`, a path) with a server on another machine, or under a relative path (resolved in the server's
working directory), cannot work: `check_connect_model` refuses it before any row is scored (EngineError), instead
of a failure inside every Spark task.
"""

import logging
import socket
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

from churnlab.core.checks import check_columns
from churnlab.core.engine import EngineError, is_connect, plain_categories
from churnlab.model.serving import OUTPUT, act_on_unknown

log = logging.getLogger(__name__)

ROW = "_churnlab_row"  # the row's position in a pandas frame handed to Spark: results are sorted back by it
TABLE = "scoring snapshots"  # the names churn_probability's column check uses, so both engines say the same


def local_path(uri: str) -> str | None:
    """The file path of an MLflow store or model at `uri` (`sqlite:///`, `file:` or a plain path), or None for one
    served by URL (http, databricks, s3, ...)."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "sqlite":
        return uri.removeprefix("sqlite:///")  # sqlite:////abs/mlflow.db -> /abs/mlflow.db; sqlite:///x.db -> x.db
    if scheme == "file":
        return urllib.parse.urlparse(uri).path
    return uri if scheme == "" else None


def on_this_machine(host: str) -> bool:
    """Whether the Spark Connect server's `host` is this machine (a loopback name or address, or this host's)."""
    host = host.strip("[]")
    if host in ("localhost", "::1") or host.startswith("127.") or host == socket.gethostname():
        return True
    try:
        return socket.gethostbyname(host) == socket.gethostbyname(socket.gethostname())
    except OSError:
        return False


def check_connect_model(*, host: str, model_uri: str, tracking_uri: str) -> None:
    """Refuse a model that the Python workers of a Spark Connect server on `host` cannot load (EngineError, saying
    what to do instead): they read it from `model_uri` through `tracking_uri` themselves (module docstring)."""
    source = tracking_uri if urllib.parse.urlparse(model_uri).scheme in ("models", "runs") else model_uri
    path = local_path(source)
    if path is None:
        return
    if not on_this_machine(host):
        raise EngineError(
            f"scoring over Spark Connect (sc://{host}): mlflow.pyfunc.spark_udf has each Spark task load "
            f"{model_uri} itself from {source}, a file on this machine that the Spark Connect server cannot read. "
            "Log and register the model in an MLflow tracking server the cluster can reach "
            "(MLFLOW_TRACKING_URI=http://..., artifacts on storage the cluster reads), or score with a classic "
            "session (engine.spark.master, whose executors get the model from the driver) or engine.name: local")
    if not Path(path).is_absolute():
        raise EngineError(
            f"scoring over Spark Connect: mlflow.pyfunc.spark_udf has each Spark task load {model_uri} itself from "
            f"{source}, a relative path that the server's Python workers would resolve in their own working "
            "directory. Give the store an absolute path (MLFLOW_TRACKING_URI=sqlite:////absolute/path/mlflow.db)")


def with_positions(spark, rows: pd.DataFrame, columns: list[str], *, partitions: int | None = None):
    """The `columns` of the pandas frame `rows` as a Spark DataFrame, each row with its position (`ROW`; categories
    as their text, `plain_categories`); `partitions` repartitions them (tests; None: as Spark splits them)."""
    plain = plain_categories(rows[columns].reset_index(drop=True)).assign(**{ROW: np.arange(len(rows))})
    frame = spark.createDataFrame(plain)
    return frame.repartition(partitions) if partitions else frame


def check_one_a_row(positions, rows: int, *, what: str) -> None:
    """RuntimeError unless Spark returned exactly one result (`what`) for each of the `rows` positions."""
    if len(positions) != rows or not np.array_equal(np.sort(np.asarray(positions)), np.arange(rows)):
        raise RuntimeError(f"Spark returned {len(positions)} {what} for {rows} rows, not one a row")


class SparkScorer:
    """The pyfunc at `model_uri` as a Spark UDF on `spark` (see the module docstring). Over Spark Connect, a model
    the server's workers could not load is refused first (`check_connect_model`: EngineError).

    Call it with a pandas frame of snapshot rows: the churn probability of each row, in the frame's order (an array).
    `score(rows)` takes a Spark DataFrame and returns it with a `p_churn` column, lazily.
    """

    def __init__(self, spark, model_uri: str):
        import mlflow

        if is_connect(spark):
            check_connect_model(host=spark.client.host, model_uri=model_uri, tracking_uri=mlflow.get_tracking_uri())
        self.spark = spark
        self.model_uri = model_uri
        # the driver's copy: the feature columns, their kinds, the known categories and the unknown-category policy
        self.wrapper = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
        self.udf = mlflow.pyfunc.spark_udf(spark, model_uri, env_manager="local", result_type="double")

    @property
    def features(self) -> list[str]:
        return self.wrapper.model.features

    def _typed(self):
        """The struct of the feature columns, each cast to the type the wrapper expects (module docstring)."""
        from pyspark.sql import functions

        kinds = self.wrapper.model.kinds
        types = {**dict.fromkeys(kinds["categorical"], "string"), **dict.fromkeys(kinds["flag"], "boolean"),
                 **dict.fromkeys(kinds["numeric"], "double")}
        return functions.struct(*[functions.col(f"`{c}`").cast(types[c]).alias(c) for c in self.features])

    def check_categories(self, rows) -> None:
        """Warn about or refuse the categories of Spark `rows` that the fitted encoders never saw, as the wrapper's
        `unknown_category` says, with the local wrapper's message (one Spark job, a row per unknown value)."""
        from pyspark.sql import functions

        known = {c: v for c, v in self.wrapper.known_categories.items() if c in rows.columns}
        if not known:
            return
        unknown = [
            functions.when(functions.col(f"`{c}`").isNotNull()
                           & ~functions.col(f"`{c}`").cast("string").isin(sorted(map(str, v))) if v
                           else functions.col(f"`{c}`").isNotNull(),
                           functions.struct(functions.lit(c).alias("column"),
                                            functions.col(f"`{c}`").cast("string").alias("value")))
            for c, v in known.items()]
        counted = (rows.select(functions.explode(functions.array(*unknown)).alias("unknown"))
                   .where(functions.col("unknown").isNotNull()).groupBy("unknown.column", "unknown.value").count()
                   .collect())
        found: dict[str, tuple[list, int]] = {}
        for column in known:  # in the wrapper's column order, as its message lists them
            values = {r["value"]: r["count"] for r in counted if r["column"] == column}
            if values:
                found[column] = (sorted(values, key=str), int(sum(values.values())))
        act_on_unknown(found, self.wrapper.known_categories, policy=self.wrapper.unknown_category)

    def score(self, rows):
        """Spark `rows` with a `p_churn` column (double): the calibrated churn probability within the horizon.
        Checks the columns and categories first (ColumnError, UnknownCategoryWarning or UnknownCategoryError)."""
        check_columns(rows, self.features, table=TABLE, needed_by="the champion")
        self.check_categories(rows)
        return rows.withColumn(OUTPUT, self.udf(self._typed()))

    def __call__(self, rows: pd.DataFrame, *, partitions: int | None = None) -> np.ndarray:
        """The churn probability of each row of the pandas frame `rows`, in its order. The rows travel through
        Spark with their position (`ROW`) and are put back in order by it, whatever order Spark returns them in;
        `partitions` repartitions them first (tests; None: as Spark splits them)."""
        check_columns(rows, self.features, table=TABLE, needed_by="the champion")
        if rows.empty:  # Spark cannot infer the types of an empty frame's text columns
            return np.empty(0, dtype=float)
        # read twice (the category check, the scores): converted from Arrow once
        frame = with_positions(self.spark, rows, self.features, partitions=partitions).cache()
        try:
            scored = self.score(frame).select(ROW, OUTPUT).toPandas()
        finally:
            frame.unpersist()
        check_one_a_row(scored[ROW], len(rows), what="scores")
        p = np.empty(len(rows), dtype=float)
        p[scored[ROW].to_numpy()] = scored[OUTPUT].to_numpy(dtype=float)
        log.info("scored %d rows on Spark with %s", len(rows), self.model_uri)
        return p
