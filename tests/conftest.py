"""Shared fixtures: a small end-to-end pipeline run, notebook execution, and the path to ../shared/data.

Tests never write into the repository: the pipeline runs in a temporary copy, with MLflow tracking to a
SQLite file inside that copy.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PROFILE = Path(__file__).with_name("profile.yaml")


def deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override` merged in, section by section (override wins)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def make_project(target: Path, overrides: dict | None = None) -> Path:
    """Copy the project's pipeline definition, code and notebooks to `target` as a fresh git + DVC repo."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("src", "notebooks"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info",
                                                                                      ".ipynb_checkpoints"))
    (target / ".dvc").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".dvc" / "config", target / ".dvc" / "config")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params = deep_merge(params, yaml.safe_load(PROFILE.read_text(encoding="utf-8")) or {})
    params = deep_merge(params, overrides or {})
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=target, check=True)
    return target


def project_env(project: Path) -> dict[str, str]:
    """Environment for running stages in `project`: its own MLflow store, a fixed pseudonym key, venv first, and
    idle OpenMP threads that sleep (OMP_WAIT_POLICY=PASSIVE, as dvc.yaml's train, evaluate and register commands
    and the benchmarks set it): `make test` runs the Spark Connect process alongside on two cores, where spinning
    XGBoost and scikit-learn threads multiply a stage's CPU time. Numbers do not depend on it."""
    env = dict(os.environ)
    env.update({
        "OMP_WAIT_POLICY": "PASSIVE",
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlruns' / 'mlflow.db'}",
        "CHURNLAB_PSEUDONYM_KEY": "test-key",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "MPLBACKEND": "Agg",
    })
    (project / "mlruns").mkdir(exist_ok=True)
    return env


def run(cmd: list[str], project: Path) -> subprocess.CompletedProcess:
    """Run `cmd` in `project`; on failure, fail the test with the command's output."""
    done = subprocess.run(cmd, cwd=project, env=project_env(project), capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}")
    return done


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory) -> Path:
    """A temporary project copy on the small test profile after a full `dvc repro`."""
    project = make_project(tmp_path_factory.mktemp("pipeline"))
    run([sys.executable, "-m", "dvc", "repro"], project)
    return project


@pytest.fixture
def run_notebook(tmp_path):
    """Execute a notebook of the project copy `project` with nbclient, cwd = the copy; return the notebook."""
    import nbclient
    import nbformat

    def _run(project: Path, name: str, timeout: int = 600):
        env = project_env(project)
        for var in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
            env[var] = str(tmp_path / var.lower())
        notebook = nbformat.read(project / "notebooks" / name, as_version=4)
        saved = dict(os.environ)
        os.environ.update(env)  # the kernel inherits the environment of this process
        try:
            client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                             resources={"metadata": {"path": str(project / "notebooks")}})
            client.execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return notebook

    return _run


SECOND_LANE = {"spark", "any_spark", "snapshot_pipeline_dir", "snapshot_report_dir"}


