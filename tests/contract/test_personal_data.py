"""Personal data in Chinese files: the content detectors on known answers, and the Chinese column names."""

import pandas as pd
import pytest

from churnlab.contract.personal_data import (
    chinese_personal_name,
    content_reason,
    is_card_number,
    is_resident_id,
    luhn,
    resident_id_check,
)

# GB 11643-1999's own example, worked by hand (ISO 7064 MOD 11-2):
#   digits   1  1  0  1  0  5  1  9  4  9  1  2  3  1  0  0  2
#   weights  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
#   products 7  9  0  5  0 20  2  9 24 27  7 18 30  5  0  0  4   sum 167; 167 mod 11 = 2; (12 - 2) mod 11 = 10 -> X
VALID_ID = "11010519491231002X"
# 3 2 0 1 0 6 1 9 9 0 0 3 0 7 4 3 1: products 21 18 0 5 0 24 2 9 54 0 0 27 0 35 32 12 2, sum 241;
# 241 mod 11 = 10; (12 - 10) mod 11 = 2
VALID_ID_DIGIT = "320106199003074312"


def test_resident_id_check_digits_worked_by_hand():
    assert resident_id_check(VALID_ID[:17]) == "X" and resident_id_check(VALID_ID_DIGIT[:17]) == "2"
    assert is_resident_id(VALID_ID) and is_resident_id(VALID_ID.lower()) and is_resident_id(VALID_ID_DIGIT)


@pytest.mark.parametrize("number", [
    "110105194912310021",  # wrong check digit (X expected)
    "320106199003074313",  # wrong check digit (2 expected)
    "110105194902300020",  # 30 February 1949 (check digit right for these 17 digits)
    "440524188001010014",  # the standard's second example, born 1880: before 1900, no living customer
    "11010519491231002",   # 17 characters
    "1101051949123100XX",  # X only as the last character
])
def test_invalid_resident_ids(number):
    assert not is_resident_id(number)


def test_the_impossible_birth_date_has_a_right_check_digit():
    """So the date test, not the check digit, rejects it above: products 7 9 0 5 0 20 2 9 24 27 0 18 30 0 0 0 4,
    sum 155; 155 mod 11 = 1; (12 - 1) mod 11 = 0."""
    assert resident_id_check("11010519490230002") == "0"


def test_luhn_on_published_test_numbers():
    assert luhn("79927398713") and not luhn("79927398710")  # the worked example of ISO/IEC 7812-1's Luhn check
    assert is_card_number("4111111111111111") and is_card_number("4111 1111 1111 1111")  # Visa's test card
    assert not is_card_number("4111111111111112") and not is_card_number("79927398713")  # 11 digits: no card


def test_mobile_numbers_as_text_or_integers():
    assert content_reason(pd.Series(["13812345678", "+86 15912345678", "8613712345678"])) == \
        "its values are mobile phone numbers"
    assert content_reason(pd.Series([13812345678, 15912345678, 18612345678])) == "its values are mobile phone numbers"
    assert content_reason(pd.Series([12812345678, 23812345678, 1381234567])) is None  # 12x, 2x, 10 digits


def test_resident_ids_and_card_numbers_by_content():
    assert content_reason(pd.Series([VALID_ID, VALID_ID_DIGIT, None])) == \
        "its values are resident ID numbers (身份证号)"
    assert content_reason(pd.Series(["4111111111111111", "6011111111111117", "x"])) == \
        "its values are bank card numbers (Luhn)"
    assert content_reason(pd.Series(["110105194912310021", "320106199003074313"])) is None  # bad check digits


def test_addresses_by_content_but_not_cities():
    assert content_reason(pd.Series(["北京市朝阳区建国路88号", "上海市浦东新区世纪大道100号3室"])) == \
        "its values are street addresses"
    assert content_reason(pd.Series(["北京市", "上海市", "广州市"])) is None


def test_numbers_that_only_look_like_phones_are_not_personal():
    assert content_reason(pd.Series([1234567, 2345678, 3456789])) is None  # integer balances, 7 digits
    assert content_reason(pd.Series([1.5, 2.5])) is None and content_reason(pd.Series([True, False])) is None


@pytest.mark.parametrize("name", ["姓名", "客户姓名", "名字", "客户名称", "户名", "身份证号", "证件号码", "手机号",
                                  "电话", "联系电话", "联系方式", "地址", "住址", "家庭住址", "银行卡号", "卡号",
                                  "账号", "邮箱", "客户号", "序号"])
def test_chinese_personal_names(name):
    assert chinese_personal_name(name)


@pytest.mark.parametrize("name", ["信用分", "年龄", "余额", "是否流失", "手机银行登录次数", "电话银行使用次数",
                                  "产品名称", "城市"])
def test_chinese_feature_names_are_not_personal(name):
    assert not chinese_personal_name(name)
