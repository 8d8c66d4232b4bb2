"""The report workbook: the funnel on one A4 landscape page, ready for the monthly briefing.

Left: the table, percentages stored as numbers with a % format. Right: two charts one above
the other (the whole funnel 推送 → 已走访 → 纳入救助, and the same per group). Up to about
20 groups the page is one; a longer table (a city by community) continues on further pages
with its header repeated, and the per-group chart shows the groups with the most alerts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook

from . import paper
from .report import GROUP_LABEL, Report
from .xlsx import save_private

COLUMNS = [("推送预警", "raised"), ("已走访", "visited"), ("纳入救助", "added"), ("纳入救助对象数", "subjects_added"),
           ("转化率", "conversion"), ("精确率", "precision"), ("超期率", "overdue_rate")]
# The table's columns (points), then a gap and the column the charts stand in: 770 in all, A4 landscape.
WIDTHS = [164, 52, 46, 52, 56, 48, 48, 48, 10, 246]
CHART_GROUPS = 12
FUNNEL_CM, GROUPS_CM = 5.6, 9.6  # with the gap between them: 15.5 cm, the page's height below the title
ONE_PAGE_ROWS = 20
FUNNEL_STEPS = ["推送预警", "已走访", "纳入救助"]
HEADER_FILL = "D9D9D9"


def write_report_xlsx(path: Path, report: Report) -> None:
    save_private(build_report_workbook(report), path)


def build_report_workbook(report: Report) -> Workbook:
    from openpyxl.styles import PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = "预警成效"
    paper.set_columns(ws, WIDTHS)
    label = GROUP_LABEL[report.by]
    title = f"预警成效（{report.date_from} 至 {report.date_to}，按{label}）"
    paper.put(ws, 1, 1, title, size=paper.TITLE_PT, bold=True, align="center", border=False)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(WIDTHS))
    ws.row_dimensions[1].height = paper.row_height(1, paper.TITLE_PT)
    note = "转化率 = 纳入救助 ÷ 推送预警；精确率 = 纳入救助 ÷ 已走访；超期率 = 超过时限才走访或仍未走访 ÷ 推送预警"
    paper.put(ws, 2, 1, note, border=False)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(WIDTHS))
    ws.row_dimensions[2].height = paper.row_height(1)
    head = 3
    fill = PatternFill("solid", fgColor=HEADER_FILL)
    titles = [label, *(c for c, _ in COLUMNS)]
    for j, text in enumerate(titles, start=1):
        paper.put(ws, head, j, text, bold=True, align="center", border=True).fill = fill
    ws.row_dimensions[head].height = paper.row_height(max(paper.line_count(t, w) for t, w in zip(titles, WIDTHS)))
    groups = report.rows
    if len(groups) > CHART_GROUPS:  # a long table: the groups with the most alerts first, as in the chart
        groups = sorted(groups, key=lambda g: (-g.raised, g.group))
    rows = [*groups, report.total]
    for i, r in enumerate(rows, start=head + 1):
        total = r is report.total
        lines = paper.line_count(r.group, WIDTHS[0])
        paper.put(ws, i, 1, r.group, bold=total, border=True)
        for j, (_, attr) in enumerate(COLUMNS, start=2):
            value = getattr(r, attr)
            cell = paper.put(ws, i, j, "—" if value is None else value, bold=total, border=True, align="right")
            if attr in ("conversion", "precision", "overdue_rate") and value is not None:
                cell.number_format = "0.0%"
        ws.row_dimensions[i].height = paper.row_height(lines)
    last = head + len(rows)
    _funnel_chart(ws, last, head)
    if groups:
        _group_chart(ws, report, head)
    paper.page_setup(ws, landscape=True, footer_left=title, title_rows=None)
    if len(rows) > ONE_PAGE_ROWS:
        ws.print_title_rows = f"{head}:{head}"
    # The print area reaches down past the charts, which stand beside the table
    below = last
    charts_pt = (FUNNEL_CM + GROUPS_CM + 0.3) * 28.35
    run = sum(ws.row_dimensions[r].height for r in range(head, last + 1))
    while run < charts_pt:
        below += 1
        ws.row_dimensions[below].height = paper.row_height(1)
        run += paper.row_height(1)
    paper.print_area(ws, len(WIDTHS), below)
    return wb



def _text(size_pt: float, bold: bool = False) -> Any:
    """Chart text in the form's font at a size readable on paper."""
    from openpyxl.chart.text import RichText
    from openpyxl.drawing.text import CharacterProperties, Font as DrawingFont, Paragraph, ParagraphProperties

    props = CharacterProperties(sz=int(size_pt * 100), b=bold, latin=DrawingFont(typeface=paper.FONT_NAME),
                                ea=DrawingFont(typeface=paper.FONT_NAME))
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=props), endParaRPr=props)])


