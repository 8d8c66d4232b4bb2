"""Per-cell value normalisers for messy departmental Excel/CSV exports.

Every parser is pure and reports unusable cells with ValueProblem, whose reason is
shown to the officer as is. Reasons never echo the cell: ID numbers and phones are
personal data, and reasons end up in logs and exported error reports.

These run once per cell over millions of cells, hence the ASCII fast paths and the
caches on text parsers whose inputs repeat (the same person appears in many sheets,
the same dates and amounts appear in many rows).
"""

import datetime as dt
import math
import operator
import re
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import compress
from numbers import Number


class ValueProblem(ValueError):
    """A cell value that cannot be used; .reason is a Chinese sentence for the officer."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = 0x20
# Zero-width characters arrive with text copied out of web systems; they are invisible
# to the officer but would make two equal-looking values differ.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH_RE = re.compile(f"[{_ZERO_WIDTH}]")
_CLEAN = {**_HALFWIDTH, **dict.fromkeys(map(ord, _ZERO_WIDTH))}
# Every character for which str.isspace() is true, spelled out because str.strip()
# takes either no argument (whitespace only) or an explicit set.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
    "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_STRIPPABLE = _WHITESPACE + _ZERO_WIDTH


def _clean(text: str) -> str:
    return (text if text.isascii() else text.translate(_CLEAN)).strip()


def _compact(text: str) -> str:
    """Like _clean, but also drops whitespace inside the value (e.g. '1381 234 1234')."""
    return "".join((text if text.isascii() else text.translate(_CLEAN)).split())


def is_blank(raw: object) -> bool:
    if raw is None:
        return True
    return isinstance(raw, str) and not raw.strip(_STRIPPABLE)


def to_halfwidth(text: str) -> str:
    return text if text.isascii() else text.translate(_HALFWIDTH)


def normalize_text(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.strip(_STRIPPABLE)
        if not text.isascii() and _ZERO_WIDTH_RE.search(text):
            text = _ZERO_WIDTH_RE.sub("", text)
        return text or None
    # Excel stores every number as a float, so an integer typed into a cell comes back as 123.0.
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def normalize_header(raw: object) -> str:
    text = normalize_text(raw)
    if text is None:
        return ""
    # '*' marks mandatory columns in many templates and is not part of the column name.
    return _compact(text).replace("*", "").rstrip(":")


_BRACKETED = re.compile(r"\([^()]*\)")
# A note that changes what the numbers mean (万元, 千元, 角, 分) is not dropped: such a column matches
# no alias, rather than being read as 元.
_SCALED = re.compile(r"万|千|百|角|分|‰|%")


def header_core(title: str) -> str:
    """A normalised header without its bracketed notes: 个人自付(元) -> 个人自付 (kept whole when
    nothing is left, as in a title that is all note, or when a note scales the numbers)."""
    if any(_SCALED.search(note) for note in _BRACKETED.findall(title)):
        return title
    core = _BRACKETED.sub("", title)
    return core or title


# --- Resident ID numbers (GB 11643) -------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# Summing weight * byte is much faster than converting each digit; ASCII digits are
# their value plus 48, so subtracting 48 * sum(weights) recovers the real sum.
_ID_ASCII_OFFSET = 48 * sum(_ID_WEIGHTS)
_ID_BLANK = "身份证号为空"
_ID_EXCEL_NUMBER = "身份证号被 Excel 存成了数字，后几位已丢失，无法还原；请把该列设为文本后重新导出"
_ID_BAD_BIRTH = "身份证号中的出生日期无效"
_ID_QUOTES = "'\"‘’“”`"
_ID_ALPHABET = re.compile(r"[0-9X]+")
# The two first digits of a resident ID: provinces, autonomous regions and municipalities,
# Taiwan (71), Hong Kong (81), Macao (82) and the residence permits of Taiwan residents (83).
PROVINCE_CODES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                            50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})
_PROVINCE_PREFIXES = frozenset(str(code) for code in PROVINCE_CODES)
_ID_BAD_REGION = "身份证号的地区码无效（前两位不是任何省份的代码）"
_ID_FUTURE_BIRTH = "身份证号中的出生日期晚于今天"
# What a numeric cell looks like once a CSV export has turned it into text: '3.40702E+17'.
_NUMBER_TEXT = re.compile(r"[0-9]+\.?[0-9]*(?:E[+-]?[0-9]+)?")


def _check_char(first17: str) -> str:
    weighted = sum(map(operator.mul, _ID_WEIGHTS, first17.encode("ascii")))
    return _ID_CHECK_CHARS[(weighted - _ID_ASCII_OFFSET) % 11]


def id_check_digit(first17: str) -> str:
    # isdigit() alone would also accept non-ASCII digits such as '١' or '²'.
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueProblem("身份证号前17位应为数字")
    return _check_char(first17)


def upgrade_id15(id15: str) -> str:
    if len(id15) != 15 or not (id15.isascii() and id15.isdigit()):
        raise ValueProblem("15位身份证号应全部为数字")
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + _check_char(first17)


# Far fewer distinct birth dates than people, so this pays off even when the ID cache misses.
@lru_cache(maxsize=1 << 16)
def _birth_date(yyyymmdd: str) -> dt.date | None:
    """The birth date of an ID: a real date from 1900 on (a later check keeps out the future)."""
    year = int(yyyymmdd[:4])
    if not 1900 <= year <= 2100:
        return None
    try:
        return dt.date(year, int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _today() -> dt.date:
    """Today, once per process: an import or a scan does not outlive the day it runs in."""
    return dt.date.today()


def _born(yyyymmdd: str) -> bool:
    birth = _birth_date(yyyymmdd)
    return birth is not None and birth <= _today()


def normalize_id(raw: object) -> str:
    if raw.__class__ is str:
        # Most IDs arrive already canonical: check those without cleaning them first.
        if (len(raw) == 18 and raw.isascii() and raw[:17].isdigit() and raw[:2] in _PROVINCE_PREFIXES
                and _check_char(raw[:17]) == raw[17] and _born(raw[6:14])):
            return raw
        return _normalize_id_text(raw)
    if isinstance(raw, str):
        return _normalize_id_text(raw)
    if raw is None:
        raise ValueProblem(_ID_BLANK)
    if isinstance(raw, Number) and not isinstance(raw, bool):
        # A number keeps 15 significant digits: a 15-digit legacy ID is whole, an 18-digit one
        # has lost its last digits, and guessing them would be worse than refusing.
        if isinstance(raw, (int, float)) and 10**14 <= raw < 10**15 and raw == int(raw):
            return _normalize_id_text(str(int(raw)))
        raise ValueProblem(_ID_EXCEL_NUMBER)
    raise ValueProblem("身份证号应为文本")


@lru_cache(maxsize=1 << 16)
def _normalize_id_text(raw: str) -> str:
    # Exports prefix IDs with an apostrophe (or a curly quote after passing through
    # Word) to keep Excel from turning them into numbers.
    text = _compact(raw).strip(_ID_QUOTES).upper()
    if not text:
        raise ValueProblem(_ID_BLANK)
    if not _ID_ALPHABET.fullmatch(text):
        if _NUMBER_TEXT.fullmatch(text):
            raise ValueProblem(_ID_EXCEL_NUMBER)
        raise ValueProblem("身份证号含非法字符")
    length = len(text)
    if length != 18 and length != 15:
        raise ValueProblem(f"身份证号长度应为18位或15位，实际为{length}位")
    if "X" in text[:17]:
        raise ValueProblem("身份证号中的 X 只能出现在18位号码的末位")
    if text[:2] not in _PROVINCE_PREFIXES:
        raise ValueProblem(_ID_BAD_REGION)
    birth = "19" + text[6:12] if length == 15 else text[6:14]
    if _birth_date(birth) is None:
        raise ValueProblem(_ID_BAD_BIRTH)
    if not _born(birth):
        raise ValueProblem(_ID_FUTURE_BIRTH)
    if length == 15:
        return upgrade_id15(text)
    if _check_char(text[:17]) != text[17]:
        raise ValueProblem("身份证号校验位错误")
    return text


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def canonical_ids(cells: list[object]) -> Iterator[tuple[str, str]]:
    """(cell, cell) for each cell that is already a canonical 18-character ID, checked with
    numpy all at once (region, birth date, check digit) exactly as normalize_id checks one.

    For a column's new IDs in bulk; any other cell is left to normalize_id and its reasons.
    """
    import numpy as np

    ids = [c for c in cells if c.__class__ is str and len(c) == 18 and c.isascii()]
    if not ids:
        return iter(())
    chars = np.frombuffer("".join(ids).encode("ascii"), dtype=np.uint8).reshape(len(ids), 18)
    digits = chars.astype(np.int64) - 48
    first17 = digits[:, :17]
    ok = ((first17 >= 0) & (first17 <= 9)).all(axis=1)
    ok &= np.isin(digits[:, 0] * 10 + digits[:, 1], np.array(sorted(PROVINCE_CODES)))
    check = np.frombuffer(_ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)[(first17 @ np.array(_ID_WEIGHTS)) % 11]
    ok &= check == chars[:, 17]
    year = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = np.array(_MONTH_DAYS)[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (year >= 1900) & (year <= 2100) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= last)
    today = _today()
    ok &= year * 10000 + month * 100 + day <= today.year * 10000 + today.month * 100 + today.day
    valid = list(compress(ids, ok.tolist()))
    return zip(valid, valid)


def id_birth_date(id_no: str) -> dt.date:
    # Going through the cache validates the ID for free when it is already canonical.
    canonical = normalize_id(id_no)
    return dt.date(int(canonical[6:10]), int(canonical[10:12]), int(canonical[12:14]))


def age_on(id_no: str | None, day: dt.date) -> int | None:
    """Whole years of age on the day, from the ID's birth date; None for no ID or one that is not valid."""
    try:
        born = id_birth_date(id_no) if id_no else None
    except ValueProblem:
        return None
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def id_sex(id_no: str) -> str:
    return "男" if int(normalize_id(id_no)[16]) % 2 else "女"


