"""The printable visit workbook (one sheet per grid) that grid workers fill in and return.

Its column titles are also the `visits` source's aliases in rules.yaml, so the
returned workbook imports as visit results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from .checklist import Checklist
from .xlsx import add_list_validation, fill_sheet, print_setup, save_private, set_text, sheet_title

FIXED_COLUMNS = ["序号", "户号", "户主", "住址", "救助类别", "走访原因", "详情", "走访期限", "预警编号", "走访日期"]
TAIL_COLUMNS = ["走访结果", "救助类型或转办部门", "走访人", "备注"]
TITLE_ROWS = 3
WIDTHS = {"序号": 5, "户号": 14, "户主": 8, "住址": 22, "救助类别": 9, "走访原因": 10, "详情": 40, "走访期限": 11,
          "预警编号": 9, "走访日期": 11, "走访结果": 12, "救助类型或转办部门": 14, "走访人": 8, "备注": 20}


def header(checklist: Checklist) -> list[str]:
    return [*FIXED_COLUMNS, *(q.title for q in checklist.questions), *TAIL_COLUMNS]


def write_visit_workbook(path: Path, checklist: Checklist, outcomes: tuple[str, ...]) -> int:
    """Returns the number of household rows written."""
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    titles = header(checklist)
    total = 0
    for gl in checklist.grids or []:
        ws = wb.create_sheet(sheet_title(gl.grid, taken))
        worker = f"网格员：{gl.worker or '（未分派）'}" + (f"　电话：{gl.worker_phone}" if gl.worker_phone else "")
        set_text(ws.cell(row=1, column=1), f"{checklist.community} {gl.grid} 三必访走访清单（截至 {checklist.as_of}）　{worker}")
        ws.cell(row=1, column=1).font = Font(bold=True, size=14)
        prompts = "；".join(f"{q.title}：{q.prompt}" for q in checklist.questions)
        set_text(ws.cell(row=2, column=1), f"五问提示　{prompts}")
        ws.cell(row=2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(titles))
        ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(titles))
        ws.row_dimensions[2].height = 48
        rows = list(_rows(gl, len(checklist.questions)))
        total += fill_sheet(ws, titles, rows, first_row=TITLE_ROWS)
        for j, title in enumerate(titles, start=1):
            ws.column_dimensions[ws.cell(row=TITLE_ROWS, column=j).column_letter].width = WIDTHS.get(title, 16)
        for r in range(TITLE_ROWS + 1, TITLE_ROWS + 1 + len(rows)):
            for c in range(1, len(titles) + 1):
                ws.cell(row=r, column=c).alignment = Alignment(wrap_text=True, vertical="top")
        add_list_validation(ws, titles.index("走访结果") + 1, TITLE_ROWS + 1, TITLE_ROWS + max(len(rows), 1), outcomes)
        print_setup(ws, TITLE_ROWS, len(titles))
    if not wb.sheetnames:
        wb.create_sheet("无待走访")
    save_private(wb, path)
    return total


def _rows(gl: Any, questions: int) -> Any:
    for i, hh in enumerate(gl.households, start=1):
        kinds = "、".join(dict.fromkeys(r.kind for r in hh.reasons))
        details = "\n".join(r.detail for r in hh.reasons)
        alert_ids = "、".join(str(r.alert_id) for r in hh.reasons if r.alert_id)
        yield [i, hh.hukou_no, hh.head_name, hh.address, hh.category, kinds, details, hh.due_on, alert_ids, None,
               *([None] * questions), None, None, None, None]
