"""Reading a user's file: each awkward case is handled as documented in churnlab.core.readers, or is a DataError
naming the file, the column and the problem."""

import gzip
import logging

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnlab.core.checks import DataError
from churnlab.core.readers import decode, mask, read_table, sniff_separator


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# --- empty files ---------------------------------------------------------------------------------------


def test_empty_file_is_an_error_naming_the_file(tmp_path):
    path = write(tmp_path / "customers.csv", "")
    with pytest.raises(DataError, match=r"customers\.csv: the file is empty"):
        read_table(path)


def test_blank_file_is_empty(tmp_path):
    with pytest.raises(DataError, match="empty"):
        read_table(write(tmp_path / "blank.csv", "\n  \n"))


def test_header_without_rows_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"header.csv: the file has a header but no data rows"):
        read_table(write(tmp_path / "header.csv", "id,balance\n"))


def test_empty_parquet_is_an_error(tmp_path):
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"id": pd.Series(dtype="int64")}).to_parquet(path)
    with pytest.raises(DataError, match=r"empty.parquet: the file has no data rows"):
        read_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")


# --- encodings -----------------------------------------------------------------------------------------


def test_utf8_bom_is_dropped_from_the_first_column_name(tmp_path):
    frame = read_table(write(tmp_path / "bom.csv", "\ufeffid,city\n1,Brno\n"))
    assert list(frame.columns) == ["id", "city"]


def test_declared_utf8_with_bom(tmp_path):
    frame = read_table(write(tmp_path / "bom.csv", "\ufeffid,city\n1,Brno\n"), encoding="utf-8")
    assert list(frame.columns) == ["id", "city"]


def test_unknown_encoding_is_an_error(tmp_path):
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        read_table(write(tmp_path / "a.csv", "id\n1\n"), encoding="klingon")


def test_utf16_with_bom(tmp_path):
    frame = read_table(write(tmp_path / "u16.csv", "id,city\n1,Plzeň\n", "utf-16"))
    assert frame.loc[0, "city"] == "Plzeň"


def test_declared_cp1250(tmp_path):
    """Czech text in cp1250 is read exactly when the encoding is declared."""
    path = write(tmp_path / "cz.csv", "id;city\n1;Příbram\n2;Ústí nad Labem\n", "cp1250")
    frame = read_table(path, encoding="cp1250")
    assert frame["city"].tolist() == ["Příbram", "Ústí nad Labem"]


def test_undeclared_cp1250_is_detected_when_cp1252_cannot_decode(tmp_path, caplog):
    """'ť' is byte 0x9D in cp1250, undefined in cp1252: the guess falls to cp1250, with a warning."""
    path = write(tmp_path / "cz.csv", "id;city\n1;Šťáhlavy\n", "cp1250")
    with caplog.at_level(logging.WARNING):
        frame = read_table(path)
    assert frame.loc[0, "city"] == "Šťáhlavy"
    assert "read as cp1250 (guessed" in caplog.text


def test_undeclared_latin1_reads_as_cp1252(tmp_path):
    frame = read_table(write(tmp_path / "fr.csv", "id,city\n1,Genève\n2,Zürich\n", "latin-1"))
    assert frame["city"].tolist() == ["Genève", "Zürich"]


def test_wrong_declared_encoding_names_the_byte(tmp_path):
    path = write(tmp_path / "cz.csv", "id\nPříbram\n", "cp1250")
    with pytest.raises(DataError, match=r"cz.csv: not valid utf-8 at byte \d+"):
        read_table(path, encoding="utf-8")


def test_decode_plain_utf8():
    assert decode("Plzeň".encode()) == "Plzeň"


# --- separators ----------------------------------------------------------------------------------------


def test_semicolon_is_sniffed(tmp_path):
    frame = read_table(write(tmp_path / "semi.csv", "id;balance;city\n1;100;Brno\n2;200;Praha\n"))
    assert list(frame.columns) == ["id", "balance", "city"]
    assert frame["balance"].tolist() == [100, 200]


def test_semicolon_wins_over_a_decimal_comma():
    """A decimal comma is as regular as the ';' in the data lines, but the header settles it."""
    assert sniff_separator('id;amount\n1;12,50\n2;"1 234,00"\n3;7,25\n') == ";"


