"""Detecting a file's encoding: UTF-8 first, then Chinese (GB18030/GBK, Big5) by plausibility, then Western
(cp1252), each guess logged; a declared encoding wins."""

import codecs
import logging

import pytest

from churnlab.core.checks import DataError
from churnlab.core.encodings import decode, everyday, plausibility
from churnlab.core.readers import read_table

SIMPLIFIED = "客户号,姓名,信用分,余额,是否流失\n1,张伟,619,\"1,234.50\",1\n2,王芳,608,800,0\n3,李娜,502,12.5万,1\n"
TRADITIONAL = "客戶號,姓名,信用分,餘額,是否流失\n1,陳大文,619,1234,1\n2,林美玲,608,800,0\n3,黃志明,502,99,1\n"
WESTERN = "Name;Stadt;Beschreibung\nMüller;Zürich;Größe über Maß\nRenée;Besançon;déjà vu à côté\n"


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    (SIMPLIFIED, "gb18030", "gb18030"),
    (SIMPLIFIED, "gbk", "gb18030"),  # GBK is a subset of GB18030: same bytes, same text
    (TRADITIONAL, "big5", "big5"),
    (WESTERN, "cp1252", "cp1252"),
])
def test_legacy_encodings_are_guessed_and_the_guess_is_logged(text, encoding, expected, caplog):
    with caplog.at_level(logging.WARNING):
        assert decode(text.encode(encoding), source="bank.csv") == text
    assert f"bank.csv: not UTF-8; read as {expected}" in caplog.text


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_utf8_wins_with_or_without_a_bom_and_is_not_a_guess(bom, caplog):
    with caplog.at_level(logging.WARNING):
        assert decode(bom + SIMPLIFIED.encode("utf-8")) == SIMPLIFIED
    assert "guess" not in caplog.text


def test_mojibake_is_implausible_in_both_directions():
    """Chinese bytes read by the other Chinese codec decode, but into rare characters: GB2312 text read as Big5
    and Big5 text read as GB18030 both score far below the real reading (1.0)."""
    assert plausibility(SIMPLIFIED, "gb18030") == 1.0 and plausibility(TRADITIONAL, "big5") == 1.0
    assert plausibility(SIMPLIFIED.encode("gb18030").decode("big5"), "big5") < 0.6
    assert plausibility(TRADITIONAL.encode("big5").decode("gb18030"), "gb18030") < 0.3
    # Western letters that GB18030 accepts (an accented letter before an ASCII letter) are GBK extension codes
    assert plausibility("Müller Zürich".encode("cp1252").decode("gb18030"), "gb18030") == 0.0


def test_everyday_characters():
    assert everyday("张", "gb18030") and everyday("，", "gb18030") and not everyday("張", "gb18030")
    assert everyday("陳", "big5") and not everyday("é", "big5")


def test_a_western_file_that_gb18030_could_decode_stays_cp1252(tmp_path, caplog):
    """'Müller' and 'Zürich' are valid GB18030 byte pairs; their implausible reading loses to cp1252."""
    raw = "name;city\nMüller;Zürich\nKüng;Bülach\n".encode("cp1252")
    raw.decode("gb18030")  # no error: decoding alone cannot tell
    (tmp_path / "west.csv").write_bytes(raw)
    with caplog.at_level(logging.WARNING):
        frame = read_table(tmp_path / "west.csv")
    assert frame["name"].tolist() == ["Müller", "Küng"] and "read as cp1252" in caplog.text


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "big5", "utf-8", "utf-8-sig"])
def test_chinese_files_read_with_chinese_column_names(tmp_path, encoding):
    text = TRADITIONAL if encoding == "big5" else SIMPLIFIED
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(text.encode(encoding))
    frame = read_table(path, unique=text.split(",")[0])
    assert list(frame.columns) == text.splitlines()[0].split(",")
    assert frame["姓名"].iloc[0] in ("张伟", "陳大文") and frame["信用分"].tolist() == [619, 608, 502]


def test_declared_encoding_wins_over_the_guess(tmp_path):
    """Big5 bytes declared as Big5 read right; the same bytes declared GB18030 read as the mojibake asked for."""
    path = tmp_path / "big5.csv"
    path.write_bytes(TRADITIONAL.encode("big5"))
    assert read_table(path, encoding="big5")["姓名"].iloc[0] == "陳大文"
    assert "姓名" not in read_table(path, encoding="gb18030").columns


def test_bytes_invalid_in_the_declared_encoding_name_the_byte(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes("a,b\n1,张\n".encode("gb18030") + b"\xff\n")
    with pytest.raises(DataError, match=r"bad\.csv: not valid big5 at byte"):
        read_table(path, encoding="big5")