def _style(chart: Any, title: str) -> None:
    chart.title = title
    chart.title.tx.rich.p[0].pPr = _text(12, bold=True).p[0].pPr
    chart.title.overlay = False
    for axis in (chart.x_axis, chart.y_axis):
        axis.delete = False
        axis.txPr = _text(paper.SMALL_PT)
    chart.width = WIDTHS[-1] / 28.35 - 0.1


def _funnel_chart(ws: Any, total_row: int, head: int) -> None:
    """推送 → 已走访 → 纳入救助 for the whole period: three bars, largest on top, with their counts."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.label import DataLabelList

    chart = BarChart()
    chart.type = "bar"
    chart.legend = None
    chart.varyColors = False
    data = Reference(ws, min_col=2, max_col=4, min_row=total_row, max_row=total_row)
    cats = Reference(ws, min_col=2, max_col=4, min_row=head, max_row=head)
    chart.add_data(data, from_rows=True, titles_from_data=False)
    chart.set_categories(cats)
    chart.x_axis.scaling.orientation = "maxMin"  # 推送 on top, as a funnel reads
    chart.dataLabels = DataLabelList(showVal=True, showCatName=False, showSerName=False, showLegendKey=False,
                                     showPercent=False)
    chart.dataLabels.txPr = _text(paper.SMALL_PT)
    chart.gapWidth = 40
    _style(chart, "漏斗：推送 → 已走访 → 纳入救助")
    chart.height = FUNNEL_CM
    ws.add_chart(chart, f"{_chart_column()}3")


def _group_chart(ws: Any, report: Report, head: int) -> None:
    """The same three counts per group (the CHART_GROUPS with the most alerts when there are more)."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.legend import Legend

    shown = min(len(report.rows), CHART_GROUPS)
    chart = BarChart()
    chart.type = "col" if report.by == "month" else "bar"
    if chart.type == "bar":
        chart.x_axis.scaling.orientation = "maxMin"
    data = Reference(ws, min_col=2, max_col=4, min_row=head, max_row=head + shown)
    cats = Reference(ws, min_col=1, min_row=head + 1, max_row=head + shown)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    chart.gapWidth = 60
    chart.legend = Legend()
    chart.legend.position = "b"
    chart.legend.txPr = _text(paper.SMALL_PT)
    label = GROUP_LABEL[report.by]
    more = f"（推送最多的 {shown} 个）" if len(report.rows) > shown else ""
    _style(chart, f"按{label}{more}")
    chart.height = GROUPS_CM
    anchor = _anchor_below(ws, 3, FUNNEL_CM + 0.3)
    ws.add_chart(chart, f"{_chart_column()}{anchor}")


def _chart_column() -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(len(WIDTHS))


def _anchor_below(ws: Any, first: int, cm: float) -> int:
    """The row that starts `cm` below the top of row `first` (charts are anchored to cells)."""
    row, run = first, 0.0
    while run < cm * 28.35:
        run += ws.row_dimensions[row].height or paper.row_height(1)
        row += 1
    return row