def pytest_collection_modifyitems(items):
    """Mark `alongside` every test that does not need the session's small pipeline (`pipeline_dir`: it would be built
    twice) and has a classic Spark session of its own (the `spark` or `any_spark` fixture) or the snapshot-source
    project (`snapshot_pipeline_dir`, `snapshot_report_dir`, ~2 minutes to build): `make test` runs them in a second
    pytest process next to the main suite, which mostly waits on single-threaded stage processes."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & SECOND_LANE and "pipeline_dir" not in names and "spark_connect" not in item.keywords:
            item.add_marker(pytest.mark.alongside)


SPARK_TEST_CONF = {"spark.ui.enabled": False, "spark.sql.shuffle.partitions": 2, "spark.default.parallelism": 2,
                   "spark.driver.memory": "1g"}


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The test session's one SparkSession on local[2] (skipped, with what to install, without pyspark or Java). Its
    catalog's warehouse is a temporary folder: Spark's default, ./spark-warehouse, would be made in the repository."""
    pytest.importorskip("pyspark", reason="engine.name: spark needs the spark extra: pip install -e '.[spark]'")
    from churnlab.core.engine import EngineError, spark_session

    conf = {**SPARK_TEST_CONF, "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark-warehouse"))}
    try:
        session = spark_session(master="local[2]", conf=conf, app_name="churnlab-tests")
    except EngineError as err:
        pytest.skip(str(err))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_connect(tmp_path_factory):
    """A Spark Connect client session (engine.spark.remote) talking to a real Spark Connect server on local[2],
    started for the test session from pyspark's own jars (as `sbin/start-connect-server.sh` does) and stopped after.
    Skipped, with what to install, without pyspark, its Connect client libraries or Java; and skipped where a local
    session already runs in this process (pyspark keeps a process either classic or Connect: SESSION_ALREADY_EXIST),
    which is why these tests are marked spark_connect and run alone (`pytest -m spark_connect`, as make test does)."""
    pytest.importorskip("pyspark", reason="engine.name: spark needs the spark extra: pip install -e '.[spark]'")
    import socket
    import time

    import pyspark

    if pyspark.SparkContext._active_spark_context is not None:
        pytest.skip("a local Spark session runs in this process: run the Spark Connect tests alone "
                    "(pytest -m spark_connect)")
    from churnlab.core.engine import EngineError, find_java, spark_session

    try:
        java = find_java()
    except EngineError as err:
        pytest.skip(str(err))
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = Path(pyspark.__file__).parent
    conf = {**SPARK_TEST_CONF, "spark.connect.grpc.binding.port": port}
    command = [str(home / "bin" / "spark-submit"), "--master", "local[2]",
               *[part for key, value in conf.items() for part in ("--conf", f"{key}={str(value).lower()}")],
               "--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "spark-internal"]
    log = tmp_path_factory.mktemp("spark-connect") / "server.log"
    env = dict(os.environ, SPARK_HOME=str(home), JAVA_HOME=str(Path(java).resolve().parents[1]),
               PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON", sys.executable),  # workers import churnlab
               TMPDIR=str(log.parent))  # spark_udf over Connect copies the model into each Python worker's TMPDIR
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:  # the server is up when its gRPC port accepts connections
            if server.poll() is not None:
                pytest.fail(f"the Spark Connect server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not listen on port {port} within 180 s:\n"
                            f"{log.read_text()[-3000:]}")
            time.sleep(1)
        try:
            session = spark_session(master=None, remote=f"sc://127.0.0.1:{port}",
                                    conf={"spark.sql.shuffle.partitions": 2})
        except EngineError as err:
            pytest.skip(str(err))
        yield session
        session.stop()
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.fixture(scope="session", params=["classic", pytest.param("connect", marks=pytest.mark.spark_connect)])
def any_spark(request):
    """Each Spark session in turn: a test taking it runs once on the classic local[2] session (`spark`) and once over
    Spark Connect (`spark_connect`, engine.spark.remote). The Connect run is marked spark_connect, so it is
    deselected here and runs in the Connect process (`pytest -m spark_connect`), with the same known answers."""
    return request.getfixturevalue("spark" if request.param == "classic" else "spark_connect")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (public bank data); tests using it skip with a reason where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public bank data not found at {SHARED_DATA} (../shared/data is provided outside the repo)")
    return SHARED_DATA


def churn_modelling_rows(n_customers: int, *, seed: int = 0):
    """`n_customers` rows shaped like Churn_Modelling.csv (same columns, kinds and rough margins; ~20 % churn).

    Churn rises with age, Germany, three or more products and inactivity, as in the public file.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_customers
    age = rng.normal(39, 10, n).clip(18, 92).round().astype(int)
    geography = rng.choice(["France", "Germany", "Spain"], n, p=[0.5, 0.25, 0.25])
    products = rng.choice([1, 2, 3, 4], n, p=[0.5, 0.45, 0.04, 0.01])
    active = rng.integers(0, 2, n)
    logit = -1.7 + 0.07 * (age - 39) + 0.8 * (geography == "Germany") + 2.0 * (products >= 3) - 0.8 * active
    return pd.DataFrame({
        "RowNumber": np.arange(1, n + 1), "CustomerId": 15_600_000 + rng.permutation(n),
        "Surname": rng.choice(["Hargrave", "Hill", "Onio", "Boni", "Mitchell"], n),
        "CreditScore": rng.normal(650, 95, n).clip(350, 850).round().astype(int), "Geography": geography,
        "Gender": rng.choice(["Female", "Male"], n), "Age": age, "Tenure": rng.integers(0, 11, n),
        "Balance": np.where(rng.random(n) < 0.36, 0.0, rng.normal(120_000, 30_000, n).round(2)),
        "NumOfProducts": products, "HasCrCard": rng.integers(0, 2, n), "IsActiveMember": active,
        "EstimatedSalary": rng.uniform(10, 200_000, n).round(2),
        "Exited": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
    })


SNAPSHOT_STAGES = ("data", "features", "survival", "train", "evaluate", "register")


def snapshot_project(target: Path, *, n_customers: int = 600, tenure: str | None = "Tenure",
                     stages=SNAPSHOT_STAGES) -> Path:
    """A project on the snapshot source: a Churn_Modelling-like CSV in `target`, `stages` run with their modules."""
    target.mkdir(parents=True, exist_ok=True)
    churn_modelling_rows(n_customers).to_csv(target / "Churn_Modelling.csv", index=False)
    make_project(target, {
        "data": {"source": "snapshot", "path": str(target / "Churn_Modelling.csv"), "id": "CustomerId",
                 "target": "Exited", "tenure": tenure, "tenure_unit": "years"},
        "train": {"tune": {"n_trials": 3}},
        "survival": {"xgboost": {"bags": 1}},
    })
    for stage in stages:
        run([sys.executable, "-m", f"churnlab.{stage}"], target)
    return target


@pytest.fixture(scope="session")
def snapshot_pipeline_dir(tmp_path_factory) -> Path:
    """A temporary project on the snapshot source (600 Churn_Modelling-like customers), data to register run."""
    return snapshot_project(tmp_path_factory.mktemp("snapshot_pipeline"))


@pytest.fixture(scope="session")
def snapshot_report_dir(snapshot_pipeline_dir, tmp_path_factory) -> Path:
    """A copy of `snapshot_pipeline_dir` with the rest of the pipeline run as well: segment, score, retention,
    monitor, and report, whose pages of the five notebooks the snapshot notebook tests read."""
    project = tmp_path_factory.mktemp("snapshot_report") / "snapshot"
    shutil.copytree(snapshot_pipeline_dir, project, symlinks=True)  # data to register: the shared project's
    for stage in ("segment", "score", "retention", "monitor", "report"):
        run([sys.executable, "-m", f"churnlab.{stage}"], project)
    return project
