"""The report workbook: the funnel on one A4 landscape page, ready for the monthly briefing.

Top: two charts side by side (the whole funnel 推送 → 已走访 → 纳入救助, and the same per
group); below: the table, percentages stored as numbers with a % format. Up to
CHART_GROUPS groups the page is one; a longer table (a city by community) continues on
further pages with its header repeated, and the per-group chart shows the groups with
the most alerts.
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
WIDTHS = [190, 65, 65, 65, 100, 95, 95, 95]  # 770 points, A4 landscape; the charts split it at column E
CHART_GROUPS = 12
CHART_ROWS, CHART_ROW_PT = 11, 19.0  # the rows the charts stand on: 209 points, 7.4 cm
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
    cols = len(WIDTHS)
    label = GROUP_LABEL[report.by]
    title = f"预警成效（{report.date_from} 至 {report.date_to}，按{label}）"
    paper.put(ws, 1, 1, title, size=paper.TITLE_PT, bold=True, align="center", border=False)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=cols)
    ws.row_dimensions[1].height = paper.row_height(1, paper.TITLE_PT)
    note = "转化率 = 纳入救助 ÷ 推送预警；精确率 = 纳入救助 ÷ 已走访；超期率 = 超过时限才走访或仍未走访 ÷ 推送预警"
    paper.put(ws, 2, 1, note, border=False)
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=cols)
    ws.row_dimensions[2].height = paper.row_height(1)
    for r in range(3, 3 + CHART_ROWS):
        ws.row_dimensions[r].height = CHART_ROW_PT
    head = 3 + CHART_ROWS
    fill = PatternFill("solid", fgColor=HEADER_FILL)
    for j, text in enumerate([label, *(c for c, _ in COLUMNS)], start=1):
        paper.put(ws, head, j, text, bold=True, align="center", border=True).fill = fill
    ws.row_dimensions[head].height = paper.row_height(1)
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
    _funnel_chart(ws, last)
    if groups:
        _group_chart(ws, report, head)
    paper.page_setup(ws, landscape=True, footer_left=title, title_rows=None)
    if len(rows) > CHART_GROUPS + 1:
        ws.print_title_rows = f"{head}:{head}"
    paper.print_area(ws, cols, last)
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
    chart.height = CHART_ROWS * CHART_ROW_PT / 28.35 - 0.2
    chart.width = sum(WIDTHS) / 2 / 28.35 - 0.3


def _funnel_chart(ws: Any, total_row: int) -> None:
    """推送 → 已走访 → 纳入救助 for the whole period: three bars, largest on top, with their counts."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.label import DataLabelList

    chart = BarChart()
    chart.type = "bar"
    chart.legend = None
    chart.varyColors = False
    data = Reference(ws, min_col=2, max_col=4, min_row=total_row, max_row=total_row)
    cats = Reference(ws, min_col=2, max_col=4, min_row=3 + CHART_ROWS, max_row=3 + CHART_ROWS)
    chart.add_data(data, from_rows=True, titles_from_data=False)
    chart.set_categories(cats)
    chart.x_axis.scaling.orientation = "maxMin"  # 推送 on top, as a funnel reads
    chart.dataLabels = DataLabelList(showVal=True, showCatName=False, showSerName=False, showLegendKey=False,
                                     showPercent=False)
    chart.dataLabels.txPr = _text(paper.SMALL_PT)
    chart.gapWidth = 40
    _style(chart, "预警漏斗：推送 → 已走访 → 纳入救助")
    ws.add_chart(chart, "A3")


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
    ws.add_chart(chart, "E3")  # columns A–D are half the page
