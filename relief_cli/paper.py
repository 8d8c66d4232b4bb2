"""Printed pages: A4 geometry, fonts, and how much room a text needs, for workbooks made to be printed.

Excel, WPS and LibreOffice each lay a sheet out for print themselves; they agree when
nothing is left to them: every column width and row height is set here, rows never
rely on automatic height, page breaks are explicit, no sheet is scaled, and the font
is named. Heights are estimated generously (a CJK font's line is about 1.45 em in
LibreOffice's Noto fallback, less in SimSun), so a page planned here never spills
onto a second one in any of the three.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from .xlsx import set_text

FONT_NAME = "宋体"  # on every Chinese Windows and in WPS; LibreOffice elsewhere falls back to a CJK font
BODY_PT = 10.5  # 五号
SMALL_PT = 10.0  # the least anything on paper may be
TITLE_PT = 16.0
LINE_FACTOR = 1.4  # line height per point of font size, with room for the largest fallback font
CELL_PAD_PT = 5.0  # vertical room a cell keeps above and below its text

A4_PORTRAIT = (595.3, 841.9)
A4_LANDSCAPE = (841.9, 595.3)
MARGIN_IN = {"left": 0.5, "right": 0.5, "top": 0.4, "bottom": 0.55, "header": 0.2, "footer": 0.2}
# Room kept free on each page beyond the margins, against rounding in the three programs.
SAFETY_PT = 16.0

THIN = Side(style="thin", color="000000")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def printable(landscape: bool = False) -> tuple[float, float]:
    """Width and height (points) inside the margins, less the safety room on the height."""
    width, height = A4_LANDSCAPE if landscape else A4_PORTRAIT
    inner_w = width - (MARGIN_IN["left"] + MARGIN_IN["right"]) * 72
    inner_h = height - (MARGIN_IN["top"] + MARGIN_IN["bottom"]) * 72 - SAFETY_PT
    return inner_w, inner_h


# A column width is counted in digits of the workbook's default font (Calibri 11): Excel takes a
# digit as 7 px, LibreOffice (with Carlito, Calibri's metric twin) as about 7.45 px. Columns are
# sized so that the wider reading fits the page, and text is measured in the narrower one.
DIGIT_PX_WIDE, DIGIT_PX_NARROW = 7.45, 7.0
NARROW = DIGIT_PX_NARROW / DIGIT_PX_WIDE


def column_width(points: float) -> float:
    """Excel's column width for a column at most `points` wide in any of the programs."""
    return round(points / 0.75 / DIGIT_PX_WIDE, 2)


def text_units(text: str) -> float:
    """Width of a line in ems: CJK and full-width characters one, others a little over half (digits
    are 0.5 em in SimSun, about 0.55 in the Noto fallback)."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.56 for ch in text)


def line_count(text: str | None, width_pt: float, size: float = BODY_PT) -> int:
    """Lines a wrapped text takes in a cell of the given width."""
    if not text:
        return 1
    room = max(width_pt * NARROW - 6, size) / size  # ems per line, less the cell's side padding
    return sum(max(1, math.ceil(text_units(part) / room)) for part in str(text).split("\n"))


def row_height(lines: int, size: float = BODY_PT) -> float:
    return round(lines * size * LINE_FACTOR + CELL_PAD_PT, 1)


def set_columns(ws: Any, widths_pt: list[float]) -> None:
    for j, pt in enumerate(widths_pt, start=1):
        ws.column_dimensions[get_column_letter(j)].width = column_width(pt)


def page_setup(ws: Any, *, landscape: bool, footer_left: str, title_rows: int | None = None) -> None:
    """A4 at 100 %, never scaled (a scaled page shrinks the text below what can be read), margins as
    planned, page numbers 第 N 页 共 M 页 of what is printed at once, and the footer's own text."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.scale = 100
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    for side, inches in MARGIN_IN.items():
        setattr(ws.page_margins, side, inches)
    ws.print_options.horizontalCentered = True
    font = f'&"{FONT_NAME},Regular"&{int(SMALL_PT)}'
    ws.oddFooter.left.text = f"{font}{_footer_text(footer_left)}"
    ws.oddFooter.right.text = f"{font}第 &P 页 共 &N 页"
    ws.evenFooter.left.text, ws.evenFooter.right.text = ws.oddFooter.left.text, ws.oddFooter.right.text
    if title_rows:
        ws.print_title_rows = f"1:{title_rows}"


def _footer_text(text: str) -> str:
    """Footer text is a little language of its own: & starts a code, so a literal & is doubled."""
    text = "".join(ch for ch in text if ch.isprintable()).replace("\u3000", "  ")  # LibreOffice drops 　 here
    return text.replace("&", "&&")


def break_after(ws: Any, row: int) -> None:
    from openpyxl.worksheet.pagebreak import Break

    ws.row_breaks.append(Break(id=row))


def print_area(ws: Any, columns: int, last_row: int) -> None:
    ws.print_area = f"A1:{get_column_letter(columns)}{max(last_row, 1)}"


def put(ws: Any, row: int, col: int, value: Any, *, size: float = BODY_PT, bold: bool = False, span: int = 1,
        align: str = "left", border: bool = True, fill: PatternFill | None = None, vertical: str = "center") -> Any:
    """One cell (merged over `span` columns) in the named font, wrapped, boxed; text stays text."""
    cell = ws.cell(row=row, column=col)
    set_text(cell, value)
    colour = fill.fgColor.rgb if fill is not None else None
    _style(cell, (size, bold, align, vertical, border, colour), lambda c: _dress(c, size, bold, align, vertical, border, fill))
    if span > 1:
        _merge(ws, row, col, span, lambda c: _style(c, ("span", border, colour),
                                                     lambda c: _dress(c, None, False, None, None, border, fill)))
    return cell


def _merge(ws: Any, row: int, col: int, span: int, dress: Any) -> None:
    """ws.merge_cells without its restyling of the range's edges (which looks every border up by hash:
    most of the time of a city's checklists); the covered cells get the box and fill themselves.
    Done as openpyxl's own Worksheet._clean_merge_range does it."""
    from openpyxl.cell.cell import MergedCell
    from openpyxl.worksheet.merge import MergedCellRange

    ws.merged_cells.add(MergedCellRange(ws, f"{get_column_letter(col)}{row}:{get_column_letter(col + span - 1)}{row}"))
    for c in range(col + 1, col + span):
        covered = MergedCell(ws, row=row, column=c)
        ws._cells[row, c] = covered
        dress(covered)


def _style(cell: Any, key: tuple[Any, ...], dress: Any) -> None:
    """Give the cell a style already made once in this workbook: openpyxl looks every style object
    up by its hash, which costs more than writing the cell (a city's checklists: most of the time)."""
    from copy import copy

    made = cell.parent.parent.__dict__.setdefault("_relief_styles", {})
    if key in made:
        cell._style = copy(made[key])
    else:
        dress(cell)
        made[key] = copy(cell._style)


def _dress(cell: Any, size: float | None, bold: bool, align: str | None, vertical: str | None, border: bool,
           fill: PatternFill | None) -> None:
    if size is not None:
        cell.font = Font(name=FONT_NAME, size=size, bold=bold)
        cell.alignment = Alignment(horizontal=align, vertical=vertical, wrap_text=True)
    if border:
        cell.border = BOX
    if fill is not None:
        cell.fill = fill
