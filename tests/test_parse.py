"""The column-at-a-time fast path must give exactly what the plain normalisers give."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from relief_cli.config import load_config
from relief_cli.parse import Column, _Blank, converter
from relief_cli.values import ValueProblem, is_blank

CONFIG = load_config(None)

cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10**6, 10**6),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e7, max_value=1e7),
    st.decimals(min_value=-10**6, max_value=10**6, places=2, allow_nan=False).map(float),
    st.sampled_from(["", " ", "1,234.50", "856元", "abc", " 12 ", "０.５", "2026-03-01", "20260301", "张三", "市立医院 "]),
    st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
    st.text(max_size=6),
)


def plain(ftype: str, required: bool, cell, negative: bool = False):
    if is_blank(cell):
        if required:  # a blank required amount is unknown, not zero
            return "blank"
        return 0 if ftype == "amount" else None
    try:
        value = converter(ftype, CONFIG)(cell)
    except ValueProblem:
        return "bad"
    return "bad" if ftype == "amount" and not negative and value < 0 else value


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["amount", "text", "name", "date", "period", "grade", "id", "phone"]), st.booleans(),
       st.booleans(), st.lists(cells, max_size=60))
def test_column_equals_plain_conversion(ftype, required, negative, column):
    check_column(Column(converter(ftype, CONFIG), ftype, required, negative), ftype, required, column, negative)
    # A column of unique values drops its memo and tries the whole-column path first.
    unique = Column(converter(ftype, CONFIG), ftype, required, negative)
    unique.memoise = False
    check_column(unique, ftype, required, column, negative)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(st.one_of(
    st.floats(),  # any float: nan, inf, huge, tiny, many decimals
    st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False).map(float),
    st.decimals(min_value=-10**3, max_value=10**3, places=3, allow_nan=False).map(float),
    st.sampled_from([0.1 + 0.2, 2.675, 0.005, -0.0, 1e12, 1e12 - 0.01, 123.45, "1,234.50", None, ""]),
), min_size=1, max_size=200))
def test_whole_amount_columns_equal_plain_conversion(required, column):
    for negative in (False, True):  # most amounts refuse negatives; medical ones take reversals
        check_column(Column(converter("amount", CONFIG), "amount", required, negative), "amount", required, column,
                     negative)


def check_column(col: Column, ftype: str, required: bool, column: list, negative: bool = True) -> None:
    for _ in range(2):  # the second pass is served from the memo
        bad: set[int] = set()
        got = col.many(column, bad)
        for i, cell in enumerate(column):
            expected = plain(ftype, required, cell, negative)
            if expected in ("blank", "bad"):
                assert i in bad, (cell, got[i])
            else:
                assert i not in bad and got[i] == expected and type(got[i]) is type(expected), (cell, got[i], expected)


def test_booleans_never_share_a_memo_slot_with_numbers():
    col = Column(converter("amount", CONFIG), "amount", True)
    bad: set[int] = set()
    assert col.many([1, True, 1.0, False, 0], bad) == [100, None, 100, None, 0]
    assert bad == {1, 3}


def test_negative_amounts_only_where_the_field_allows_them():
    refunds = Column(converter("amount", CONFIG), "amount", True, negative=True)
    base = Column(converter("amount", CONFIG), "amount", False, negative=False)
    bad: set[int] = set()
    assert refunds.many([-12.5, "-3元", 4.0], bad) == [-1250, -300, 400] and bad == set()
    assert base.many([-12.5, "-3元", 4.0, None, "-"], bad) == [None, None, 400, 0, 0] and bad == {0, 1}
    try:
        base.one(-1.0)
    except ValueProblem as e:
        assert "金额不能为负数" in e.reason
    else:
        raise AssertionError("a negative contribution base must fail")


def test_blank_required_and_optional():
    required = Column(converter("text", CONFIG), "text", True)
    optional = Column(converter("text", CONFIG), "text", False)
    bad: set[int] = set()
    assert required.many(["", None, " x "], bad) == [None, None, "x"] and bad == {0, 1}
    assert optional.many(["", None], set()) == [None, None]
    try:
        required.one("  ")
    except _Blank:
        pass
    else:
        raise AssertionError("a blank required cell must fail")


def test_a_sheet_whose_rows_fill_the_last_chunk_exactly(store, tmp_path, monkeypatch):
    from relief_cli import parse
    from relief_cli.importer import import_paths
    from conftest import make_id

    monkeypatch.setattr(parse, "CHUNK_ROWS", 2)
    path = tmp_path / "d.csv"
    path.write_text("身份证号,死亡日期\n" + "".join(f"{make_id(seq=i)},2026-11-0{i}\n" for i in range(1, 5)), encoding="utf-8")
    report = import_paths(store, [path])
    assert not report.failures and [(s.rows, s.imported) for s in report.sheets] == [(4, 4)]


@st.composite
def id_like(draw):
    """18-character strings near a valid ID: any region digit, any birth digits (leap days,
    month 13, years 1899/2101), right or wrong check character, x or X, full-width digits."""
    from relief_cli.values import id_check_digit

    region = draw(st.one_of(st.integers(110000, 659999), st.integers(0, 999999))).__format__("06d")
    birth = draw(st.one_of(
        st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)).map(lambda d: f"{d:%Y%m%d}"),
        st.sampled_from(["18991231", "21010101", "20230229", "20240229", "21000229", "20000229", "20261301", "20260100"]),
    ))
    first17 = region + birth + draw(st.integers(0, 999)).__format__("03d")
    right = id_check_digit(first17)
    last = draw(st.one_of(st.just(right), st.sampled_from("0123456789Xx")))
    text = first17 + last
    if draw(st.integers(0, 9)) == 0:
        text = text.replace("1", "１", 1)  # a full-width digit: still normalisable
    return text


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(st.one_of(id_like(), cells), min_size=1, max_size=80))
def test_id_columns_checked_all_at_once_equal_plain_conversion(required, column):
    check_column(Column(converter("id", CONFIG), "id", required), "id", required, column)
