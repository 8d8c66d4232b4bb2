import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from relief_cli.values import (
    PROVINCE_CODES,
    canonical_ids,
    ValueProblem,
    id_birth_date,
    id_check_digit,
    id_sex,
    is_blank,
    mask_id,
    mask_name,
    mask_phone,
    normalize_header,
    normalize_id,
    normalize_phone,
    normalize_text,
    parse_amount,
    parse_date,
    parse_grade,
    parse_period,
    to_halfwidth,
    upgrade_id15,
)

EXCEL_NUMBER = "身份证号被 Excel 存成了数字，后几位已丢失，无法还原；请把该列设为文本后重新导出"
BAD_CHECK = "身份证号校验位错误"
KNOWN_ID = "11010519491231002X"
EXCEL_EPOCH = dt.date(1899, 12, 30)


def reference_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 from its definition, independent of the weight table under test:
    the weighted sum over all 18 positions, weights 2**(17-i), must be 1 mod 11."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (1 - total) % 11
    return "X" if value == 10 else str(value)


def problem(func, raw) -> str:
    with pytest.raises(ValueProblem) as info:
        func(raw)
    return info.value.reason


regions = st.sampled_from(sorted(PROVINCE_CODES)).flatmap(lambda p: st.integers(0, 9999).map(lambda r: f"{p}{r:04d}"))
sequences = st.integers(0, 999).map("{:03d}".format)


@st.composite
def valid_ids(draw):
    birth = draw(st.dates(dt.date(1920, 1, 1), dt.date(2025, 12, 31)))
    first17 = draw(regions) + f"{birth:%Y%m%d}" + draw(sequences)
    return first17 + reference_check_char(first17)


@st.composite
def noisy(draw, id_no):
    spaces = st.sampled_from([" ", "\u3000", "\t", "\xa0", "\u200b"])
    parts = []
    for char in id_no:
        if draw(st.booleans()):
            parts.append(draw(spaces))
        if char == "X":
            char = draw(st.sampled_from("XxＸｘ"))
        elif draw(st.booleans()):
            char = chr(ord(char) + 0xFEE0)
        parts.append(char)
    quote = draw(st.sampled_from(["", "'", "‘", "’", "＇"]))
    padding = st.text(alphabet=" \u3000\t\n", max_size=3)
    return draw(padding) + quote + "".join(parts) + draw(padding)


# --- ID numbers -------------------------------------------------------------------


def test_known_id_is_valid():
    assert normalize_id(KNOWN_ID) == KNOWN_ID
    assert id_check_digit(KNOWN_ID[:17]) == "X"
    assert id_birth_date(KNOWN_ID) == dt.date(1949, 12, 31)
    assert id_sex(KNOWN_ID) == "女"


def test_wrong_check_digit_is_rejected_with_precise_reason():
    assert problem(normalize_id, "110105194912310021") == BAD_CHECK


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_matches_iso_7064_definition(first17):
    assert id_check_digit(first17) == reference_check_char(first17)


@given(valid_ids().flatmap(lambda id_no: st.tuples(st.just(id_no), noisy(id_no))))
def test_valid_id_survives_export_noise(pair):
    id_no, messy = pair
    assert normalize_id(messy) == id_no


@given(valid_ids(), st.integers(0, 16), st.integers(1, 9))
def test_any_single_digit_change_is_rejected(id_no, position, shift):
    changed = str((int(id_no[position]) + shift) % 10)
    corrupted = id_no[:position] + changed + id_no[position + 1 :]
    with pytest.raises(ValueProblem):
        normalize_id(corrupted)


# Swapping neighbours a, b at positions i, i+1 changes the weighted sum by
# (a - b) * (w_i - w_i+1). Each weight is twice the next one mod 11 (the check
# character itself has weight 1), so w_i - w_i+1 = w_i+1, which is never 0 mod 11;
# neither is a - b for distinct digits. Hence every adjacent transposition of
# distinct characters, including one with the check character, is detected.
@given(valid_ids(), st.integers(0, 16))
def test_any_adjacent_transposition_is_rejected(id_no, position):
    a, b = id_no[position], id_no[position + 1]
    assume(a != b)
    swapped = id_no[:position] + b + a + id_no[position + 2 :]
    with pytest.raises(ValueProblem):
        normalize_id(swapped)