# --- Dates and periods --------------------------------------------------------------

# With this epoch serials from 61 (1900-03-01) on match Excel, which counts a
# non-existent 1900-02-29; earlier serials never occur in relief data.
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_DATE_UNRECOGNISED = "无法识别的日期格式"
_SERIAL_OUT_OF_RANGE = "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"
_BAD_TIME = "日期后的时间无效（时应在 0–23，分、秒应在 0–59）"
# Exports of datetime cells carry a time part that is irrelevant here, but must be a real time.
_TIME_SUFFIX = (r"(?:(?:T|\s+)(?P<hh>[0-9]{1,2}):(?P<mi>[0-9]{1,2})(?::(?P<ss>[0-9]{1,2})(?:\.[0-9]+)?)?)?")
_DATE_PATTERNS = tuple(
    re.compile(pattern + _TIME_SUFFIX, re.ASCII)
    for pattern in (
        r"(?P<y>[0-9]{4})(?P<sep>[-/.])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})",
        r"(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月\s*(?P<d>[0-9]{1,2})\s*日?",
        r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})",
    )
)
_SERIAL_TEXT = re.compile(r"[0-9]{5}(?:\.[0-9]+)?")


def _make_date(year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueProblem("日期无效") from None


# A number is an Excel serial only for a date an export can hold: from 1950 to a year ahead.
# Outside that it is something else (202603 is a month, 12345 a typo), never 2454-09-14 or 1933-10-18.
_FIRST_SERIAL = (dt.date(1950, 1, 1) - _EXCEL_EPOCH).days


def _date_from_number(value: float) -> dt.date | None:
    if value != value:  # NaN
        return None
    if 19000101 <= value <= 21001231 and value == int(value):
        number = int(value)
        return _make_date(number // 10000, number // 100 % 100, number % 100)
    last = (_today() + dt.timedelta(days=366) - _EXCEL_EPOCH).days
    if _FIRST_SERIAL <= value <= last:
        return _EXCEL_EPOCH + dt.timedelta(days=int(value))
    raise ValueProblem(_SERIAL_OUT_OF_RANGE)


@lru_cache(maxsize=8192)
def _date_from_text(raw: str) -> dt.date | None:
    text = _clean(raw)
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            if match["hh"] is not None and not (int(match["hh"]) <= 23 and int(match["mi"]) <= 59
                                                and int(match["ss"] or 0) <= 59):
                raise ValueProblem(_BAD_TIME)
            return _make_date(int(match["y"]), int(match["m"]), int(match["d"]))
    if _SERIAL_TEXT.fullmatch(text):
        return _date_from_number(float(text))
    return None


def parse_date(raw: object) -> dt.date:
    if isinstance(raw, str):
        parsed = _date_from_text(raw)
    elif isinstance(raw, dt.datetime):
        return raw.date()
    elif isinstance(raw, dt.date):
        return raw
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        parsed = _date_from_number(raw)
    else:
        parsed = None
    if parsed is None:
        raise ValueProblem("日期为空" if is_blank(raw) else _DATE_UNRECOGNISED)
    return parsed


_PERIOD_UNRECOGNISED = "无法识别的年月格式"
_PERIOD_PATTERNS = tuple(
    re.compile(pattern, re.ASCII)
    for pattern in (
        r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})",
        r"(?P<y>[0-9]{4})[-/.](?P<m>[0-9]{1,2})",
        r"(?P<y>[0-9]{4})\s*年\s*(?P<m>[0-9]{1,2})\s*月?",
    )
)


