"""Reading departmental exports: xlsx/xls/ods through calamine, CSV in UTF-8 or GBK.

The format is decided by the file's bytes, not its name, so a CSV renamed .xlsx
or a password-protected workbook is reported plainly instead of crashing.

xlsx sheets are streamed row by row (python-calamine-plus, a fork of python-calamine
that adds streaming): memory stays flat however long the sheet, and the writer starts
on the first chunks while the rest are still being read. The fork is optional: where
it is not installed, or fails on a sheet, the sheet is loaded whole with python-calamine
(from where the stream stopped), as legacy xls, ods and xlsb always are.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import islice
from pathlib import Path
from typing import Any

import olefile
import python_calamine

try:
    import python_calamine_plus
except ImportError:  # optional (see the module docstring)
    python_calamine_plus = None

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods", ".et"}
TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
# What a folder import reads; anything else in the folder is listed as skipped (.txt too: in a
# folder it is usually a note, and only a file named on the command line is read as text).
FOLDER_SUFFIXES = SPREADSHEET_SUFFIXES | {".csv", ".tsv"}
# Web systems save an HTML table, or tab-separated text, under an .xls name (Excel opens both).
WEB_EXPORT_SUFFIXES = {".xls", ".et"}
# Zip bombs: the sizes an archive declares are checked first, then what it really inflates to, against
# rules.yaml limits. A real 1,048,576-row sheet unpacks to about 0.5 GB at a ratio near 15; a bomb
# claims far more, packs far tighter, or lies. (The parse worker's memory cap is a further line.)
MAX_RATIO = 100
RATIO_MIN_SIZE = 8 << 20
BIFF_DIMENSIONS = 0x0200
BIFF8_MAX_ROWS, BIFF8_MAX_COLS = 65_536, 256


class FileProblem(Exception):
    """The whole file cannot be read; .reason is one Chinese sentence."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Sheet:
    """One sheet of a file: rows from Excel row 1, read lazily."""

    def __init__(self, name: str, hidden: bool):
        self.name = name
        self.hidden = hidden

    def rows(self, start: int = 0, stop: int | None = None, width: int | None = None) -> Iterator[list[Any]]:
        """Rows start..stop-1 (0-based, 0 = Excel row 1); with width, cells beyond it are dropped.

        A row may be shorter than width. The width cut is what keeps a stray cell typed
        far to the right (column XFD) from making every row 16,384 cells long.
        """
        raise NotImplementedError

    def first_col(self) -> int:
        """0-based column of the first cell of each row."""
        return 0

    def release(self) -> None:
        """Free the sheet's cells once it has been read (a workbook may hold several big sheets)."""


def column_letter(index: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 27 -> AB)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def open_file(path: Path, limits: Any = None) -> list[Sheet]:
    """The file's sheets; limits (rules.yaml limits) bound what a workbook may unpack to."""
    from .config import LimitsSpec

    limits = limits or LimitsSpec()
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError:
        raise FileProblem("无法读取文件（不存在或没有读取权限）") from None
    if not head:
        raise FileProblem("文件为空")
    suffix = path.suffix.lower()
    if head.startswith(ZIP_MAGIC):
        names = _check_zip(path, limits)
        if "xl/workbook.xml" in names:
            return _calamine(path, "xlsx", streamed=python_calamine_plus is not None, limits=limits)
        return _calamine(path, "xlsx" if suffix != ".ods" else "ods", limits=limits)
    if head.startswith(OLE_MAGIC):
        _check_ole(path)
        return _calamine(path, "xls", limits=limits)
    if suffix in WEB_EXPORT_SUFFIXES and _looks_like_text(path):
        text = decode_text(path.read_bytes())
        if _looks_like_html(text):
            return _html_sheets(path.stem, text)
        return [_text_sheet(path.stem, text)]
    if suffix in SPREADSHEET_SUFFIXES:
        if _looks_like_text(path):
            raise FileProblem(f"扩展名是 {suffix}，但内容是文本（可能是改了扩展名的 CSV），请把扩展名改为 .csv 后导入")
        raise FileProblem(f"扩展名是 {suffix}，但内容不是 Excel 工作簿（文件损坏或格式不符）")
    if suffix in TEXT_SUFFIXES:
        return [_csv_sheet(path)]
    raise FileProblem(f"不支持的文件类型 {suffix or '（无扩展名）'}，请使用 .xlsx、.xls 或 .csv")