def test_checksum_errors_exhaustively_for_known_id():
    for position in range(17):
        for digit in "0123456789":
            if digit == KNOWN_ID[position]:
                continue
            corrupted = KNOWN_ID[:position] + digit + KNOWN_ID[position + 1 :]
            assert reference_check_char(corrupted[:17]) != corrupted[17]
            with pytest.raises(ValueProblem):
                normalize_id(corrupted)


@given(
    regions,
    st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)),
    sequences,
)
def test_legacy_15_digit_id_is_upgraded(region, birth, sequence):
    id15 = region + f"{birth:%y%m%d}" + sequence
    upgraded = normalize_id(id15)
    assert upgraded == upgrade_id15(id15)
    assert len(upgraded) == 18
    assert upgraded[:17] == region + f"{birth:%Y%m%d}" + sequence
    assert upgraded[17] == reference_check_char(upgraded[:17])
    assert id_birth_date(id15) == birth


def test_known_legacy_id():
    assert normalize_id("110105491231002") == KNOWN_ID


@given(st.integers() | st.floats())
def test_numeric_cells_are_rejected_unless_a_whole_15_digit_id(value):
    assume(not (10**14 <= value < 10**15 and value == int(value)))
    assert problem(normalize_id, value) == EXCEL_NUMBER


@given(regions, st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)), sequences)
def test_a_15_digit_id_stored_as_a_number_is_exact_and_upgraded(region, birth, sequence):
    id15 = region + f"{birth:%y%m%d}" + sequence
    assert normalize_id(int(id15)) == normalize_id(float(id15)) == normalize_id(id15)


def test_a_region_that_was_never_a_province_is_rejected():
    for first17 in ("99070519800101001", "24000020000101000", "10010519800101001"):
        assert problem(normalize_id, first17 + reference_check_char(first17)) == "身份证号的地区码无效（前两位不是任何省份的代码）"


@given(regions, st.dates(dt.date.today() + dt.timedelta(days=1), dt.date(2100, 12, 31)), sequences)
def test_a_birth_date_after_today_is_rejected(region, birth, sequence):
    first17 = region + f"{birth:%Y%m%d}" + sequence
    id_no = first17 + reference_check_char(first17)
    assert problem(normalize_id, id_no) == "身份证号中的出生日期晚于今天"
    assert list(canonical_ids([id_no])) == []


def test_a_birth_date_before_1900_is_rejected():
    first17 = "11010518991231001"
    assert problem(normalize_id, first17 + reference_check_char(first17)) == "身份证号中的出生日期无效"


@pytest.mark.parametrize(
    "text",
    ["3.40702E+17", "3.40702198001011e17", "１.１０１０５Ｅ＋１７", "110105194912310000.0"],
)
def test_scientific_notation_text_is_rejected(text):
    assert problem(normalize_id, text) == EXCEL_NUMBER


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "身份证号为空"),
        ("  \u3000", "身份证号为空"),
        (True, "身份证号应为文本"),
        ("11010519491231002", "身份证号长度应为18位或15位，实际为17位"),
        ("1101051949123100２XA", "身份证号含非法字符"),
        ("无", "身份证号含非法字符"),
        ("110105194912310X21", "身份证号中的 X 只能出现在18位号码的末位"),
        ("11010549123100X", "身份证号中的 X 只能出现在18位号码的末位"),
        ("010105194912310029", "身份证号的地区码无效（前两位不是任何省份的代码）"),
        ("110105194902300022", "身份证号中的出生日期无效"),
        ("110105189912310025", "身份证号中的出生日期无效"),
        ("110105490230002", "身份证号中的出生日期无效"),
    ],
)
def test_id_rejections(raw, reason):
    assert problem(normalize_id, raw) == reason