def _format_period(year: int, month: int) -> str:
    if not 1 <= month <= 12:
        raise ValueProblem("年月中的月份应在1至12之间")
    return f"{year:04d}{month:02d}"


@lru_cache(maxsize=1024)
def _period_from_text(raw: str) -> str | None:
    text = _clean(raw)
    for pattern in _PERIOD_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return _format_period(int(match["y"]), int(match["m"]))
    parsed = _date_from_text(raw)
    return None if parsed is None else _format_period(parsed.year, parsed.month)


def parse_period(raw: object) -> str:
    if isinstance(raw, str):
        period = _period_from_text(raw)
    elif isinstance(raw, dt.date):
        return _format_period(raw.year, raw.month)
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if 100000 <= raw <= 999999 and raw == int(raw):
            return _format_period(int(raw) // 100, int(raw) % 100)
        # Only 5-digit serials: a month typed as the number 2026.03 must not become
        # serial 2026, i.e. some day in 1905.
        if 10000 <= raw < 100000 or 19000101 <= raw <= 21001231:
            parsed = _date_from_number(raw)
            period = None if parsed is None else _format_period(parsed.year, parsed.month)
        else:
            period = None
    else:
        period = None
    if period is None:
        raise ValueProblem("年月为空" if is_blank(raw) else _PERIOD_UNRECOGNISED)
    return period


# --- Amounts, grades, phones --------------------------------------------------------

_AMOUNT_UNRECOGNISED = "金额格式无法识别"
# A comma only separates thousands, in groups of three before the decimal point: '1.234,50' (a
# European decimal comma) and a lone ',' are refused, not read as 1.23 and 0.
_AMOUNT_TEXT = re.compile(r"(?P<sign>[+-]?)[¥￥]?(?P<num>(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+)元?")


# SQLite stores at most 2^63 - 1; a hundred trillion yuan is far beyond any amount relief sees,
# and beyond it the cell is something else (an ID number typed into 学费).
MAX_FEN = 10**16
_AMOUNT_TOO_LARGE = "金额大得不合理（超过一百万亿元），可能是把身份证号等数字填进了金额列"


def _to_fen(yuan: Decimal) -> int:
    fen = int((yuan * 100).to_integral_value(rounding=ROUND_HALF_UP))
    if abs(fen) >= MAX_FEN:
        raise ValueProblem(_AMOUNT_TOO_LARGE)
    return fen


@lru_cache(maxsize=4096)
def _amount_from_text(raw: str) -> int:
    text = _compact(raw)
    # A lone dash is how accountants write "nothing" in a money column.
    if not text or text == "-":
        return 0
    match = _AMOUNT_TEXT.fullmatch(text)
    if not match:
        raise ValueProblem(_AMOUNT_UNRECOGNISED)
    return _to_fen(Decimal(match["sign"] + match["num"].replace(",", "")))


def parse_amount(raw: object) -> int:
    if isinstance(raw, str):
        return _amount_from_text(raw)
    if raw is None:
        return 0
    if isinstance(raw, bool):
        raise ValueProblem(_AMOUNT_UNRECOGNISED)
    if isinstance(raw, int):
        if abs(raw) * 100 >= MAX_FEN:
            raise ValueProblem(_AMOUNT_TOO_LARGE)
        return raw * 100
    # str() gives the shortest repr, so 0.1 + 0.2 is read as the 0.30000000000000004
    # the officer effectively typed, not as the binary expansion of the float.
    if isinstance(raw, float) and math.isfinite(raw):
        return _to_fen(Decimal(str(raw)))
    if isinstance(raw, Decimal) and raw.is_finite():
        return _to_fen(raw)
    raise ValueProblem(_AMOUNT_UNRECOGNISED)


_BAD_GRADE = "残疾等级应为一级至四级"
_GRADE_VALUES = {"1": 1, "2": 2, "3": 3, "4": 4, "一": 1, "二": 2, "三": 3, "四": 4}
_PLAIN_GRADES = {**_GRADE_VALUES, "1.0": 1, "2.0": 2, "3.0": 3, "4.0": 4}
# The lookbehind keeps '14级' and '十二级' from counting as grade 4 and grade 2.
_GRADE_MARKER = re.compile(r"(?<![0-9一二三四五六七八九十])([1-4一二三四])级")


@lru_cache(maxsize=256)
def _grade_from_text(raw: str) -> int | None:
    text = _clean(raw)
    grade = _PLAIN_GRADES.get(text)
    if grade is not None:
        return grade
    # Certificates read like '肢体二级'; several different grades ('视力一级、听力二级')
    # cannot be reduced to one without a policy decision, so they are rejected.
    grades = {_GRADE_VALUES[marker] for marker in _GRADE_MARKER.findall(text)}
    return grades.pop() if len(grades) == 1 else None


def parse_grade(raw: object) -> int:
    if isinstance(raw, str):
        grade = _grade_from_text(raw)
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw in (1, 2, 3, 4):
        grade = int(raw)
    else:
        grade = None
    if grade is None:
        raise ValueProblem("残疾等级为空" if is_blank(raw) else _BAD_GRADE)
    return grade


_BAD_PHONE = "电话号码格式无法识别"
_PHONE_PUNCTUATION = dict.fromkeys(map(ord, "-–—()"))
_PHONE_TEXT = re.compile(r"\+?[0-9]+")


def normalize_phone(raw: object) -> str:
    if isinstance(raw, str):
        text = _compact(raw).translate(_PHONE_PUNCTUATION)
        if not text:
            return ""
    elif raw is None:
        return ""
    elif isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    else:
        raise ValueProblem(_BAD_PHONE)
    if not _PHONE_TEXT.fullmatch(text):
        raise ValueProblem(_BAD_PHONE)
    if len(text) == 14 and text.startswith("+861"):
        text = text[3:]
    if not 7 <= len(text.removeprefix("+")) <= 15:
        raise ValueProblem(_BAD_PHONE)
    return text


# --- Masking for display and logs ---------------------------------------------------


def mask_id(id_no: str | None) -> str:
    if not id_no:
        return ""
    length = len(id_no)
    # A shorter value is most likely a truncated ID; keeping 8 characters of it
    # would reveal most of the number.
    if length < 15:
        return "*" * length
    return id_no[:4] + "*" * (length - 8) + id_no[-4:]


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    length = len(phone)
    if length <= 7:
        return "*" * length
    return phone[:3] + "*" * (length - 7) + phone[-4:]


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)