def test_declared_separator(tmp_path):
    frame = read_table(write(tmp_path / "pipe.txt", "id|note\n1|a,b\n2|c;d\n"), sep="|")
    assert frame["note"].tolist() == ["a,b", "c;d"]


def test_gzip_is_decompressed(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"id;x\n1;2\n"))
    assert read_table(path).to_dict("list") == {"id": [1], "x": [2]}


def test_ragged_rows_are_an_error(tmp_path):
    with pytest.raises(DataError, match=r"r.csv: not a consistent ','-separated table"):
        read_table(write(tmp_path / "r.csv", "id,x\n1,2\n3,4,5,6\n"), sep=",")


def test_repeated_column_name_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"column name\(s\) \['x'\] appear more than once"):
        read_table(write(tmp_path / "dup.csv", "id,x,x\n1,2,3\n"))


# --- numbers -------------------------------------------------------------------------------------------


def test_thousands_comma_with_decimal_point(tmp_path):
    frame = read_table(write(tmp_path / "us.csv", 'id,balance\n1,"1,234.50"\n2,12.00\n3,"1,000,000"\n'))
    assert frame["balance"].tolist() == [1234.5, 12.0, 1_000_000.0]
    assert frame["balance"].dtype == "float64"


def test_space_grouping_with_decimal_comma(tmp_path):
    text = "id;balance;fee\n1;1 234,50;1,5\n2;12,00;0,25\n3;1\u00a0000\u00a0000,00;2\n"
    frame = read_table(write(tmp_path / "cz.csv", text))
    assert frame["balance"].tolist() == [1234.5, 12.0, 1_000_000.0]
    assert frame["fee"].tolist() == [1.5, 0.25, 2.0]


def test_dot_grouping_with_decimal_comma(tmp_path):
    frame = read_table(write(tmp_path / "de.csv", "id;balance\n1;1.234,50\n2;12,5\n"))
    assert frame["balance"].tolist() == [1234.5, 12.5]


def test_ambiguous_column_follows_the_files_style(tmp_path):
    """'1.234' alone could be 1.234 or 1234: the other column shows the file uses a decimal comma."""
    frame = read_table(write(tmp_path / "de.csv", "id;amount;rate\n1;1.234;0,5\n2;2.500;1,25\n"))
    assert frame["amount"].tolist() == [1234, 2500]
    assert frame["rate"].tolist() == [0.5, 1.25]


def test_declared_decimal_and_thousands(tmp_path):
    frame = read_table(write(tmp_path / "de.csv", "id;amount\n1;1.234\n2;2.500\n"), decimal=",", thousands=".")
    assert frame["amount"].tolist() == [1234, 2500]
    frame = read_table(write(tmp_path / "us.csv", "id;amount\n1;1.234\n2;2.500\n"), decimal=".")
    assert frame["amount"].tolist() == [1.234, 2.5]


def test_integers_stay_int64_and_codes_with_leading_zeros_stay_text(tmp_path):
    frame = read_table(write(tmp_path / "c.csv", "id,branch,age\n1,007,40\n2,012,41\n"))
    assert frame["age"].dtype == "int64"
    assert frame["branch"].tolist() == ["007", "012"]


def test_text_columns_are_kept_as_text(tmp_path):
    frame = read_table(write(tmp_path / "c.csv", "id,zip\n1,11000\n2,60200\n"), text=["zip"])
    assert frame["zip"].tolist() == ["11000", "60200"]


def test_blank_and_declared_missing_values(tmp_path):
    frame = read_table(write(tmp_path / "d.csv", "id;rate\n1; 0,29 \n2;?\n3;\n"), na_values=["?"])
    assert frame["rate"].iloc[0] == 0.29
    assert frame["rate"].iloc[1:].isna().all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.decimals(min_value=-10**7, max_value=10**7, places=2, allow_nan=False), min_size=1, max_size=5))
