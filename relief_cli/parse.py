"""Turning one export file into normalised rows and rejects: no database, no printing.

This runs in a worker process, or for the last file in the writer (see importer.py),
so it only sends plain data. Normalising is the hot path of a city-scale import and
works a column of a chunk at a time: numeric amounts and new IDs through numpy,
unique ASCII text through C-level maps, repeated values (dates, hospitals, names)
through a memo, and the rest once per distinct value. Blank rows, total rows and
the reasons of a rejected row are only worked out for rows that fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress, islice, repeat
from operator import is_, not_
from pathlib import Path
from typing import Any

from .config import Config, SourceSpec
from .reader import FileProblem, column_letter, open_file
from .values import (
    ValueProblem,
    canonical_ids,
    header_core,
    is_blank,
    normalize_header,
    normalize_id,
    normalize_phone,
    normalize_text,
    parse_amount,
    parse_date,
    parse_grade,
    parse_period,
)

HEADER_SEARCH_ROWS = 30
CUT_MIN_IDS, CUT_SHARE = 5, 0.5  # see SheetParser._find_cut_ids
BLANKED = "已导入，但以下内容无法识别、已留空："
BLANKED_SHOWN = 1000  # per sheet; the count covers all
# The columns a rejects workbook adds after the original ones; a corrected rejects workbook imported
# again reads only the columns before them (and so never adds a second set).
REJECT_COLUMNS = ("拒收原因", "原工作表", "原行号")
NEGATIVE = "金额不能为负数（退费等负数金额只在 rules.yaml 中标了 negative: true 的列接受）"
CHUNK_ROWS = 20_000
MEMO_LIMIT = 500_000
TOTAL_MARKERS = ("合计", "总计", "小计")
FOOTER_MARKERS = ("制表", "审核", "填表", "注：", "注:", "说明：", "说明:")


@dataclass(frozen=True)
class Header:
    row: int  # index into the sheet's rows (0 = Excel row 1)
    source: str
    columns: dict[int, str]  # position in the row -> field
    titles: list[str]  # up to the last titled column: cells beyond it are not read
    first_col: int = 0  # 0-based column of the sheet's first cell (for column letters in reasons)
    from_rejects: bool = False  # a corrected rejects workbook: it adds to a full list, it is not one

    @property
    def width(self) -> int:
        return len(self.titles)


@dataclass
class Reject:
    sheet: str
    row: int
    cells: list[Any]
    reason: str


# Messages a parse sends, in order, for each sheet of the file.
@dataclass
class SheetStart:
    index: int
    name: str
    source: str | None
    skipped_reason: str | None
    header: Header | None = None


@dataclass
class Rows:
    """Normalised rows of one chunk, column by column (cheaper to send and to bind than tuples)."""

    index: int
    columns: list[list[Any]]  # one list per field of the source, in the order of its fields
    keys: list[str]
    numbers: list[int]  # Excel row numbers
    rejects: list[Reject] = field(default_factory=list)
    seen: int = 0  # data rows read so far in this sheet (kept and rejected)
    notes: list[Reject] = field(default_factory=list)  # rows kept with an unreadable cell left blank
    # The readable first key field (the ID) of rejected rows: a full list does not end those people.
    protected: list[str] = field(default_factory=list)
    blanked: int = 0  # rows kept with a cell left blank (notes holds the first of them)

    def __len__(self) -> int:
        return len(self.keys)

    def records(self, sheet: str, *extra: Any) -> Iterator[tuple]:
        """(fields..., _key, _sheet, _row, *extra) per row."""
        return zip(*self.columns, self.keys, repeat(sheet), self.numbers, *map(repeat, extra))

    def keep(self, mask: Sequence[bool]) -> None:
        """Drop the rows whose mask entry is false."""
        self.columns = [list(compress(c, mask)) for c in self.columns]
        self.keys = list(compress(self.keys, mask))
        self.numbers = list(compress(self.numbers, mask))


@dataclass
class RawRows:
    """Data rows of one chunk as read, for a writer that normalises them itself (see importer)."""

    index: int
    batch: list[list[Any]]
    numbers: list[int]  # Excel row numbers


@dataclass
class SheetEnd:
    index: int
    rows: int


def find_header(rows: Iterator[list[Any]], config: Config, forced: str | None, first_col: int = 0) -> Header | str:
    """The first row (within the top rows) that holds every required column of a source.

    A two-row header (a merged group title such as 费用情况 over the real titles, the other titles
    merged down over both rows) is read as one: each column takes its lower title, else its upper.
    The data then start below the lower row.
    """
    candidates = {forced: config.sources[forced]} if forced else config.sources
    maps = {name: (spec.header_map(), spec.loose_header_map()) for name, spec in candidates.items()}
    partial: list[tuple[int, str, list[str]]] = []
    top = list(islice(rows, HEADER_SEARCH_ROWS))

    def best_at(index: int, joined_only: bool = False) -> tuple[int, float, str, dict[int, str], list[Any]] | None:
        row = top[index]
        layouts = [] if joined_only else [row]
        if index > 0 and any(not is_blank(c) for c in top[index - 1]):
            above = top[index - 1]
            layouts.append([c if not is_blank(c) else (above[j] if j < len(above) else None)
                            for j, c in enumerate(row + [None] * (len(above) - len(row)))])
        best = None
        for cells in layouts:
            titles = [normalize_header(c) for c in cells]
            if REJECT_COLUMNS[0] in titles:  # a corrected rejects workbook: its own columns end the data
                cells = cells[:titles.index(REJECT_COLUMNS[0])]
                titles = titles[:len(cells)]
            if not any(titles):
                continue
            for name, spec in candidates.items():
                columns = _match_columns(titles, *maps[name], spec)
                missing = [f for f in spec.required if f not in columns.values()]
                if not missing:
                    found = (len(set(columns.values())), len(set(columns.values())) / len(spec.fields), name, columns, cells)
                    if best is None or found[:2] > best[:2]:
                        best = found
                elif columns:
                    partial.append((len(columns), name, missing))
        return best

    for index in range(len(top)):
        best = best_at(index)
        if best is None:
            continue
        if index + 1 < len(top):  # the lower half of a two-row header may name more columns
            lower = best_at(index + 1, joined_only=True)
            if lower is not None and lower[0] > best[0]:
                index, best = index + 1, lower
        _, _, name, columns, cells = best
        duplicates = _duplicates(columns)
        if duplicates:
            fname, positions = next(iter(duplicates.items()))
            named = "和".join(f"{column_letter(first_col + j)}列「{cells[j]}」" for j in positions)
            spec = candidates[name]
            raise FileProblem(f"表头中{named}都是「{_field_label(spec, fname)}」（{spec.label}），无法确定用哪一列；"
                              f"请删除或改名其中一列后重新导入")
        titles = [normalize_header(c) for c in cells]
        width = max(j for j, title in enumerate(titles) if title) + 1
        from_rejects = REJECT_COLUMNS[0] in (normalize_header(c) for c in top[index])
        return Header(row=index, source=name, columns=columns, titles=[str(c) if c is not None else "" for c in cells[:width]],
                      from_rejects=from_rejects)
    best_partial = max(partial, key=lambda p: p[0], default=None)
    if forced:
        spec = config.sources[forced]
        missing = best_partial[2] if best_partial and best_partial[1] == forced else list(spec.required)
        labels = "、".join(_field_label(spec, f) for f in missing)
        return f"指定的来源 {forced}（{spec.label}）在前 {HEADER_SEARCH_ROWS} 行中找不到完整表头，缺少必填列 {labels}"
    if best_partial:
        _, name, missing = best_partial
        spec = config.sources[name]
        labels = "、".join(_field_label(spec, f) for f in missing)
        return f"未识别出数据来源：最接近「{spec.label}」，但缺少必填列 {labels}"
    return "未识别出数据来源：表头与任何来源的列名都不匹配"


def _match_columns(titles: list[str], exact: dict[str, str], loose: dict[str, str], spec: SourceSpec) -> dict[int, str]:
    """Position -> field: a title matches an alias as written, else with its bracketed note removed
    (个人自付(元), 结算日期（年月日）, 证件号码\n(身份证)). A title as written beats a loose one (姓名 over
    姓名（拼音）). Two equal matches of a key or required field are both kept, so that find_header refuses
    the sheet instead of guessing; of any other field, neither is used."""
    found: dict[str, list[tuple[int, int]]] = {}
    for j, title in enumerate(titles):
        if title in exact:
            found.setdefault(exact[title], []).append((2, j))
        elif header_core(title) in loose:
            found.setdefault(loose[header_core(title)], []).append((1, j))
    columns: dict[int, str] = {}
    for fname, matches in found.items():
        rank = max(r for r, _ in matches)
        best = [j for r, j in matches if r == rank]
        if len(best) == 1 or fname in spec.key or fname in spec.required:
            columns.update((j, fname) for j in best)
    return columns


def _duplicates(columns: dict[int, str]) -> dict[str, list[int]]:
    by_field: dict[str, list[int]] = {}
    for j, fname in columns.items():
        by_field.setdefault(fname, []).append(j)
    return {f: js for f, js in by_field.items() if len(js) > 1}


def _field_label(spec: SourceSpec, field_name: str) -> str:
    aliases = spec.fields[field_name].aliases
    return aliases[0] if aliases else field_name


def converter(ftype: str, config: Config) -> Callable[[Any], Any]:
    """The normaliser of a field type (blank cells are handled by the caller)."""
    if ftype == "id":
        return normalize_id
    if ftype == "phone":
        return normalize_phone
    if ftype in ("text", "name"):
        return normalize_text
    if ftype == "date":
        return lambda v: parse_date(v).isoformat()
    if ftype == "period":
        return parse_period
    if ftype == "amount":
        return parse_amount
    if ftype == "grade":
        return parse_grade
    if ftype == "int":
        return _parse_int
    if ftype == "category":
        lookup = config.category_lookup

        def category(v: Any) -> str:
            text = normalize_text(v) or ""
            try:
                return lookup[normalize_header(text)]
            except KeyError:
                raise ValueProblem(f"未知的救助类别「{text}」，可在 rules.yaml 的 categories 中添加别名") from None

        return category
    raise ValueError(ftype)


def _parse_int(v: Any) -> int:
    try:
        number = float(str(v).strip().replace(",", ""))
    except ValueError:
        raise ValueProblem("应为整数") from None
    if not number.is_integer():
        raise ValueProblem("应为整数")
    return int(number)


class _Blank(Exception):
    """A required cell is blank (raised on the fast path, explained on the slow one)."""


_MISS = object()
# Beyond a trillion yuan a float's fen are no longer exact in binary: such amounts take the Decimal path.
MAX_FAST_YUAN = 1e12


def _fast_amount(cell: Any) -> Any:
    """Numeric cells with at most two decimals, exactly, without Decimal; others go the long way."""
    if cell.__class__ is float and -MAX_FAST_YUAN < cell < MAX_FAST_YUAN:
        scaled = cell * 100.0
        fen = round(scaled)
        if -1e-6 < scaled - fen < 1e-6:
            return fen
    elif cell.__class__ is int and -MAX_FAST_YUAN < cell < MAX_FAST_YUAN:
        return cell * 100
    return _MISS


def _fast_text(cell: Any) -> Any:
    """Plain ASCII text needs only stripping (full-width and zero-width characters are not ASCII)."""
    if cell.__class__ is str and cell.isascii():
        text = cell.strip()
        if text:
            return text
    return _MISS


FAST: dict[str, Callable[[Any], Any]] = {"amount": _fast_amount, "text": _fast_text, "name": _fast_text}


def _all_amounts(cells: Sequence[Any]) -> tuple[list[Any], list[int]] | None:
    """Float cells with at most two decimals, in fen, computed with numpy over the whole column;
    and the positions of the other cells (text, blanks, more decimals), left to the memo path.
    None when the column holds no float at all (a CSV column of text amounts).
    """
    import numpy as np  # loaded once, only where a column of numeric amounts appears

    types = set(map(type, cells))
    if float not in types:
        return None
    odd: list[int] = []
    if len(types) > 1:
        odd = list(compress(range(len(cells)), map(not_, map(isinstance, cells, repeat(float)))))
        cells = list(cells)
        for i in odd:
            cells[i] = 0.0
    yuan = np.array(cells, dtype=np.float64)
    if not (np.abs(yuan) < MAX_FAST_YUAN).all():  # also false for inf and nan
        return None
    fen = np.rint(yuan * 100.0)
    # A float with at most two decimals is exactly fen / 100 (division rounds correctly); the
    # others go the long way, which also accepts float noise such as 0.1 + 0.2 (0.30000000000000004).
    exact = fen / 100.0 == yuan
    if not exact.all():
        odd = sorted({*odd, *np.flatnonzero(~exact).tolist()})
    return fen.astype(np.int64).tolist(), odd


def _all_text(cells: Sequence[Any]) -> tuple[list[Any], list[int]] | None:
    """Non-blank ASCII text cells, stripped (see _fast_text); None when any cell is not."""
    try:
        if not all(map(str.isascii, cells)):
            return None
    except TypeError:  # a cell that is not text
        return None
    stripped = list(map(str.strip, cells))
    return None if "" in stripped else (stripped, [])


WHOLE: dict[str, Callable[[Sequence[Any]], tuple[list[Any], list[int]] | None]] = {
    "amount": _all_amounts,
    "text": _all_text,
    "name": _all_text,
}
_BAD = object()
# Converters of many distinct cells at once: (cell, value) for the cells they could do.
BATCH: dict[str, Callable[[list[Any]], Iterable[tuple[Any, Any]]]] = {"id": canonical_ids}


class Column:
    """Converts one field's cells, a column at a time.

    Amounts, and text columns whose values do not repeat (settlement numbers), are
    first tried whole through C-level maps (WHOLE). Otherwise a bounded memo does
    the work: a hit costs one C-level dict lookup (map(memo.get, ...)). Cells still
    missing are converted once per distinct value. Blank cells give 0 (amounts),
    None, or count as bad when the field is required.
    """

    def __init__(self, convert: Callable[[Any], Any], ftype: str, required: bool, negative: bool = False):
        self.convert = convert
        self.fast = FAST.get(ftype)
        self.whole = WHOLE.get(ftype)
        self.batch = BATCH.get(ftype)
        self.always_whole = ftype == "amount"
        self.blank_value = 0 if ftype == "amount" else None
        self.blank_fails = required
        # Amounts below zero are refused unless the field allows them (refunds).
        self.no_negative = ftype == "amount" and not negative
        self.memo: dict[Any, Any] = {} if self.blank_fails else {None: self.blank_value, "": self.blank_value}
        self.memoise = True
        self.looked = 0

    def one(self, cell: Any) -> Any:
        """One cell, raising ValueProblem or _Blank (used to explain a rejected row)."""
        if is_blank(cell):
            if self.blank_fails:
                raise _Blank
            return self.blank_value
        value = self.convert(cell)
        if self.no_negative and value < 0:
            raise ValueProblem(NEGATIVE)
        return value

    def _value(self, cell: Any) -> Any:
        """One cell, or _BAD."""
        if self.fast is not None:
            value = self.fast(cell)
            if value is not _MISS:
                return value
        try:
            return self.one(cell)
        except (ValueProblem, _Blank):
            return _BAD

    def many(self, cells: Sequence[Any], bad: set[int]) -> list[Any]:
        """Converted cells; the positions of cells that cannot be converted are added to bad."""
        values = self._many(cells, bad)
        if self.no_negative:
            for i, value in enumerate(values):
                if value is not None and value < 0:
                    values[i] = None
                    bad.add(i)
        return values

    def _many(self, cells: Sequence[Any], bad: set[int]) -> list[Any]:
        if self.whole is not None and (self.always_whole or not self.memoise):
            got = self.whole(cells)
            if got is not None:
                values, missing = got
                if missing:
                    self._convert(cells, values, missing, bad)
                return values
        values = list(map(self.memo.get, cells, repeat(_MISS, len(cells))))
        if _MISS not in values:
            return values
        self._convert(cells, values, list(compress(range(len(values)), map(is_, values, repeat(_MISS)))), bad)
        self._adapt(len(cells))
        return values

    def _convert(self, cells: Sequence[Any], values: list[Any], missing: list[int], bad: set[int]) -> None:
        """Fill values at the missing positions, converting each distinct cell once."""
        pending = [cells[i] for i in missing]
        if bool in set(map(type, pending)):
            # True == 1 and False == 0 would share a dict slot with a number: one cell at a time.
            found = list(map(self._value, pending))
        else:
            distinct = dict.fromkeys(pending)
            if self.batch is not None:
                distinct.update(self.batch(list(distinct)))
            for cell, value in distinct.items():
                if value is None:
                    distinct[cell] = self._value(cell)
            found = list(map(distinct.__getitem__, pending))
            if self.memoise and len(self.memo) < MEMO_LIMIT:
                if _BAD not in found and set(map(type, distinct)) == {str}:
                    self.memo.update(distinct)
                else:
                    # A number equal to 0 or 1 stays out, so a later True or False cannot hit it.
                    self.memo.update(
                        (c, v) for c, v in distinct.items() if v is not _BAD and (c.__class__ is str or c not in (0, 1))
                    )
        for i, value in zip(missing, found):
            values[i] = value
        if _BAD in found:
            for i in compress(missing, map(is_, found, repeat(_BAD))):
                values[i] = None
                bad.add(i)

    def _adapt(self, looked: int) -> None:
        """A column of mostly unique values (settlement numbers, amounts) gains nothing from a memo."""
        self.looked += looked
        if self.memoise and self.looked >= 20_000 and len(self.memo) > self.looked // 2:
            self.memoise = False
            self.memo = {} if self.blank_fails else {None: self.blank_value, "": self.blank_value}


def is_total_or_footer(row: list[Any]) -> bool:
    cells = [c for c in row if not is_blank(c)]
    if not cells:
        return False
    first = normalize_header(cells[0])
    if first.startswith(TOTAL_MARKERS):
        return True
    return len(cells) <= 2 and first.startswith(FOOTER_MARKERS)


class FileParse:
    """What the sheets of one file share: the natural keys kept so far, per source."""

    def __init__(self, config: Config):
        self.config = config
        self.seen: dict[str, dict[str, int]] = {}
        self.sheet_names: list[str] = []

    def sheet(self, name: str, header: Header) -> SheetParser:
        return SheetParser(self.config, name, header, self.seen.setdefault(header.source, {}), self.sheet_names)


class SheetParser:
    """Normalises the data rows of one sheet whose header has been found."""

    def __init__(self, config: Config, name: str, header: Header, seen: dict[str, int], sheet_names: list[str]):
        """seen: natural key -> where it was first kept, (sheet's place in sheet_names << 32) + row."""
        spec = config.sources[header.source]
        self.spec = spec
        self.name = name
        self.header = header
        self.seen = seen
        self.sheet_names = sheet_names
        self.offset = len(sheet_names) << 32
        sheet_names.append(name)
        self.count = 0
        self.fields = list(spec.fields)
        position = {f: j for j, f in header.columns.items()}
        self.plan: list[tuple[int | None, Column, str]] = []
        for f in self.fields:
            fspec = spec.fields[f]
            j = position.get(f)
            title = header.titles[j] if j is not None else f
            where = f"「{title}」列（{column_letter(header.first_col + j)}列）：" if j is not None else ""
            self.plan.append((j, Column(converter(fspec.type, config), fspec.type, fspec.required, fspec.negative), where))
        self.width = max((j for j, _, _ in self.plan if j is not None), default=-1) + 1
        self.id_columns = [position[f] for f in self.fields if spec.fields[f].type == "id" and f in position]
        # A cell that neither identifies nor classifies the row (an 认定日期 of 'abc') is left blank and
        # reported; the row is kept. Only faults in key, required, ID and category fields reject it.
        self.soft = {i for i, f in enumerate(self.fields) if f in spec.soft}
        self.cut: dict[int, str] = {}  # ID columns Excel cut to 15 digits -> why every row is refused
        self.blanked = 0
        self.key_index = [self.fields.index(k) for k in spec.key]
        self.filled_index = [position[f] for f in spec.filled_when if f in position]
        self.key_label = "+".join(spec.key)

    def parse(self, rows: Iterator[list[Any]], max_rows: int | None = None) -> Iterator[Rows]:
        """Chunks of staged rows and rejects; each chunk carries the count of data rows so far."""
        for batch, numbers in data_batches(rows, self.header, max_rows, self.name):
            yield self.chunk(batch, numbers)

    def chunk(self, batch: list[list[Any]], numbers: list[int]) -> Rows:
        """Normalise a batch column by column; rows that fail go through the slow path."""
        width = self.width
        if min(map(len, batch), default=width) < width:
            batch = [r if len(r) >= width else [*r, *([None] * (width - len(r)))] for r in batch]
        if self.filled_index:
            keep = [i for i, r in enumerate(batch) if not all(is_blank(r[j]) for j in self.filled_index)]
            batch, numbers = [batch[i] for i in keep], [numbers[i] for i in keep]
        n = len(batch)
        if not n:
            return Rows(0, [[] for _ in self.plan], [], [], [], self.count)
        columns = list(zip(*batch))
        if self.count == 0:
            self._find_cut_ids(columns)
        bad: set[int] = set(range(n)) if self.cut else set()
        blanked: set[int] = set()
        values = [[None] * n if j is None else column.many(columns[j], blanked if k in self.soft else bad)
                  for k, (j, column, _) in enumerate(self.plan)]
        name = self.name
        rejects: list[Reject] = []
        for i in sorted(bad):
            row = batch[i]
            if not any(not is_blank(c) for c in row) or is_total_or_footer(row):
                continue
            rejects.append(Reject(name, numbers[i], list(row), self._reasons(row)))
        kept = sorted(blanked - bad)
        # Explaining a row costs a conversion per cell: only the first rows of a sheet-wide pattern are.
        shown = kept[:max(0, BLANKED_SHOWN - self.blanked)]
        self.blanked += len(kept)
        notes = [Reject(name, numbers[i], list(batch[i]), BLANKED + self._reasons(batch[i], soft=True)) for i in shown]
        first_key = values[self.key_index[0]]
        protected = [first_key[i] for i in sorted(bad) if first_key[i] is not None]
        self.count += n - len(bad) + len(rejects)
        chunk = Rows(0, values, self._keys(values), numbers, rejects, self.count, notes, protected, len(kept))
        keep = [True] * n
        for i in bad:
            keep[i] = False
        keys = list(compress(chunk.keys, keep)) if bad else chunk.keys
        seen = self.seen
        if len(set(keys)) == len(keys) and seen.keys().isdisjoint(keys):
            seen.update(zip(keys, map(self.offset.__add__, compress(numbers, keep))))
        else:
            for i, key in enumerate(chunk.keys):
                if not keep[i]:
                    continue
                earlier = seen.get(key)
                if earlier is not None:
                    sheet, first = self.sheet_names[earlier >> 32], earlier & 0xFFFFFFFF
                    reason = f"与工作表「{sheet}」第 {first} 行的自然键（{self.key_label}）重复"
                    rejects.append(Reject(name, numbers[i], list(batch[i]), reason))
                    keep[i] = False
                else:
                    seen[key] = self.offset + numbers[i]
        if not all(keep):
            chunk.keep(keep)
        return chunk

    def _keys(self, values: list[list[Any]]) -> list[str]:
        parts = [["" if v is None else v if v.__class__ is str else str(v) for v in values[i]] for i in self.key_index]
        return parts[0] if len(parts) == 1 else list(map("|".join, zip(*parts)))

    def _find_cut_ids(self, columns: list[tuple[Any, ...]]) -> None:
        """An ID column saved by Excel as numbers keeps 15 significant digits: its 18-digit IDs all
        end in 000, and 1 in 11 of them still passes the check digit as somebody else. Real IDs end
        in 000 about once in a thousand, so a column where half of them do is refused whole."""
        for j in self.id_columns:
            texts = (c.strip() for c in columns[j] if isinstance(c, str))
            ids = [c for c in texts if len(c) == 18 and c[:17].isdigit()]
            zeros = sum(1 for c in ids if c.endswith("000"))
            if len(ids) >= CUT_MIN_IDS and zeros >= CUT_SHARE * len(ids):
                self.cut[j] = (f"该列 {len(ids)} 个身份证号中有 {zeros} 个以 000 结尾：这是 Excel 把号码当数字保存后只留下"
                               f" 15 位有效数字造成的，末三位已丢失，无法还原；整列拒收，请在原系统中把该列设为文本重新导出")

    def _reasons(self, row: list[Any], soft: bool = False) -> str:
        """Why a row was refused (or, soft, which of its cells were left blank)."""
        problems = []
        for k, (j, column, where) in enumerate(self.plan):
            if j is None or soft and k not in self.soft:
                continue
            if j in self.cut:
                problems.append(f"{where}{self.cut[j]}")
                continue
            try:
                column.one(row[j])
            except _Blank:
                problems.append(f"{where}必填项为空")
            except ValueProblem as e:
                problems.append(f"{where}{e.reason}")
        return "；".join(problems)


def data_batches(rows: Iterator[list[Any]], header: Header, max_rows: int | None = None,
                 sheet: str = "") -> Iterator[tuple[list[list[Any]], list[int]]]:
    """The rows below the header in chunks, with their Excel row numbers; empty rows left out.
    More than max_rows rows (empty ones included) is refused: a sheet claiming millions of
    repeated rows costs without end."""
    first = header.row + 2  # Excel number of the first data row
    last = None if max_rows is None else first + max_rows
    while batch := list(islice(rows, CHUNK_ROWS)):
        if last is not None and first + len(batch) > last:
            raise FileProblem(f"工作表「{sheet}」超过 {max_rows:,} 行（rules.yaml 的 limits.rows_per_sheet），该文件未导入")
        numbers = list(range(first, first + len(batch)))
        first += len(batch)
        # Runs of empty rows are common (and a stray far-away cell makes a million of them).
        if not all(map(any, batch)):
            keep = [any(r) or r.count("") + r.count(None) < len(r) for r in batch]
            batch, numbers = list(compress(batch, keep)), list(compress(numbers, keep))
        yield batch, numbers


# The printed pages of relief's own visit workbook (see visit_sheet.py): nothing in them to import.
COVER_SHEET_SUFFIX, FORM_SHEET_SUFFIX = "·户清单", "·走访记录表"
PRINTED_SHEET = "走访清单的打印页（户清单、走访记录表），无需导入；走访结果请填在同一工作簿中以网格命名的录入表里"
PRINTED_TITLES = ("入户走访记录表", "三必访走访户清单")


def _printed_sheet(sheet: Any) -> bool:
    """A printed page of relief's visit workbook, by its sheet name or, renamed, by its title in A1:
    its member table has the roster's columns (身份证号, 姓名, 救助类别) and must not import as one."""
    if sheet.name.endswith((COVER_SHEET_SUFFIX, FORM_SHEET_SUFFIX)):
        return True
    first = next(iter(sheet.rows(stop=1)), [])
    return bool(first) and isinstance(first[0], str) and any(t in first[0] for t in PRINTED_TITLES)


def parse_file(path: Path, config: Config, forced: str | None, raw: bool = False) -> Iterator[SheetStart | Rows | RawRows | SheetEnd]:
    """Every sheet of the file as messages; raises FileProblem when the file cannot be read.

    raw: send the data rows as read (RawRows), for a receiver that normalises them with
    FileParse itself; SheetEnd.rows is then left for it to count.
    """
    state = FileParse(config)
    limits = config.settings.limits
    for index, sheet in enumerate(open_file(path, limits)):
        if sheet.hidden:
            yield SheetStart(index, sheet.name, None, "隐藏工作表，已跳过")
            continue
        if _printed_sheet(sheet):
            yield SheetStart(index, sheet.name, None, PRINTED_SHEET)
            continue
        try:
            header = find_header(sheet.rows(stop=HEADER_SEARCH_ROWS), config, forced, sheet.first_col())
        except FileProblem as e:
            raise FileProblem(f"工作表「{sheet.name}」：{e.reason}") from None
        if isinstance(header, str):
            yield SheetStart(index, sheet.name, None, header)
            continue
        header = replace(header, first_col=sheet.first_col())
        if header.width > limits.cells_per_row:
            raise FileProblem(f"工作表「{sheet.name}」的表头有 {header.width} 列，超过上限 {limits.cells_per_row}"
                              f"（rules.yaml 的 limits.cells_per_row），该文件未导入")
        yield SheetStart(index, sheet.name, header.source, None, header)
        rows = sheet.rows(start=header.row + 1, width=header.width)
        count = 0
        if raw:
            for batch, numbers in data_batches(rows, header, limits.rows_per_sheet, sheet.name):
                yield RawRows(index, batch, numbers)
        else:
            parser = state.sheet(sheet.name, header)
            for chunk in parser.parse(rows, limits.rows_per_sheet):
                chunk.index = index
                yield chunk
            count = parser.count
        sheet.release()
        yield SheetEnd(index, count)