@given(valid_ids(), st.sampled_from(["", "'", " "]))
def test_reason_never_contains_the_value(id_no, prefix):
    for bad in (prefix + id_no[:-1] + ("0" if id_no[-1] != "0" else "1"), id_no[:16]):
        reason = problem(normalize_id, bad)
        assert id_no[:6] not in reason and id_no[-6:-1] not in reason


def test_id_sex_reads_17th_digit():
    first17 = "1101051949123100" + "1"
    assert id_sex(first17 + id_check_digit(first17)) == "男"


# --- Dates and periods -------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        46082,
        46082.0,
        46082.75,
        "46082",
        "46082.0",
        "2026-03-01",
        "2026-3-1",
        "2026/3/1",
        "2026.3.1",
        "2026年3月1日",
        "２０２６年３月１日",
        "20260301",
        20260301,
        20260301.0,
        " 2026-03-01 10:20:30 ",
        "2026/3/1 8:05",
        "2026-03-01T10:20:30",
        dt.datetime(2026, 3, 1, 10, 0),
        dt.date(2026, 3, 1),
    ],
)
def test_parse_date_forms(raw):
    assert parse_date(raw) == dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2026-02-30", "日期无效"),
        ("20261301", "日期无效"),
        (20260230, "日期无效"),
        ("2026-03/01", "无法识别的日期格式"),
        ("明天", "无法识别的日期格式"),
        (0, "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"),
        (2958466, "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"),
        (202603, "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"),
        (202603.0, "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"),
        ("12345", "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"),
        (18262, "数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"),  # 1949-12-31
        ("2026-03-01 25:10", "日期后的时间无效（时应在 0–23，分、秒应在 0–59）"),
        ("2026/3/1 8:61", "日期后的时间无效（时应在 0–23，分、秒应在 0–59）"),
        ("2026-03-01T10:20:75", "日期后的时间无效（时应在 0–23，分、秒应在 0–59）"),
        (float("nan"), "无法识别的日期格式"),
        (True, "无法识别的日期格式"),
        (None, "日期为空"),
        (" \u3000", "日期为空"),
    ],
)
def test_parse_date_rejections(raw, reason):
    assert problem(parse_date, raw) == reason


@given(st.dates(dt.date(1950, 1, 1), dt.date.today() + dt.timedelta(days=365)))
def test_parse_date_round_trips(day):
    serial = (day - EXCEL_EPOCH).days
    y, m, d = day.year, day.month, day.day
    forms = [
        day.isoformat(),
        f"{y}-{m}-{d}",
        f"{y}/{m}/{d}",
        f"{y}.{m}.{d}",
        f"{y}年{m}月{d}日",
        f"{day:%Y%m%d}",
        int(f"{day:%Y%m%d}"),
        serial,
        float(serial),
        str(serial),
        f"{day.isoformat()} 23:59:59",
        dt.datetime(y, m, d, 12, 30),
    ]
    for form in forms:
        assert parse_date(form) == day, form


@pytest.mark.parametrize(
    "raw",
    [
        "202603",
        202603,
        202603.0,
        "2026-03",
        "2026-3",
        "2026/03",
        "2026.03",
        "2026年3月",
        "2026年03月",
        "2026-03-15",
        "2026年3月1日",
        "46082",
        46082,
        20260301,
        dt.date(2026, 3, 31),
        dt.datetime(2026, 3, 1, 8, 0),
    ],
)
def test_parse_period_forms(raw):
    assert parse_period(raw) == "202603"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("202613", "年月中的月份应在1至12之间"),
        (202600, "年月中的月份应在1至12之间"),
        ("2026-13", "年月中的月份应在1至12之间"),
        ("三月", "无法识别的年月格式"),
        (2026.03, "无法识别的年月格式"),
        (2026, "无法识别的年月格式"),
        (None, "年月为空"),
        ("", "年月为空"),
    ],
)
def test_parse_period_rejections(raw, reason):
    assert problem(parse_period, raw) == reason