def test_both_number_styles_read_back(tmp_path, values):
    """Any amount written "1,234.50"-style or "1 234,50"-style reads back as the same number."""
    us = [f"{v:,.2f}" for v in values]
    eu = [u.replace(",", " ").replace(".", ",") for u in us]
    rows = "\n".join(f'{i};"{a}";"{b}"' for i, (a, b) in enumerate(zip(us, eu, strict=True)))
    frame = read_table(write(tmp_path / "n.csv", f"id;us;eu\n{rows}\n"), sep=";")
    expected = [float(v) for v in values]
    assert frame["us"].astype(float).tolist() == pytest.approx(expected)
    assert frame["eu"].astype(float).tolist() == pytest.approx(expected)


# --- dates ---------------------------------------------------------------------------------------------


def test_date_with_declared_format(tmp_path):
    frame = read_table(write(tmp_path / "a.csv", "id;opened\n1;930101\n2;971229\n"), dates={"opened": "%y%m%d"})
    assert frame["opened"].tolist() == [pd.Timestamp("1993-01-01"), pd.Timestamp("1997-12-29")]


def test_date_iso_then_day_first(tmp_path):
    frame = read_table(write(tmp_path / "a.csv", "id,iso,dmy\n1,2021-03-04,04.03.2021\n2,2021-12-31,31.12.2021\n"),
                       dates=["iso", "dmy"])
    assert frame["iso"].tolist() == frame["dmy"].tolist() == [pd.Timestamp("2021-03-04"), pd.Timestamp("2021-12-31")]
    assert frame["dmy"].dtype == "datetime64[ns]"


def test_unparseable_date_names_file_column_and_values(tmp_path):
    path = write(tmp_path / "a.csv", "id,opened\n1,2021-03-04\n2,sometime\n3,\n")
    with pytest.raises(DataError, match=r"a.csv: column 'opened': 1 value\(s\) are not dates.*'sometime'"):
        read_table(path, dates={"opened": None})


def test_date_not_in_the_declared_format(tmp_path):
    with pytest.raises(DataError, match=r"column 'opened'.*format '%y%m%d'.*'2021-03-04'"):
        read_table(write(tmp_path / "a.csv", "id,opened\n1,2021-03-04\n"), dates={"opened": "%y%m%d"})


def test_ambiguous_dates_are_read_day_first_with_a_warning(tmp_path, caplog):
    """03/04/2021 is 3 April in Europe and March 4 in the US: with no day above 12 the file cannot tell."""
    path = write(tmp_path / "customers.csv", "id,open_date\n1,03/04/2021\n2,11/12/2020\n")
    with caplog.at_level(logging.WARNING):
        frame = read_table(path, dates=["open_date"])
    assert frame["open_date"].tolist() == [pd.Timestamp("2021-04-03"), pd.Timestamp("2020-12-11")]
    assert caplog.messages == [
        f"{path}: column 'open_date': every date reads both day-first and month-first (no day above 12), e.g. "
        f"'03/04/2021'; read day-first (%d/%m/%Y, so '03/04/2021' is 03 April 2021). If the file is month-first, "
        f"declare it: data.date_formats: {{open_date: '%m/%d/%Y'}}"]
    declared = read_table(path, dates={"open_date": "%m/%d/%Y"})
    assert declared["open_date"].tolist() == [pd.Timestamp("2021-03-04"), pd.Timestamp("2020-11-12")]


def test_a_day_above_12_settles_the_reading_without_a_warning(tmp_path, caplog):
    path = write(tmp_path / "a.csv", "id,d\n1,03/04/2021\n2,31/12/2020\n3,05/05/2021\n")
    with caplog.at_level(logging.WARNING):
        read_table(path, dates=["d"])
    assert not caplog.messages


def test_missing_date_column_names_the_closest(tmp_path):
    with pytest.raises(DataError, match=r"a.csv: missing 1 column\(s\): 'open_date' \(found 'opendate': misspelt\?\)"):
        read_table(write(tmp_path / "a.csv", "id,opendate\n1,2021-03-04\n"), dates=["open_date"])


# --- empty columns and repeated ids --------------------------------------------------------------------


def test_all_missing_column_is_dropped_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        frame = read_table(write(tmp_path / "a.csv", "id,notes,balance\n1,,5\n2,,6\n"))
    assert list(frame.columns) == ["id", "balance"]
    assert "dropped column(s) ['notes']" in caplog.text


