"""The `data.read` params of Chinese files: a codec name and column units, each bad value one known sentence."""

import copy

import pytest
from conftest import ROOT
from ruamel.yaml import YAML

from churnlab.core.params import ParamsError, validate_params


@pytest.fixture(scope="module")
def repository() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as fh:
        return YAML(typ="safe", pure=True).load(fh)


def with_read(params: dict, **read) -> dict:
    edited = copy.deepcopy(params)
    edited["data"]["read"].update(read)
    return edited


@pytest.mark.parametrize("encoding", ["gb18030", "GBK", "big5", "utf-8-sig", "cp1252", None])
def test_codec_names_are_accepted(repository, encoding):
    validate_params(with_read(repository, encoding=encoding))


def test_an_unknown_codec_is_named(repository):
    with pytest.raises(ParamsError, match=r'data\.read\.encoding = "gb2018": must be a Python codec name'):
        validate_params(with_read(repository, encoding="gb2018"))


def test_units_are_wan_yi_or_yuan(repository):
    validate_params(with_read(repository, units={"余额（万元）": "万", "贷款": "亿"}))
    with pytest.raises(ParamsError, match=r"data\.read\.units\.余额"):
        validate_params(with_read(repository, units={"余额": "千"}))
