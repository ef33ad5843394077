"""The champion on Spark: `mlflow.pyfunc.spark_udf` on local[2] gives the pandas pyfunc's probabilities (to 1e-12,
whatever the partitions and Arrow batches), in the rows' order; unknown categories warn or are refused with the
local wrapper's message; a missing feature column is named. Over Spark Connect: the same probabilities and warning,
and a model store the Connect server's workers could not read is refused with what to do instead.

Models are logged to an MLflow store in tmp_path and registered, as the register stage does.
"""

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest
from churn_frames import REGIONS, frame_with_region

from churnlab.core import tracking
from churnlab.core.checks import ColumnError
from churnlab.core.engine import EngineError
from churnlab.model.churn import build_baseline, feature_columns, fit_model
from churnlab.model.serving import UnknownCategoryError, UnknownCategoryWarning, log_churn_model
from churnlab.model.spark_scoring import SparkScorer, check_connect_model

pytestmark = pytest.mark.slow  # Spark jobs: seconds each

NAME = "churnlab-churn"
TOLERANCE = 1e-12  # the same model on the same rows: only the Arrow batch boundaries differ


@pytest.fixture(scope="module")
def frame():
    return frame_with_region(150)


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    store = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
        patch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # set_experiment sets it: gone again after the module
        patch.chdir(store)
        yield tracking.start()


def champion_uri(mlflow, frame, *, kind: str = "tree", unknown_category: str = "warn") -> str:
    """A calibrated baseline (`kind`: tree or logistic) logged, registered and given the alias champion; returns
    the version's URI, as the score stage resolves it."""
    labeled = frame[frame["labeled"]]
    y, kinds = labeled["label"].astype(int), feature_columns(frame)
    model = fit_model(build_baseline(kind, kinds, seed=0, n_jobs=1), labeled, y, kinds, name=kind)
    model = model.calibrated(labeled, y, method="platt")
    with mlflow.start_run():
        uri = log_churn_model(mlflow, model, labeled, unknown_category=unknown_category).model_uri
    version = mlflow.register_model(uri, NAME).version
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", version)
    return f"models:/{NAME}/{version}"


@pytest.fixture(scope="module", params=["tree", "logistic"])
def scorer(request, mlflow, frame, spark):
    return SparkScorer(spark, champion_uri(mlflow, frame, kind=request.param))


@contextlib.contextmanager
def small_batches(spark):
    """Arrow batches of 16 rows on `spark`, so each task's UDF scores several batches."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "16")
    try:
        yield
    finally:
        spark.conf.set(key, before)


def shuffled(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in a random order, with an index that is not their position (the scorer must not rely on either)."""
    rows = frame.sample(frac=1.0, random_state=4)
    return rows.set_axis(np.arange(len(rows))[::-1] * 3 + 11)