# --- Amounts, grades, phones -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("1,234.50", 123450),
        ("1234.5元", 123450),
        ("", 0),
        (None, 0),
        ("-", 0),
        ("￥1，000", 100000),
        ("¥ 12.3", 1230),
        ("-12.5", -1250),
        ("0.005", 1),
        ("1.234", 123),
        ("-0.005", -1),
        (0.1 + 0.2, 30),
        (1234, 123400),
        (12.345, 1235),
        (Decimal("9.99"), 999),
    ],
)
def test_parse_amount(raw, fen):
    assert parse_amount(raw) == fen


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "12元5", True, float("inf"), float("nan"),
                                 "1.234,50", ",", "1234,5", "12,34", "1,2345.00", ",100", "1,,000"])
def test_parse_amount_rejections(raw):
    assert problem(parse_amount, raw) == "金额格式无法识别"


@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=2),
    st.sampled_from(["", "元"]),
    st.sampled_from([",", "，"]),
)
def test_parse_amount_round_trips(amount, suffix, separator):
    text = format(amount, ",.2f").replace(",", separator) + suffix
    assert parse_amount(text) == int(amount * 100)


@pytest.mark.parametrize(
    ("raw", "grade"),
    [
        (1, 1),
        (4.0, 4),
        ("2", 2),
        ("3.0", 3),
        ("一级", 1),
        ("二", 2),
        ("3级", 3),
        ("肢体二级", 2),
        ("视力 四级", 4),
        ("二级（肢体二级）", 2),
    ],
)
def test_parse_grade(raw, grade):
    assert parse_grade(raw) == grade


@pytest.mark.parametrize(
    "raw", [0, 5, 2.5, True, "五级", "14级", "十二级", "视力一级、听力二级", "重度"]
)
def test_parse_grade_rejections(raw):
    assert problem(parse_grade, raw) == "残疾等级应为一级至四级"


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("138 1234 1234", "13812341234"),
        ("138-1234-1234", "13812341234"),
        ("１３８１２３４１２３４", "13812341234"),
        ("+86 138 1234 1234", "13812341234"),
        ("(0551)6288-1234", "055162881234"),
        (13812341234, "13812341234"),
        (13812341234.0, "13812341234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_phone(raw, phone):
    assert normalize_phone(raw) == phone


@pytest.mark.parametrize("raw", ["123456", "1381234123412345", "138 1234 abcd", 1.5, -13812341234])
def test_normalize_phone_rejections(raw):
    assert problem(normalize_phone, raw) == "电话号码格式无法识别"


# --- Text helpers ------------------------------------------------------------------


def test_every_unicode_space_counts_as_blank():
    spaces = [c for c in map(chr, range(0x110000)) if c.isspace()]
    assert all(is_blank(c) for c in spaces)
    assert normalize_text("".join(spaces) + "张三" + "".join(spaces)) == "张三"


def test_text_helpers():
    assert is_blank(None) and is_blank("") and is_blank(" \u3000\t\u200b")
    assert not is_blank("-") and not is_blank(0)
    assert to_halfwidth("ＡＢＣ１２３！\u3000（）") == "ABC123! ()"
    assert normalize_text("\u3000 张三\u200b ") == "张三"
    assert normalize_text(" \u3000") is None
    assert normalize_text(123) == "123"
    assert normalize_text(123.0) == "123"
    assert normalize_text(12.5) == "12.5"
    assert normalize_text("（全角）") == "（全角）"
    assert normalize_header(" *身份证\n号码（必填）： ") == "身份证号码(必填)"
    assert normalize_header("＊姓 名:") == "姓名"
    assert normalize_header(None) == ""


# --- Masking -----------------------------------------------------------------------


@given(valid_ids())
def test_mask_id_hides_the_middle(id_no):
    masked = mask_id(id_no)
    assert len(masked) == 18
    assert masked[:4] == id_no[:4] and masked[-4:] == id_no[-4:]
    assert masked[4:14] == "*" * 10
    assert id_no[4:14] not in masked


def test_masks():
    assert mask_id("340702198001011234") == "3407**********1234"
    assert mask_id("110105491231002") == "1101*******1002"
    assert mask_id("1234567") == "*******"
    assert mask_id(None) == ""
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("055162881234") == "055*****1234"
    assert mask_phone("1234567") == "*******"
    assert mask_phone(None) == ""
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name(None) == ""
