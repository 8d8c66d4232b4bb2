"""The overdue workbook: one sheet per town (乡镇/街道), each fitting the width of A4 landscape
at full size, to be sent down to the towns.

Masked as every listing is; with --show-pii a column gives the 户号 and address a worker
needs to go to the door.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import PatternFill

from . import paper
from .overdue import UNKNOWN, OverdueResult
from .xlsx import save_private, set_text, sheet_title

LATE = "超期\n工作日"
PERSON = "姓名 身份证号\n户号 住址"
# (title, width in points); each set is 770 points, the printable width of A4 landscape.
MASKED = [("编号", 36), ("社区 / 网格", 110), ("网格员", 50), ("规则", 100), ("姓名", 44), ("身份证号", 120),
          ("走访期限", 64), (LATE, 44), ("依据", 202)]
WITH_PII = [("编号", 36), ("社区 / 网格", 96), ("网格员", 48), ("规则", 90), (PERSON, 190), ("走访期限", 64), (LATE, 44),
            ("依据", 202)]
TITLE_ROWS = 2


def write_overdue_xlsx(path: Path, result: OverdueResult, show_pii: bool = False) -> None:
    save_private(build_overdue_workbook(result, show_pii), path)


def build_overdue_workbook(result: OverdueResult, show_pii: bool = False) -> Workbook:
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    towns: dict[str, list[dict[str, Any]]] = {}
    for g in result.groups:
        town = f"{g.district}{g.town}" if g.town != UNKNOWN else "未分派"
        towns.setdefault(town, []).extend(g.alerts)
    columns = WITH_PII if show_pii else MASKED
    for town, alerts in towns.items():
        _town_sheet(wb.create_sheet(sheet_title(town, taken)), town, alerts, result, columns)
    if not wb.sheetnames:
        ws = wb.create_sheet("无超期")
        set_text(ws["A1"], f"截至 {result.as_of} 没有超过 {result.days} 个工作日未走访的预警")
    return wb


def _town_sheet(ws: Any, town: str, alerts: list[dict[str, Any]], result: OverdueResult,
                columns: list[tuple[str, float]]) -> None:
    widths = [w for _, w in columns]
    paper.set_columns(ws, widths)
    title = f"{town} 超期未走访预警（截至 {result.as_of}，时限 {result.days} 个工作日）：{len(alerts)} 条"
    paper.put(ws, 1, 1, title, size=paper.TITLE_PT, bold=True, align="center", border=False)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws.row_dimensions[1].height = paper.row_height(1, paper.TITLE_PT)
    fill = PatternFill("solid", fgColor="D9D9D9")
    head_lines = max(paper.line_count(t, w) for t, w in columns)
    for j, (text, _) in enumerate(columns, start=1):
        paper.put(ws, 2, j, text, bold=True, align="center").fill = fill
    ws.row_dimensions[2].height = paper.row_height(head_lines)
    for i, a in enumerate(alerts, start=TITLE_ROWS + 1):
        cells = _cells(a, columns)
        for j, value in enumerate(cells, start=1):
            paper.put(ws, i, j, value, align="right" if isinstance(value, int) else "left")
        lines = max(paper.line_count(None if v is None else str(v), w) for v, w in zip(cells, widths))
        ws.row_dimensions[i].height = paper.row_height(lines)
    paper.page_setup(ws, landscape=True, footer_left=f"超期未走访预警 {town}", title_rows=TITLE_ROWS)
    paper.print_area(ws, len(columns), TITLE_ROWS + len(alerts))
    ws.freeze_panes = ws.cell(row=TITLE_ROWS + 1, column=1)


def _cells(a: dict[str, Any], columns: list[tuple[str, float]]) -> list[Any]:
    place = a.get("grid") or ""
    if a.get("community") and not place.startswith(a["community"]):
        place = f"{a['community']} {place}".strip()
    values = {
        "编号": a["id"], "社区 / 网格": place or UNKNOWN, "网格员": a.get("worker") or UNKNOWN, "规则": a["rule_name"],
        "姓名": a["name"], "身份证号": a["id_no"],
        PERSON: "\n".join(x for x in (" ".join(filter(None, (a["name"], a["id_no"]))), a.get("hukou_no"), a.get("address")) if x),
        "走访期限": a["due_on"], LATE: a["working_days_overdue"], "依据": a["evidence"],
    }
    return [values[title] for title, _ in columns]