def test_all_missing_required_column_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"a.csv: required column\(s\) \['balance'\] have no value in any"):
        read_table(write(tmp_path / "a.csv", "id,balance\n1,\n2,\n"), required=["balance"])


def test_repeated_id_names_column_rows_and_masked_ids(tmp_path):
    path = write(tmp_path / "c.csv", "CustomerId,x\n15634602,1\n15647311,2\n15634602,3\n")
    with pytest.raises(DataError) as caught:
        read_table(path, unique="CustomerId")
    message = str(caught.value)
    assert "c.csv: id column 'CustomerId' repeats 1 id(s)" in message
    assert "'******02': [1, 3]" in message
    assert "15634602" not in message  # ids are personal data: masked even in errors


def test_missing_id_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"id column 'id' is missing in 1 row"):
        read_table(write(tmp_path / "c.csv", "id,x\n1,1\n,2\n"), unique="id")


def test_mask():
    assert mask(15634602) == "******02"
    assert mask("abc") == "***"


def test_parquet_round_trip_keeps_types(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"id": ["007", "008"], "opened": ["2021-01-02", "2021-02-03"], "x": [1.5, 2.5]}).to_parquet(path)
    frame = read_table(path, dates=["opened"], unique="id")
    assert frame["id"].tolist() == ["007", "008"]
    assert frame["opened"].dtype == "datetime64[ns]"


# --- binary content under a text name ------------------------------------------------------------------


def test_parquet_saved_as_csv_is_read_as_parquet_with_a_warning(tmp_path, caplog):
    path = tmp_path / "monthly.csv"
    pd.DataFrame({"id": ["007", "008"], "x": [1.5, 2.5]}).to_parquet(path)
    with caplog.at_level(logging.WARNING):
        frame = read_table(path)
    assert frame.to_dict("list") == {"id": ["007", "008"], "x": [1.5, 2.5]}
    assert caplog.messages == [f"{path}: the file is Parquet (it starts with the Parquet magic bytes PAR1), not text "
                               f"as its name says; read as Parquet (rename it to monthly.parquet)"]


def test_gzipped_parquet_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "monthly.csv.gz"
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "m.parquet")
    path.write_bytes(gzip.compress((tmp_path / "m.parquet").read_bytes()))
    with pytest.raises(DataError, match=r"monthly.csv.gz: the file is gzipped Parquet, not text"):
        read_table(path)


def test_content_the_csv_module_cannot_split_is_an_error_naming_the_file(tmp_path):
    """The csv module's own errors (here an unclosed quote running past its field size limit) name the file."""
    path = tmp_path / "book.csv"
    path.write_bytes(b'id,"' + b"x" * 200_000 + b"\n1,2\n")
    with pytest.raises(DataError, match=r"book.csv: not a delimited text file \(.*\); is it a binary file"):
        read_table(path)


def test_errors_in_chinese_name_the_file_the_column_and_the_problem(tmp_path):
    path = write(tmp_path / "客户.csv", "客户号,开户日期\n1001,2024年6月30日\n1001,不详\n")
    with pytest.raises(DataError) as raised:
        read_table(path, dates=["开户日期"], language="zh")
    assert str(raised.value).startswith(f"{path}: column '开户日期'：有1个值不是ISO 8601或以下任一格式")
    assert str(raised.value).endswith("例如['不详']；请声明该列的日期格式")
    with pytest.raises(DataError, match=r"客户.csv：每位客户只应有一行的文件中，客户号列'客户号'有1个客户号重复出现，"
                                        r"例如（掩码后的客户号：数据行）\{'\*\*\*\*': \[1, 2\]\}"):
        read_table(path, unique="客户号", language="zh")
    with pytest.raises(DataError, match="缺失.csv：找不到文件"):
        read_table(tmp_path / "缺失.csv", language="zh")


def test_both_languages_say_it_in_english_then_in_chinese(tmp_path):
    with pytest.raises(DataError) as raised:
        read_table(tmp_path / "missing.csv", language="both")
    assert str(raised.value).splitlines() == [f"{tmp_path / 'missing.csv'}: file not found",
                                              f"{tmp_path / 'missing.csv'}：找不到文件"]
