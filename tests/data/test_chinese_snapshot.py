"""The snapshot source on a small GB18030 file with Chinese column names, amounts and personal-data columns:
read as data.read and data.rename say, every personal column dropped with its reason, no personal value kept."""

import logging

import pytest

from churnlab.data.stage import snapshot_file

HEADER = "客户号,姓名,身份证号,手机号,住址,银行卡号,信用分,年龄,在网年限,余额,贷款（万元）,是否流失"
ROWS = [
    "15634602,张伟,11010519491231002X,13812345678,北京市朝阳区建国路88号,4111111111111111,619,42,2,0,3,1",
    "15647311,王芳,320106199003074312,15912345678,上海市浦东新区世纪大道100号,6011111111111117,608,41,1,8.4万,0.5,0",
    "15619304,李娜,11010519491231002X,18612345678,广州市天河区体育西路1号,4111111111111111,502,42,8,\"1，596.60\",1,1",
    "15701354,刘洋,320106199003074312,13712345678,深圳市南山区科技园路2号,6011111111111117,699,39,1,0,0,0",
]
PERSONAL = ("张伟", "11010519491231002X", "13812345678", "建国路", "4111111111111111", "15634602")


@pytest.fixture
def gb18030_file(tmp_path):
    path = tmp_path / "客户.csv"
    path.write_bytes("\n".join([HEADER, *ROWS, ""]).encode("gb18030"))
    return path


def test_a_gb18030_snapshot_with_chinese_names_reads_renames_and_screens(gb18030_file, caplog):
    with caplog.at_level(logging.INFO):
        rows, dropped = snapshot_file(str(gb18030_file), key=b"k", read={"units": {"贷款（万元）": "万"}},
                                      rename={"余额": "deposit_balance"}, id_column="客户号", target="是否流失",
                                      tenure="在网年限", tenure_unit="years")
    assert dropped == {"姓名": "its name says personal data or an identifier",
                       "身份证号": "its values are resident ID numbers (身份证号)",
                       "手机号": "its values are mobile phone numbers",
                       "住址": "its values are street addresses",
                       "银行卡号": "its values are bank card numbers (Luhn)"}
    assert list(rows.columns) == ["customer_id", "label", "labeled", "tenure_months", "信用分", "年龄",
                                  "deposit_balance", "贷款_万元"]
    assert rows["deposit_balance"].tolist() == [0.0, 84_000.0, 1596.6, 0.0]
    assert rows["贷款_万元"].astype(float).tolist() == [30_000.0, 5000.0, 10_000.0, 0.0]  # 4 levels: codes
    assert rows["tenure_months"].tolist() == [24, 12, 96, 12] and rows["label"].tolist() == [1, 0, 1, 0]
    assert "read as gb18030" in caplog.text
    kept = rows.astype(str).to_csv() + caplog.text
    assert not [value for value in PERSONAL if value in kept]


def test_the_declared_encoding_is_used(gb18030_file, caplog):
    with caplog.at_level(logging.WARNING):
        rows, _ = snapshot_file(str(gb18030_file), key=b"k", read={"encoding": "gbk"}, rename={},
                                id_column="客户号", target="是否流失")
    assert "guess" not in caplog.text and "信用分" in rows
