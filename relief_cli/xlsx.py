"""Writing workbooks: owner-only files, and no cell is ever a formula."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from .privacy import SPILL_PREFIX, private_open, process_alive, write_problem

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
INVALID_TITLE_CHARS = set('[]:*?/\\')


@dataclass
class SheetSpec:
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: dict[int, float] = field(default_factory=dict)


def sheet_title(name: str, taken: set[str]) -> str:
    """Excel sheet names: at most 31 characters, no []:*?/\\ and no control characters (a name with
    one makes a workbook Excel refuses to open), unique in the workbook."""
    name = "".join(ch for ch in name if ch.isprintable())
    clean = "".join("_" if ch in INVALID_TITLE_CHARS else ch for ch in name).strip("'") or "Sheet"
    title = clean[:31]
    n = 2
    while title in taken:
        suffix = f"({n})"
        title = clean[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(title)
    return title


def set_text(cell: Cell, value: Any) -> None:
    """Assign a value; text is always stored as text, even when it starts with '='.

    Control characters that XML cannot hold (they appear in damaged exports) are dropped.
    """
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
    else:
        cell.value = value


def fill_sheet(ws: Any, header: Sequence[str], rows: Iterable[Sequence[Any]], first_row: int = 1) -> int:
    """Header plus rows from first_row on; returns the number of data rows written."""
    for j, title in enumerate(header, start=1):
        cell = ws.cell(row=first_row, column=j)
        set_text(cell, title)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    count = 0
    for i, row in enumerate(rows, start=first_row + 1):
        for j, value in enumerate(row, start=1):
            set_text(ws.cell(row=i, column=j), value)
        count += 1
    _widths_for(ws, header)
    ws.freeze_panes = ws.cell(row=first_row + 1, column=1)
    return count


def _widths_for(ws: Any, header: Sequence[str]) -> None:
    """Columns wide enough for their titles (CJK characters are two wide), within reason."""
    for j, title in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(j)].width = max(10, min(40, len(str(title)) * 2 + 2))


def save_private(wb: Workbook, path: Path) -> None:
    replace_private(path, wb.save)


def replace_private(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """An owner-only file written beside the target and renamed over it: a failure halfway (a full
    disk, a share gone, the target open in Excel) leaves an existing file as it was."""
    partial = path.with_name(f".{path.name}.relief-{os.getpid()}.tmp")
    _remove_stale_partials(path)
    try:
        with private_open(partial) as f:
            write(f)
        os.replace(partial, path)
    except OSError as e:
        raise write_problem(path, e) from None
    finally:
        try:
            partial.unlink(missing_ok=True)
        except OSError:  # its folder could not be made in the first place
            pass


def _remove_stale_partials(path: Path) -> None:
    """Half-written workbooks (.name.relief-PID.tmp) left in the folder by a relief killed while writing."""
    try:
        siblings = list(path.parent.glob(".*.relief-*.tmp"))
    except OSError:
        return
    for sibling in siblings:
        pid = sibling.name[:-4].rsplit(".relief-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            sibling.unlink(missing_ok=True)


def write_workbook(path: Path, sheets: Sequence[SheetSpec]) -> None:
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    for spec in sheets:
        ws = wb.create_sheet(sheet_title(spec.title, taken))
        fill_sheet(ws, spec.header, spec.rows)
        for col, width in spec.widths.items():
            ws.column_dimensions[get_column_letter(col)].width = width
    if not wb.sheetnames:
        wb.create_sheet("空")
    save_private(wb, path)


EXCEL_MAX_ROWS = 1_048_576


def write_rows_workbook(path: Path, sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> None:
    """A plain workbook streamed to disk (openpyxl write-only), for rows that may be millions: each
    sheet (title, header, rows) continues on further sheets past Excel's row limit. Text is always
    text, never a formula; characters XML cannot hold are dropped."""
    import tempfile

    # openpyxl keeps the rows of a write-only sheet in temporary files until it saves: put them in a
    # folder named like the import spills, so that a killed run's copies are removed at the next import.
    scratch = tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-")
    previous, tempfile.tempdir = tempfile.tempdir, scratch
    try:
        _write_rows(path, sheets)
    finally:
        tempfile.tempdir = previous
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def _write_rows(path: Path, sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> None:
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    taken: set[str] = set()

    def cell(ws: Any, value: Any, bold: bool = False) -> Any:
        c = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value)
        if isinstance(value, str):
            c.data_type = "s"
        if bold:
            c.font = HEADER_FONT
        return c

    def start(title: str, header: Sequence[str]) -> Any:
        """A new sheet with its header (bold, frozen, columns sized as in fill_sheet)."""
        ws = wb.create_sheet(sheet_title(title, taken))
        _widths_for(ws, header)
        ws.freeze_panes = "A2"
        ws.append([cell(ws, h, bold=True) for h in header])
        return ws

    for title, header, rows in sheets:
        part, ws, count = 1, None, EXCEL_MAX_ROWS
        for row in rows:
            if count >= EXCEL_MAX_ROWS:
                ws = start(title if part == 1 else f"{title}（续{part - 1}）", header)
                part, count = part + 1, 1
            ws.append([cell(ws, v) for v in row])
            count += 1
        if ws is None:
            start(title, header)
    if not taken:
        wb.create_sheet("空")
    save_private(wb, path)


def add_list_validation(ws: Any, column: int, first_row: int, last_row: int, choices: Sequence[str]) -> None:
    """A drop-down of fixed choices on one column (Excel's list validation)."""
    from openpyxl.worksheet.datavalidation import DataValidation

    formula = '"' + ",".join(choices) + '"'
    dv = DataValidation(type="list", formula1=formula, allow_blank=True, showDropDown=False)
    dv.error = "请从下拉列表中选择"
    dv.errorTitle = "走访结果"
    dv.prompt = "请选择走访结果"
    ws.add_data_validation(dv)
    letter = get_column_letter(column)
    dv.add(f"{letter}{first_row}:{letter}{max(first_row, last_row)}")


def print_setup(ws: Any, header_row: int, columns: int) -> None:
    """A4 landscape, fitted to the page width, header rows repeated on every printed page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{header_row}"
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.print_area = f"A1:{get_column_letter(columns)}{ws.max_row}"
