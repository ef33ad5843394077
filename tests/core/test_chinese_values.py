"""Chinese dates and amounts: each rule of churnlab.core.chinese_values on a few cells with known values, and
through read_table on small GB18030 files."""

import pandas as pd
import pytest

from churnlab.core.checks import DataError
from churnlab.core.chinese_values import is_amount_column, parse_amounts
from churnlab.core.readers import parse_dates, read_table


def write(path, text: str, encoding: str = "gb18030"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("value", ["2024年6月30日", "2024/6/30", "2024-6-30", "2024/06/30", "2024.6.30",
                                   "2024年06月30日"])
def test_year_first_dates_parse(value):
    assert parse_dates(pd.Series([value, "2023年1月5日" if "年" in value else "2023/1/5"]))[0] == \
        pd.Timestamp("2024-06-30")


def test_year_first_does_not_take_day_first_dates():
    assert parse_dates(pd.Series(["30/06/2024", "05/01/2023"])).tolist() == [pd.Timestamp("2024-06-30"),
                                                                           pd.Timestamp("2023-01-05")]


def test_a_date_no_format_reads_names_the_column_and_values():
    with pytest.raises(DataError, match=r"开户日期.*not dates.*'2024年13月1日'"):
        parse_dates(pd.Series(["2024年6月30日", "2024年13月1日"], name="开户日期"), source="f.csv: column '开户日期'")


@pytest.mark.parametrize(("cell", "yuan"), [
    ("1,234,567.89", 1_234_567.89), ("1，234，567.89", 1_234_567.89), ("１２３４．５", 1234.5),
    ("12.5万", 125_000.0), ("3亿", 300_000_000.0), ("8万元", 80_000.0), ("1,200元", 1200.0), ("-0.5万", -5000.0),
])
def test_amounts(cell, yuan):
    assert parse_amounts(pd.Series([cell]))[0] == pytest.approx(yuan)


def test_a_declared_unit_multiplies_plain_values_and_a_suffix_keeps_its_own():
    amounts = parse_amounts(pd.Series(["12.5", "2", None, "1亿"], name="余额（万元）"), unit="万")
    assert amounts.tolist()[:2] == [125_000.0, 20_000.0] and pd.isna(amounts[2]) and amounts[3] == 1e8


def test_a_value_that_is_not_an_amount_names_file_column_and_rows():
    with pytest.raises(DataError, match=r"f\.csv: column '余额': 1 value\(s\) are not amounts.*\{3: '约10万'\}"):
        parse_amounts(pd.Series(["12.5万", "3万", "约10万"], name="余额"), source="f.csv")


def test_which_columns_are_chinese_amounts():
    assert is_amount_column(pd.Series(["12.5万", "800"]))
    assert is_amount_column(pd.Series(["1，234", "56"]))  # full-width comma
    assert is_amount_column(pd.Series(["12万", "3万", "约10万"]))  # mostly amounts: parse_amounts names the odd one
    assert not is_amount_column(pd.Series(["1,234.50", "56"]))  # plain numbers: the reader's number styles
    assert not is_amount_column(pd.Series(["月费10元", "北京", "上海"]))  # text that mentions money


def test_read_table_reads_chinese_amounts_and_declared_units(tmp_path):
    path = write(tmp_path / "余额.csv",
                 "客户号,余额,贷款（万元）,备注\n1,12.5万,3,甲\n2,\"1，234\",0.5,乙\n3,800,1,丙\n")
    frame = read_table(path, units={"贷款（万元）": "万", "其他表的列": "亿"})
    assert frame["余额"].tolist() == [125_000.0, 1234.0, 800.0]
    assert frame["贷款（万元）"].tolist() == [30_000.0, 5000.0, 10_000.0]
    assert frame["备注"].tolist() == ["甲", "乙", "丙"] and frame["客户号"].dtype == "int64"


def test_read_table_names_the_file_column_and_row_of_a_bad_amount(tmp_path):
    path = write(tmp_path / "bad.csv", "客户号,余额\n1,12.5万\n2,3万\n3,很多\n")
    with pytest.raises(DataError, match=r"bad\.csv: column '余额'.*\{3: '很多'\}"):
        read_table(path, units={"余额": "万"})


def test_read_table_parses_chinese_dates(tmp_path):
    path = write(tmp_path / "dates.csv", "客户号,开户日期\n1,2024年6月30日\n2,2021年1月5日\n")
    frame = read_table(path, dates=["开户日期"])
    assert frame["开户日期"].tolist() == [pd.Timestamp("2024-06-30"), pd.Timestamp("2021-01-05")]


def test_long_digit_strings_stay_text(tmp_path):
    """An 18-digit ID number read as a float would lose its last digits: it stays text."""
    frame = read_table(write(tmp_path / "ids.csv", "证件,余额\n110105194912310021,1\n440524188001010014,2\n"))
    assert frame["证件"].tolist() == ["110105194912310021", "440524188001010014"] and frame["余额"].dtype == "int64"
