"""benchmarks/projects.py: the params of a benchmark project, per engine (local, spark, spark-lake)."""

import sys

import yaml
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from projects import sized_params  # noqa: E402

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def test_spark_lake_is_the_spark_engine_with_a_lake_in_the_project_and_the_others_have_none():
    lake = sized_params(PARAMS, customers=1000, months=24, engine="spark-lake")["engine"]
    assert lake["name"] == "spark" and lake["spark"]["lake"] == "lake" and lake["spark"]["master"] == "local[2]"
    for engine in ("local", "spark"):
        plain = sized_params(PARAMS, customers=1000, months=24, engine=engine)["engine"]
        assert plain["name"] == engine and plain["spark"].get("lake") is None
    sized = sized_params(PARAMS, customers=1000, months=24, engine="spark-lake")["simulate"]
    assert sized["n_customers"] == 1000 and sized["n_months"] == 24 and sized["shock_month"] <= 16
