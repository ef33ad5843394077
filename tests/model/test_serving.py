"""The served model: `models:/churnlab-churn@champion` gives the probabilities `ChurnModel.predict_proba` gives (what
the score stage uses), and a category the model never saw warns or is refused, as the wrapper's setting says.

Models are logged to an MLflow store in tmp_path; the REST test starts `mlflow models serve` on 127.0.0.1 for a
few seconds, from that store.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from churn_frames import REGIONS, frame_with_region

from churnlab.core import tracking
from churnlab.model import serving
from churnlab.model.churn import build_baseline, feature_columns, fit_model
from churnlab.model.serving import ChurnPyfunc, UnknownCategoryError, UnknownCategoryWarning, log_churn_model

NAME = "churnlab-churn"


@pytest.fixture(scope="module")
def frame():
    return frame_with_region()


@pytest.fixture(scope="module", params=["tree", "logistic"])
def model(request, frame):
    """A calibrated baseline: the tree encoder (ordinal codes) or the linear one (imputer, then one-hot)."""
    labeled = frame[frame["labeled"]]
    y = labeled["label"].astype(int)
    kinds = feature_columns(frame)
    fitted = fit_model(build_baseline(request.param, kinds, seed=0, n_jobs=1), labeled, y, kinds, name=request.param)
    return fitted.calibrated(labeled, y, method="platt")


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    """One temporary store for the module (creating a store costs seconds); each test registers new versions."""
    store = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
        patch.chdir(store)
        yield tracking.start()


def register_champion(mlflow, model, rows: pd.DataFrame, **options) -> str:
    """Log `model`, register it and give it the alias `champion`, as register does; returns the alias URI."""
    with mlflow.start_run():
        uri = log_churn_model(mlflow, model, rows, **options).model_uri
    version = mlflow.register_model(uri, NAME).version
    mlflow.MlflowClient().set_registered_model_alias(NAME, "champion", version)
    return f"models:/{NAME}@champion"


def with_unknown(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with region "mars" in the first row and "atlantis" in the second; categories as text, as in JSON."""
    rows = rows.astype({"segment": "object", "region": "object"})
    rows.loc[rows.index[0], "region"] = "mars"
    rows.loc[rows.index[1], "region"] = "atlantis"
    return rows


def test_known_categories_are_the_fitted_encoders_categories(model):
    """The training categories of each categorical column; a missing value (and the imputer's "missing") is not one."""
    assert serving.known_categories(model) == {"segment": {"mass", "affluent", "private"}, "region": set(REGIONS)}


def test_champion_from_the_registry_gives_the_stage_probabilities(mlflow, model, frame):
    labeled = frame[frame["labeled"]]
    champion = mlflow.pyfunc.load_model(register_champion(mlflow, model, labeled))
    missing = frame[frame["segment"].isna()].head(2), frame[frame["region"].isna()].head(2)
    rows = pd.concat([frame.sample(6, random_state=0), *missing])  # a missing value is not an unknown category
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownCategoryWarning)
        served = champion.predict(rows)["p_churn"]
    np.testing.assert_allclose(served, model.predict_proba(rows), rtol=1e-12)
    assert served.index.equals(rows.index)


def test_an_unknown_category_warns_naming_the_column_and_values_and_is_still_scored(mlflow, model, frame):
    champion = mlflow.pyfunc.load_model(register_champion(mlflow, model, frame[frame["labeled"]]))
    rows = with_unknown(frame.head(5))
    with pytest.warns(UnknownCategoryWarning, match=r"column 'region': 2 row\(s\) .*never saw.*'atlantis', 'mars' "
                                                    r"\(known: 'east', 'north', 'south', 'west'\)") as caught:
        served = champion.predict(rows)["p_churn"]
    assert len(caught) == 1 and "segment" not in str(caught[0].message)
    np.testing.assert_allclose(served, model.predict_proba(rows), rtol=1e-12)  # warned, scored as before


def test_refuse_raises_a_clear_error_and_scores_nothing(mlflow, model, frame):
    champion = mlflow.pyfunc.load_model(register_champion(mlflow, model, frame[frame["labeled"]],
                                                          unknown_category="refuse"))
    with pytest.raises(UnknownCategoryError, match=r"refused: column 'region': 2 row\(s\) .*'atlantis', 'mars'"):
        champion.predict(with_unknown(frame.head(5)))
    np.testing.assert_allclose(champion.predict(frame.head(5))["p_churn"], model.predict_proba(frame.head(5)))


def test_the_setting_is_checked_and_an_older_wrapper_warns(model, frame):
    with pytest.raises(ValueError, match="unknown_category must be one of"):
        ChurnPyfunc(model, unknown_category="ignore")
    older = ChurnPyfunc(model)
    del older.known_categories, older.unknown_category  # as pickled before the check existed
    older.load_context(None)
    with pytest.warns(UnknownCategoryWarning, match="'mars'"):
        older.predict(None, with_unknown(frame.head(3)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, rows: pd.DataFrame) -> tuple[int, dict]:
    """POST `rows` to the scoring server as `dataframe_split` JSON; returns (HTTP status, JSON answer)."""
    payload = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", json.dumps(payload).encode(),
                                     {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_rest_server_serves_the_champion_and_refuses_an_unknown_category(mlflow, tmp_path, frame):
    """`mlflow models serve --env-manager local` (what `make serve` runs) on 127.0.0.1: the same probabilities as
    the stage's model, and a 400 naming the column for a refused category."""
    labeled = frame[frame["labeled"]]
    y, kinds = labeled["label"].astype(int), feature_columns(frame)
    model = fit_model(build_baseline("tree", kinds, seed=0, n_jobs=1), labeled, y, kinds, name="tree")
    uri = register_champion(mlflow, model, labeled, unknown_category="refuse")
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # uvicorn
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1):
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                time.sleep(0.5)
        rows = frame.sample(6, random_state=1)[model.features].astype({"segment": "object", "region": "object"})
        status, answer = post(port, rows)
        assert status == 200, answer
        served = [p["p_churn"] for p in answer["predictions"]]
        np.testing.assert_allclose(served, model.predict_proba(rows), rtol=1e-9)
        status, answer = post(port, with_unknown(rows))
        assert status == 400 and "column 'region'" in answer["message"] and "'mars'" in answer["message"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the process group started above: mlflow and its uvicorn
        server.wait(timeout=30)
        log.close()
