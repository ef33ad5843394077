"""The `engine` section: where the point-in-time SQL runs (`churnlab.core.engine`)."""

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, ValidationInfo, field_validator

from churnlab.core.params_schema.fields import Name, Scalar, Section, earlier, rule

MASTERS = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|yarn|(spark|k8s|mesos)://.+")
DOWNLOADS = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.ivySettings")
SET_ELSEWHERE = {"spark.master": "engine.spark.master", "spark.remote": "engine.spark.remote",
                 "spark.sql.session.timeZone": "nothing: it is fixed to UTC (churnlab.core.engine)"}


def _master(value: str | None) -> str | None:
    if value is not None and not MASTERS.fullmatch(value):
        raise rule("must be local, local[N], local[*], yarn, spark://host:port or k8s://host:port")
    return value


def _remote(value: str | None) -> str | None:
    if value is not None and not value.startswith("sc://"):
        raise rule("must be a Spark Connect URL, sc://host:port")
    return value


def _conf(value: dict) -> dict:
    for key in value:
        if key in DOWNLOADS:
            raise rule(f"must not set {key}: it downloads at run time (install the jars on the cluster instead)")
        if key in SET_ELSEWHERE:
            raise rule(f"must not set {key}: it is set by {SET_ELSEWHERE[key]}")
    return value


def _lake(value: str | None, info: ValidationInfo) -> str | None:
    """Where Spark writes large outputs (`churnlab.core.lake`): a folder, or a URI such as hdfs://, s3a://."""
    if value is None:
        return value
    if (info.context or {}).get("engine") == "local":
        raise rule("is a lake only Spark writes: set engine.name: spark, or set engine.spark.lake: null to keep "
                   "every output a file under the project (data/processed, reports)")
    if earlier(info, "remote") is not None:
        raise rule("is not supported over Spark Connect (engine.spark.remote): the lake's version folders are "
                   "renamed through the classic session's Hadoop file system; set engine.spark.master instead")
    return value


class Spark(Section):
    master: Annotated[Name | None, AfterValidator(_master)]
    remote: Annotated[Name | None, AfterValidator(_remote)]
    conf: Annotated[dict[Name, Scalar], AfterValidator(_conf)]
    lake: Annotated[Name | None, AfterValidator(_lake)] = None  # absent: no lake, every output a file as before

    @field_validator("remote")
    @classmethod
    def _one_of_master_and_remote(cls, value: str | None, info: ValidationInfo) -> str | None:
        master = earlier(info, "master")
        if value is not None and master is not None:
            raise rule(f"must be null when engine.spark.master is set ({master}): a session either starts "
                       "or joins a cluster (master) or drives one through Spark Connect (remote)")
        if value is None and master is None and "master" in info.data:
            raise rule("must be a Spark Connect URL when engine.spark.master is null (set one of the two)")
        return value


class Engine(Section):
    name: Literal["local", "spark"]
    spark: Spark

    @classmethod
    def local(cls) -> "Engine":
        """What a params.yaml without an `engine` section means: DuckDB in this process."""
        return cls(name="local", spark=Spark(master="local[2]", remote=None, conf={}))
