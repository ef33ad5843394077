"""What personal data looks like in a cell, and the Chinese column names that announce it.

`content_reason(values)` says why a column is personal by its content, or None. A column is personal when more
than `MOSTLY` of its values (text, or integers read as digits) are one of:
- e-mail addresses (`EMAIL`);
- PRC resident ID numbers (居民身份证号码, GB 11643-1999, `is_resident_id`): 17 digits and a check character;
  digits 7-14 a real birth date (YYYYMMDD, from 1900 to today); the check character the ISO 7064 MOD 11-2 one
  (`resident_id_check`: 0-9, or X for 10);
- bank card numbers (`is_card_number`): 16 to 19 digits, spaces or dashes allowed, passing the Luhn check;
- mainland mobile numbers (`MOBILE`): 1, then 3-9, then 9 digits (11 in all), optionally after +86 / 86;
- phone numbers (`PHONE`): 7 to 15 digits with + ( ) - . and spaces;
- Chinese street addresses (`ADDRESS`): a province, city, district or county (省/市/区/县/镇/乡), then a road,
  street, lane or village (路/街/道/巷/弄/村), then a house number (12号).
Names (张伟) have no shape a pattern can trust; a column of them is caught by its name, or as text with too many
distinct values to be a category.

`CHINESE_NAMES` matches Chinese column names that announce personal data or an identifier anywhere in the name
(Chinese has no word breaks: 客户姓名 holds 姓名): 姓名, 名字, 客户名称, 户名 (names), 身份证, 证件号 (ID
numbers), 手机, 电话, 联系方式 (phones; not 手机银行 / 电话银行, mobile and phone banking, which are bank
services), 地址, 住址 (addresses), 邮箱, 电子邮件, 邮编, 卡号, 账号, 帐号, 护照, and the identifiers 客户号,
客户编号, 编号, 序号.
"""

import datetime as dt
import re

import pandas as pd

MOSTLY = 0.5  # share of values with a personal shape that makes a column personal
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
PHONE = re.compile(r"\+?[\d\s().-]{7,20}")
MOBILE = re.compile(r"(?:\+?86[\s-]?)?1[3-9]\d{9}")
RESIDENT_ID = re.compile(r"\d{17}[\dXx]")
CARD = re.compile(r"\d(?:[\s-]?\d){15,18}")
ADDRESS = re.compile(r".*[省市区县镇乡].*[路街道巷弄村].*\d+号.*")
WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]  # ISO 7064 MOD 11-2 weights: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
CHINESE_NAMES = re.compile("姓名|名字|客户名称|户名|身份证|证件号|手机(?!银行)|电话(?!银行)|联系方式"
                           "|地址|住址|邮箱|电子邮件|邮编|卡号|账号|帐号|护照|客户号|客户编号|编号|序号")


def resident_id_check(first17: str) -> str:
    """The check character of a resident ID's first 17 digits: (12 - sum(digit x weight) mod 11) mod 11, X for 10."""
    value = (12 - sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11) % 11
    return "X" if value == 10 else str(value)


def is_resident_id(text: str) -> bool:
    """True for an 18-character PRC resident ID number with a real birth date and the right check character."""
    text = text.strip().upper()
    if not RESIDENT_ID.fullmatch(text):
        return False
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today() and resident_id_check(text[:17]) == text[17]


def luhn(digits: str) -> bool:
    """The Luhn (mod 10) check of a digit string: from the right, double every second digit (minus 9 above 9);
    the sum is a multiple of 10."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def is_card_number(text: str) -> bool:
    """True for 16 to 19 digits (spaces or dashes between them allowed) passing the Luhn check."""
    text = text.strip()
    return bool(CARD.fullmatch(text)) and luhn(re.sub(r"\D", "", text))


def _phone(text: str) -> bool:
    return bool(PHONE.fullmatch(text)) and 7 <= len(re.sub(r"\D", "", text)) <= 15


CHECKS = (  # (reason, test, also for integer columns): most specific first
    ("its values are e-mail addresses", lambda v: bool(EMAIL.fullmatch(v)), False),
    ("its values are resident ID numbers (身份证号)", is_resident_id, True),
    ("its values are bank card numbers (Luhn)", is_card_number, True),
    ("its values are mobile phone numbers", lambda v: bool(MOBILE.fullmatch(v)), True),
    ("its values are phone numbers", _phone, False),  # not on integers: 1234567 may be a balance
    ("its values are street addresses", lambda v: bool(ADDRESS.fullmatch(v)), False),
)


def content_reason(values: pd.Series) -> str | None:
    """Why `values` are personal data by their content (see the module docstring), or None."""
    present = values.dropna()
    integers = pd.api.types.is_integer_dtype(values)
    if present.empty or pd.api.types.is_bool_dtype(values) or (pd.api.types.is_numeric_dtype(values)
                                                                and not integers):
        return None
    text = present.astype("int64").astype(str) if integers else present.astype(str).str.strip()
    counts = text.value_counts()  # each distinct value tested once
    for reason, test, numeric in CHECKS:
        if (numeric or not integers) and counts[counts.index.map(test).to_numpy(bool)].sum() > MOSTLY * len(text):
            return reason
    return None


def chinese_personal_name(name: str) -> bool:
    """True when a column name holds a Chinese term for personal data or an identifier (`CHINESE_NAMES`)."""
    return bool(CHINESE_NAMES.search(str(name)))