def _check_zip(path: Path, limits: Any) -> set[str]:
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
    except Exception:  # zipfile raises many types for damaged archives (BadZipFile, NotImplementedError, ...)
        raise FileProblem("文件已损坏或不完整，无法作为 Excel 工作簿读取") from None
    if "[Content_Types].xml" not in names and "mimetype" not in names:
        raise FileProblem("文件缺少 [Content_Types].xml，不是有效的 Excel 工作簿")
    part_limit, total_limit = limits.part_mb << 20, limits.total_mb << 20
    # What the archive declares first (cheap), then what it really inflates to.
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > total_limit or any(i.file_size > part_limit for i in infos):
        raise FileProblem(_too_big(limits))
    if total > RATIO_MIN_SIZE and total / packed > MAX_RATIO:
        raise FileProblem(f"工作簿压缩比超过 {MAX_RATIO} 倍，疑似压缩炸弹，已拒绝读取")
    # Counted in the XML first, before any reader opens it (a 500 KB workbook declaring 100,000
    # sheets once ran for over ten minutes); _calamine checks the exact sheet list again, since this
    # count can be fooled by odd spacing.
    sheets = _count_sheets(path, "xl/workbook.xml") if "xl/workbook.xml" in names else 0
    if sheets > limits.sheets_per_workbook:
        raise FileProblem(f"工作簿有 {sheets} 张工作表，超过上限 {limits.sheets_per_workbook}（rules.yaml 的 limits），已拒绝读取")
    if "content.xml" in names and "mimetype" in names:
        _check_ods(path, limits)
    inflated = 0
    with path.open("rb") as f:
        for info in infos:
            size = _inflated_size(f, info, min(part_limit, total_limit - inflated) + 1)
            inflated += size
            if size > part_limit or inflated > total_limit:
                raise FileProblem(_too_big(limits))
    return names


def _too_big(limits: Any) -> str:
    return (f"工作簿解压后过大（单个部件超过 {limits.part_mb} MB 或合计超过 {limits.total_mb} MB），"
            f"疑似压缩炸弹，已拒绝读取")