def assert_pyfunc_probabilities(mlflow, scorer, frame, *, partitions: int) -> None:
    """`scorer`'s probabilities of the rows of `frame`, shuffled, in `partitions` partitions and Arrow batches of 16
    rows, are the pandas pyfunc's and the model's, in the rows' order, to TOLERANCE."""
    rows = shuffled(frame)
    assert rows["segment"].isna().any() and rows["region"].isna().any() and rows["income"].isna().any()
    with warnings.catch_warnings(), small_batches(scorer.spark):
        warnings.simplefilter("error", UnknownCategoryWarning)  # a missing value is not an unknown category
        on_spark = scorer(rows, partitions=partitions)
    local = mlflow.pyfunc.load_model(scorer.model_uri).predict(rows)["p_churn"].to_numpy()
    np.testing.assert_allclose(on_spark, local, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(on_spark, scorer.wrapper.model.predict_proba(rows), rtol=0, atol=TOLERANCE)
    assert on_spark.std() > 0.01  # the rows differ, so a misaligned answer would not pass


@pytest.mark.parametrize("partitions", [1, 3])
def test_spark_udf_gives_the_pandas_pyfunc_probabilities_in_the_rows_order(mlflow, scorer, frame, partitions):
    assert_pyfunc_probabilities(mlflow, scorer, frame, partitions=partitions)


def test_the_wrapper_s_probabilities_do_not_depend_on_the_batch(mlflow, scorer, frame):
    """What lets Spark split the rows anywhere: each row's probability is the same alone, in batches or in all.
    Exactly so for the trees; the logistic model's matrix product may round the last bit differently with the
    batch's shape (BLAS blocking): measured 3e-16, checked to 1e-14."""
    champion = mlflow.pyfunc.load_model(scorer.model_uri)
    whole = champion.predict(frame)["p_churn"].to_numpy()
    batched = np.concatenate([champion.predict(frame.iloc[i:i + 7])["p_churn"].to_numpy()
                              for i in range(0, len(frame), 7)])
    alone = [champion.predict(frame.iloc[[i]])["p_churn"].iloc[0] for i in (0, 57, len(frame) - 1)]
    exact = scorer.wrapper.model.name == "tree"
    tolerance = 0 if exact else 1e-14
    np.testing.assert_allclose(batched, whole, rtol=0, atol=tolerance)
    np.testing.assert_allclose(alone, whole[[0, 57, len(frame) - 1]], rtol=0, atol=tolerance)


def test_a_spark_frame_gets_a_p_churn_column_on_its_own_rows(scorer, frame, spark):
    from churnlab.core.engine import plain_categories

    rows = spark.createDataFrame(plain_categories(frame)).repartition(3)
    scored = scorer.score(rows).select("customer_id", "cutoff", "p_churn").toPandas()
    expected = frame[["customer_id", "cutoff"]].assign(expected=scorer.wrapper.model.predict_proba(frame))
    both = expected.merge(scored, on=["customer_id", "cutoff"], validate="1:1")
    assert len(both) == len(frame)
    np.testing.assert_allclose(both["p_churn"], both["expected"], rtol=0, atol=TOLERANCE)
    assert scorer(frame.head(0)).shape == (0,)  # no rows, no Spark job


def with_unknown(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with region "mars" in two rows and "atlantis" in one; categories as text."""
    rows = rows.astype({"segment": "object", "region": "object"})
    rows.iloc[[0, 3], rows.columns.get_loc("region")] = "mars"
    rows.iloc[1, rows.columns.get_loc("region")] = "atlantis"
    return rows


def assert_unknown_category_warns_as_locally(mlflow, scorer, frame) -> None:
    """Unknown regions in the first 40 rows of `frame`: `scorer` warns once, here, with the local wrapper's message,
    and scores them as the pandas pyfunc does."""
    rows = with_unknown(frame.head(40))
    with pytest.warns(UnknownCategoryWarning) as local:
        expected = mlflow.pyfunc.load_model(scorer.model_uri).predict(rows)["p_churn"].to_numpy()
    with pytest.warns(UnknownCategoryWarning) as on_spark:
        p = scorer(rows)
    assert len(on_spark) == 1 and str(on_spark[0].message) == str(local[0].message)
    assert "column 'region': 3 row(s)" in str(on_spark[0].message) and "'atlantis', 'mars'" in str(
        on_spark[0].message)
    np.testing.assert_allclose(p, expected, rtol=0, atol=TOLERANCE)


def test_an_unknown_category_warns_with_the_local_message_and_is_still_scored(mlflow, scorer, frame):
    assert_unknown_category_warns_as_locally(mlflow, scorer, frame)


@pytest.mark.spark_connect
def test_spark_udf_over_spark_connect_gives_the_local_probabilities_and_warning(mlflow, frame, spark_connect):
    """engine.spark.remote: the server's Python workers load the registered model themselves (from this store, an
    absolute SQLite path on this machine) and give the pandas pyfunc's probabilities; an unknown category warns
    here, with the local message. The tree champion in three partitions (the logistic one runs the same UDF)."""
    assert type(spark_connect).__module__.startswith("pyspark.sql.connect")  # a Connect client, not a local session
    scorer = SparkScorer(spark_connect, champion_uri(mlflow, frame, kind="tree"))
    assert_pyfunc_probabilities(mlflow, scorer, frame, partitions=3)
    assert_unknown_category_warns_as_locally(mlflow, scorer, frame)
    relative = "sqlite:///mlflow.db"  # resolved in the working directory of whoever opens it
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(relative)
    try:
        with pytest.raises(EngineError, match=r"from sqlite:///mlflow\.db, a relative path .* Give the store an "
                                              r"absolute path"):
            SparkScorer(spark_connect, scorer.model_uri)
    finally:
        mlflow.set_tracking_uri(previous)


def test_a_model_store_the_connect_server_cannot_read_is_refused_with_what_to_do():
    """What the Connect server's workers can load a model from: a URL anywhere; a local store only on this machine
    and under an absolute path. 192.0.2.10 is a documentation address (RFC 5737), never this machine."""
    store = "sqlite:////srv/churnlab/mlruns/mlflow.db"
    for host, model_uri, tracking_uri in [("localhost", "models:/m/1", store), ("127.0.0.1", "runs:/abc/model", store),
                                          ("192.0.2.10", "models:/m/1", "http://mlflow.bank:5000"),
                                          ("192.0.2.10", "s3://models/churn", store)]:
        check_connect_model(host=host, model_uri=model_uri, tracking_uri=tracking_uri)  # no error
    with pytest.raises(EngineError, match=r"sc://192\.0\.2\.10.* load models:/m/1 itself from "
                                          r"sqlite:////srv/churnlab/mlruns/mlflow\.db, a file on this machine that the "
                                          r"Spark Connect server cannot read\. .*MLFLOW_TRACKING_URI=http://.*"
                                          r"engine\.spark\.master"):
        check_connect_model(host="192.0.2.10", model_uri="models:/m/1", tracking_uri=store)
    for model_uri in ("/srv/churnlab/model", "file:///srv/churnlab/model"):
        with pytest.raises(EngineError, match="a file on this machine"):
            check_connect_model(host="192.0.2.10", model_uri=model_uri, tracking_uri="http://mlflow.bank:5000")
    with pytest.raises(EngineError, match=r"mlruns/mlflow\.db, a relative path"):
        check_connect_model(host="localhost", model_uri="models:/m/1", tracking_uri="sqlite:///mlruns/mlflow.db")


def test_refuse_raises_the_local_error_before_scoring(mlflow, frame, spark):
    uri = champion_uri(mlflow, frame, unknown_category="refuse")
    scorer, rows = SparkScorer(spark, uri), with_unknown(frame.head(40))
    with pytest.raises(UnknownCategoryError) as local:
        mlflow.pyfunc.load_model(uri).predict(rows)
    with pytest.raises(UnknownCategoryError) as on_spark:
        scorer(rows)
    assert str(on_spark.value) == str(local.value) and "refused: column 'region': 3 row(s)" in str(on_spark.value)
    np.testing.assert_allclose(scorer(frame.head(40)), mlflow.pyfunc.load_model(uri).predict(frame.head(40))[
        "p_churn"], rtol=0, atol=TOLERANCE)  # known categories only: scored


def test_a_missing_feature_column_is_named(scorer, frame, spark):
    without = frame.drop(columns=["deposit_trend_3m"])
    with pytest.raises(ColumnError, match=r"scoring snapshots: missing 1 column\(s\) needed by the champion: "
                                          r"'deposit_trend_3m'"):
        scorer(without)
    with pytest.raises(ColumnError, match=r"missing 1 column\(s\) needed by the champion: 'region'"):
        scorer.score(spark.createDataFrame(frame.drop(columns=["region"]).astype({"segment": "object"})))


def test_a_categorical_column_without_any_value_is_scored_as_locally(mlflow, scorer, frame):
    """All missing (no type for Spark to infer from the text): null text, scored with no category, as in pandas."""
    rows = frame.head(30).assign(region=pd.Categorical([np.nan] * 30, categories=REGIONS))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownCategoryWarning)
        on_spark = scorer(rows)
    np.testing.assert_allclose(on_spark, mlflow.pyfunc.load_model(scorer.model_uri).predict(rows)["p_churn"], rtol=0,
                               atol=TOLERANCE)