def _inflated_size(f: Any, info: zipfile.ZipInfo, limit: int) -> int:
    """How many bytes the part really inflates to (up to limit): the compressed data is fed to zlib
    as a reader would, whatever sizes the headers declare."""
    f.seek(info.header_offset)
    local = f.read(30)
    if len(local) < 30 or local[:4] != ZIP_MAGIC:
        raise FileProblem("文件已损坏或不完整，无法作为 Excel 工作簿读取")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    f.seek(info.header_offset + 30 + name_len + extra_len)
    if info.compress_type == zipfile.ZIP_STORED:
        return info.compress_size
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise FileProblem("工作簿使用了不支持的压缩方式，无法读取")
    inflate = zlib.decompressobj(-15)
    remaining, size = info.compress_size, 0
    while remaining > 0 and size < limit:
        chunk = f.read(min(1 << 20, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        try:
            data = inflate.decompress(chunk, 1 << 24)
            size += len(data)
            while inflate.unconsumed_tail and size < limit:
                data = inflate.decompress(inflate.unconsumed_tail, 1 << 24)
                size += len(data)
        except zlib.error:
            raise FileProblem("文件已损坏或不完整，无法作为 Excel 工作簿读取") from None
    return size


def _check_ods(path: Path, limits: Any) -> None:
    """An ODS row or cell can say it repeats a million times; python-calamine would lay every copy
    out in memory. Repeats of rows and cells that hold something are added up first."""
    from defusedxml.ElementTree import iterparse

    table = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
    rows, sheets = 0, 0
    try:
        with zipfile.ZipFile(path) as z, z.open("content.xml") as f:
            cells = 0
            for event, element in iterparse(f, events=("start", "end")):
                tag = element.tag
                if event == "start":
                    if tag == table + "table":
                        sheets, rows = sheets + 1, 0
                        if sheets > limits.sheets_per_workbook:
                            raise FileProblem(f"工作簿的工作表超过上限 {limits.sheets_per_workbook}（rules.yaml 的 limits），已拒绝读取")
                    elif tag == table + "table-row":
                        cells = 0
                    continue
                office = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
                if tag == table + "table-cell" and (element.text or len(element) or element.get(office + "value-type")):
                    cells += int(element.get(table + "number-columns-repeated", 1))
                    if cells > limits.cells_per_row:
                        raise FileProblem(f"某一行有 {cells:,} 个单元格，超过上限 {limits.cells_per_row}（rules.yaml 的 limits），已拒绝读取")
                elif tag == table + "table-row":
                    if cells:
                        rows += int(element.get(table + "number-rows-repeated", 1))
                        if rows > limits.rows_per_sheet:
                            raise FileProblem(f"工作表超过 {limits.rows_per_sheet:,} 行（rules.yaml 的 limits），已拒绝读取")
                    element.clear()
    except FileProblem:
        raise
    except Exception:  # damaged XML, or defusedxml refusing entity tricks
        raise FileProblem("文件已损坏或不完整，无法作为 ods 工作簿读取") from None


def _count_sheets(path: Path, part: str) -> int:
    """<sheet …/> entries of the workbook part (a few KB in real files; read up to 64 MB)."""
    with zipfile.ZipFile(path) as z, z.open(part) as f:
        data = f.read(64 << 20)
    return data.count(b"<sheet ") + data.count(b"<x:sheet ")


def _check_ole(path: Path) -> None:
    """Validate the compound-file directory before calamine reads it.

    A damaged directory can declare streams of gigabytes, which calamine would try
    to allocate; olefile reads the directory defensively, so only a sane legacy
    workbook is passed on.
    """
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptedPackage") or ole.exists("EncryptionInfo"):
                raise FileProblem("工作簿设置了打开密码（已加密），请在 Excel 中取消密码后另存再导入")
            stream = next((s for s in ("Workbook", "Book") if ole.exists(s)), None)
            size = ole.get_size(stream) if stream else None
            stream_data = ole.openstream(stream).read() if stream and size is not None and size <= path.stat().st_size else b""
    except FileProblem:
        raise
    except Exception:  # olefile raises several error types for broken files
        raise FileProblem("文件已损坏或不完整，无法作为 xls 工作簿读取") from None
    if size is None:
        raise FileProblem("文件已损坏，或不是 Excel 工作簿（找不到工作簿数据）")
    if size > path.stat().st_size:
        raise FileProblem("文件已损坏或不完整，无法作为 xls 工作簿读取")
    for rows, cols in _biff_dimensions(stream_data):
        if rows > BIFF8_MAX_ROWS or cols > BIFF8_MAX_COLS:
            raise FileProblem(f"工作表的数据范围异常（{rows} 行 × {cols} 列），文件已损坏，已拒绝读取")


def _biff_dimensions(data: bytes) -> list[tuple[int, int]]:
    """(rows, columns) declared by every DIMENSIONS record, walking the BIFF record stream."""
    out = []
    pos, end = 0, len(data)
    while pos + 4 <= end:
        rtype, length = struct.unpack_from("<HH", data, pos)
        if rtype == BIFF_DIMENSIONS and length >= 14 and pos + 4 + 14 <= end:
            _first_row, last_row, _first_col, last_col = struct.unpack_from("<IIHH", data, pos + 4)
            out.append((last_row, last_col))
        pos += 4 + length
    return out


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as f:
        sample = f.read(4096)
    if b"\x00" in sample:
        return False
    for enc in ("utf-8-sig", "gb18030"):
        try:
            sample.decode(enc)
            return True
        except UnicodeDecodeError:
            continue
    return False


def _calamine(path: Path, kind: str, streamed: bool = False, limits: Any = None) -> list[Sheet]:
    """The workbook's worksheets: streamed (xlsx/xlsm) or loaded whole on first read."""
    lib = python_calamine_plus if streamed else python_calamine
    try:
        wb = lib.CalamineWorkbook.from_path(str(path))
        metas = wb.sheets_metadata
    except BaseException as e:  # calamine raises several error types, and pyo3 panics are BaseException
        _reraise_interrupts(e)
        if streamed:  # the fork failed to open it: python-calamine may not
            return _calamine(path, kind, limits=limits)
        raise FileProblem(f"文件已损坏或不完整，无法作为 {kind} 工作簿读取") from None
    if limits is not None and len(metas) > limits.sheets_per_workbook:
        raise FileProblem(f"工作簿有 {len(metas)} 张工作表，超过上限 {limits.sheets_per_workbook}（rules.yaml 的 limits），已拒绝读取")
    sheets: list[Sheet] = [
        _StreamedSheet(wb, meta.name, meta.visible != lib.SheetVisibleEnum.Visible, path) if streamed
        else _CalamineSheet(wb, meta.name, meta.visible != lib.SheetVisibleEnum.Visible)
        for meta in metas
        if meta.typ == lib.SheetTypeEnum.WorkSheet
    ]
    if not sheets:
        raise FileProblem("工作簿中没有工作表")
    return sheets


class _CalamineSheet(Sheet):
    def __init__(self, wb: python_calamine.CalamineWorkbook, name: str, hidden: bool):
        super().__init__(name, hidden)
        self._wb = wb
        self._sheet: python_calamine.CalamineSheet | None = None

    def _load(self) -> python_calamine.CalamineSheet:
        if self._sheet is None:
            try:
                self._sheet = self._wb.get_sheet_by_name(self.name)
            except BaseException as e:
                _reraise_interrupts(e)
                raise FileProblem(f"工作表「{self.name}」已损坏，无法读取") from None
        return self._sheet

    def first_col(self) -> int:
        start = self._load().start
        return start[1] if start else 0

    def release(self) -> None:
        self._sheet = None

    def rows(self, start: int = 0, stop: int | None = None, width: int | None = None) -> Iterator[list[Any]]:
        sheet = self._load()
        try:
            yield from _cut(islice(sheet.iter_rows(), start, stop), width)
        except BaseException as e:
            _reraise_interrupts(e)
            raise FileProblem(f"工作表「{self.name}」已损坏，无法读取") from None


def _cut(rows: Iterator[list[Any]], width: int | None) -> Iterator[list[Any]]:
    if width is None:
        return rows
    return (row if len(row) <= width else row[:width] for row in rows)


class _StreamedSheet(Sheet):
    """Rows and columns from A1; only one stream of a workbook can be open at a time."""

    def __init__(self, wb: Any, name: str, hidden: bool, path: Path):
        super().__init__(name, hidden)
        self._wb = wb
        self._path = path

    def rows(self, start: int = 0, stop: int | None = None, width: int | None = None) -> Iterator[list[Any]]:
        if stop is not None and stop <= start:
            return
        done = 0
        try:
            stream = self._wb.stream_sheet_by_name(
                self.name,
                min_row=start,
                max_row=None if stop is None else stop - 1,
                max_col=None if width is None else width - 1,
            )
            for row in stream:
                yield row
                done += 1
            return
        except BaseException as e:
            _reraise_interrupts(e)
        # The fork failed: python-calamine reads the rest of the sheet whole (or finds it damaged).
        yield from self._loaded_from_a1(start + done, stop, width)

    def _loaded_from_a1(self, start: int, stop: int | None, width: int | None) -> Iterator[list[Any]]:
        try:
            wb = python_calamine.CalamineWorkbook.from_path(str(self._path))
        except BaseException as e:
            _reraise_interrupts(e)
            raise FileProblem(f"工作表「{self.name}」已损坏，无法读取") from None
        loaded = _CalamineSheet(wb, self.name, self.hidden)
        pad = [""] * loaded.first_col()  # loaded rows begin at the sheet's first column, streamed ones at A
        rows = (pad + row for row in loaded.rows(start, stop))
        yield from _cut(rows, width)


class _CsvSheet(Sheet):
    def __init__(self, name: str, text: str, dialect: Any):
        super().__init__(name, hidden=False)
        self._text = text
        self._dialect = dialect

    def rows(self, start: int = 0, stop: int | None = None, width: int | None = None) -> Iterator[list[Any]]:
        try:
            rows = islice(csv.reader(io.StringIO(self._text), self._dialect), start, stop)
            if '="' in self._text:  # only then is a cell worth looking at (a big CSV has millions)
                rows = ([_unwrap(c) for c in row] for row in rows)
            yield from _cut(rows, width)
        except csv.Error:
            raise FileProblem("CSV 格式错误（引号不成对或字段中含非法字符）") from None


def _unwrap(cell: str) -> str:
    """="340702…": the usual trick to keep a long number as text in a CSV; the text is inside."""
    if cell.startswith('="') and cell.endswith('"') and len(cell) >= 3:
        return cell[2:-1].replace('""', '"')
    return cell


def _looks_like_html(text: str) -> bool:
    head = text[:4096].lstrip().lower()
    return head.startswith("<") and ("<table" in text[:1 << 20].lower())


class _ListSheet(Sheet):
    def __init__(self, name: str, rows: list[list[Any]]):
        super().__init__(name, hidden=False)
        self._rows = rows

    def rows(self, start: int = 0, stop: int | None = None, width: int | None = None) -> Iterator[list[Any]]:
        return _cut(iter(self._rows[start:stop]), width)


def _html_sheets(name: str, text: str) -> list[Sheet]:
    """Each table of an HTML page as a sheet (the first keeps the file's name)."""
    parser = _TableParser()
    try:
        parser.feed(text)
        parser.close()
    except FileProblem:
        raise
    except Exception:  # html.parser is lenient; anything it still raises means a damaged page
        raise FileProblem("HTML 表格格式错误，无法读取") from None
    tables = [t for t in parser.tables if any(any(c.strip() for c in row) for row in t)]
    if not tables:
        raise FileProblem("扩展名是 .xls，内容是网页，但其中没有表格")
    return [_ListSheet(name if i == 0 else f"{name}（表{i + 1}）", t) for i, t in enumerate(tables)]


MAX_HTML_SPAN = 100
MAX_HTML_CELLS = 20_000_000  # laid-out cells of all tables of one page


class _TableParser(HTMLParser):
    """Rows of cells of every <table>, colspan and rowspan laid out as Excel shows them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._open: list[tuple[list[list[str]], dict[tuple[int, int], str]]] = []  # tables being read, innermost last
        self._cell: list[str] | None = None
        self._span = (1, 1)
        self._cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._open.append(([], {}))
        elif not self._open:
            return
        elif tag == "tr":
            self._open[-1][0].append([])
        elif tag in ("td", "th"):
            if not self._open[-1][0]:
                self._open[-1][0].append([])
            values = dict(attrs)
            self._span = (_span(values.get("rowspan")), _span(values.get("colspan")))
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._open:
            rows, covered = self._open[-1]
            r, row = len(rows) - 1, rows[-1]
            while (r, len(row)) in covered:  # cells spanned from rows above come first
                row.append(covered.pop((r, len(row))))
            rowspan, colspan = self._span
            row.append(" ".join("".join(self._cell).split(" ")).strip())
            for c in range(len(row), len(row) + colspan - 1):
                row.append("")
            for dr in range(1, rowspan):
                for dc in range(colspan):
                    covered[(r + dr, len(row) - colspan + dc)] = ""
            self._cells += rowspan * colspan
            if self._cells > MAX_HTML_CELLS:
                raise FileProblem("网页表格的单元格过多（合并单元格展开后超过 2000 万个），已拒绝读取")
            self._cell = None
        elif tag == "tr" and self._open:
            rows, covered = self._open[-1]
            r, row = len(rows) - 1, rows[-1] if rows else []
            while (r, len(row)) in covered:
                row.append(covered.pop((r, len(row))))
        elif tag == "table" and self._open:
            self.tables.append(self._open.pop()[0])


def _span(value: str | None) -> int:
    """A merged cell of a web export spans a few rows or columns; more is capped (a hostile page
    could ask for a million cells per tag)."""
    try:
        return max(1, min(int(value or 1), MAX_HTML_SPAN))
    except ValueError:
        return 1


def _reraise_interrupts(e: BaseException) -> None:
    if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise e


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) first; GB18030 (a superset of GBK) otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise FileProblem("无法识别文本编码（既不是 UTF-8 也不是 GBK/GB18030）") from None


def _csv_sheet(path: Path) -> Sheet:
    return _text_sheet(path.stem, decode_text(path.read_bytes()))


def _text_sheet(name: str, text: str) -> Sheet:
    if not text.strip():
        raise FileProblem("文件为空")
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel

    return _CsvSheet(name, text, dialect)
