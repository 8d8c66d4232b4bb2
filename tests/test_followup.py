from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from relief_cli.alerts import AlertFilter, list_alerts
from relief_cli.checklist import build_checklist
from relief_cli.followup import Outcome, OutcomeProblem, history, record_outcome, reopen
from relief_cli.importer import import_paths
from relief_cli.overdue import overdue
from relief_cli.scan import scan
from relief_cli.parse import PRINTED_SHEET
from relief_cli.visit_sheet import write_visit_workbook
from conftest import load, make_id

P1, P2, P3 = (make_id("340705", "19700101", i) for i in (71, 72, 73))


@pytest.fixture()
def city(store, tmp_path):
    load(store, tmp_path, "grids", [
        {"district": "铜官区", "town": "幸福街道", "community": "金口岭社区", "grid": "第一网格", "worker": "网格员甲"},
        {"district": "义安区", "town": "五松镇", "community": "荷花塘社区", "grid": "第一网格", "worker": "网格员乙"},
    ])
    load(store, tmp_path, "population", [
        {"id_no": P1, "name": "户主一", "hukou_no": "H1", "relation": "户主", "community": "金口岭社区", "grid": "第一网格"},
        {"id_no": P2, "name": "户主二", "hukou_no": "H2", "relation": "户主", "community": "金口岭社区", "grid": "第一网格"},
        {"id_no": P3, "name": "户主三", "hukou_no": "H3", "relation": "户主", "community": "荷花塘社区", "grid": "第一网格"},
    ])
    load(store, tmp_path, "illness", [{"id_no": p, "diagnosis": "白血病", "diagnose_date": "2026-09-28"} for p in (P1, P2, P3)])
    scan(store, dt.date(2026, 9, 28))
    return store


@pytest.mark.parametrize(("day", "late"), [("2026-10-09", None), ("2026-10-10", None), ("2026-10-11", None),
                                           ("2026-10-12", 1), ("2026-10-13", 2)])
def test_overdue_boundary_across_national_day(city, day, late):
    result = overdue(city, dt.date.fromisoformat(day), 5)
    assert [a["working_days_overdue"] for a in result.alerts] == ([] if late is None else [late] * 3)


def test_overdue_groups_and_days_option(city):
    result = overdue(city, dt.date(2026, 10, 12), 5)
    assert [(g.district, g.town, g.community, g.worker, g.count, g.max_overdue, g.oldest) for g in result.groups] == [
        ("义安区", "五松镇", "荷花塘社区", "网格员乙", 1, 1, "2026-09-28"),
        ("铜官区", "幸福街道", "金口岭社区", "网格员甲", 2, 1, "2026-09-28"),
    ]
    assert overdue(city, dt.date(2026, 10, 12), 6).alerts == []
    assert len(overdue(city, dt.date(2026, 10, 12), 3).alerts) == 3
    assert [a["community"] for a in overdue(city, dt.date(2026, 10, 12), 5, AlertFilter(community="荷花")).alerts] == ["荷花塘社区"]
    record_outcome(city, [1], Outcome("无法联系", dt.date(2026, 10, 9), "网格员甲"))
    assert len(overdue(city, dt.date(2026, 10, 12), 5).alerts) == 2


def test_community_and_grid_filters_match_every_name_containing_them(city, tmp_path, monkeypatch):
    """A part of a name lists the alerts of every community (grid) whose name contains it, those of a
    community without a grid worker too (its alerts are unassigned); a part that matches none lists none."""
    from relief_cli import alerts

    p4 = make_id("340705", "19700101", 74)
    load(city, tmp_path, "population", [
        {"id_no": p4, "name": "户主四", "hukou_no": "H4", "relation": "户主", "community": "新荷社区", "grid": "第九网格"}])
    load(city, tmp_path, "illness", [{"id_no": p4, "diagnosis": "白血病", "diagnose_date": "2026-09-29"}])
    scan(city, dt.date(2026, 9, 29))

    def communities(**flt) -> list[tuple[str, str | None]]:
        return sorted((a["community"], a["worker"]) for a in list_alerts(city, AlertFilter(**flt)))

    assert communities(community="荷") == [("新荷社区", None), ("荷花塘社区", "网格员乙")]
    assert communities(community="金口岭社区") == [("金口岭社区", "网格员甲")] * 2
    assert communities(grid="第九") == [("新荷社区", None)]
    assert communities(grid="网格") == sorted(communities())
    assert communities(community="荷", grid="第一") == [("荷花塘社区", "网格员乙")]
    assert communities(community="不存在") == []
    monkeypatch.setattr(alerts, "MAX_NAMES", 1)  # a part that matches more names than that: searched as text
    assert communities(community="荷") == [("新荷社区", None), ("荷花塘社区", "网格员乙")]
    assert [g.community for g in overdue(city, dt.date(2026, 10, 20), 5, AlertFilter(community="荷")).groups] == [
        "荷花塘社区", "新荷社区"]


def test_outcome_history_and_reopen(city):
    record_outcome(city, [1], Outcome("转办", dt.date(2026, 10, 8), "网格员甲", "医保局", "已转医保局核查"))
    with pytest.raises(OutcomeProblem, match="预警 1 已办结（转办），要更改结果请先用 relief reopen 1 重新打开"):
        record_outcome(city, [1], Outcome("纳入救助", dt.date(2026, 10, 20), "网格员甲", "医疗救助"))
    assert record_outcome(city, [1], Outcome("转办", dt.date(2026, 10, 8), "网格员甲", "医保局", "已转医保局核查")) == 0
    reopen(city, 1, "科员", "复核")
    record_outcome(city, [1], Outcome("纳入救助", dt.date(2026, 10, 20), "网格员甲", "医疗救助"))
    reopen(city, 1, "科员", "复核")
    steps = [(h["action"], h["outcome"], h["detail"], h["visit_date"]) for h in history(city, 1)]
    assert steps == [("close", "转办", "医保局", "2026-10-08"), ("reopen", None, None, None),
                     ("close", "纳入救助", "医疗救助", "2026-10-20"), ("reopen", None, None, None)]


def test_visit_dates_before_the_alert_or_after_today_are_refused(city):
    raised = city.conn.execute("SELECT raised_on FROM alerts WHERE id = 1").fetchone()[0]
    before = dt.date.fromisoformat(raised) - dt.timedelta(days=1)
    with pytest.raises(OutcomeProblem, match=f"预警 1 于 {raised} 推送，走访日期 {before} 早于推送日期"):
        record_outcome(city, [1], Outcome("无法联系", before, "网格员甲"))
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(OutcomeProblem, match=f"走访日期 {tomorrow} 晚于今天"):
        record_outcome(city, [1], Outcome("无法联系", tomorrow, "网格员甲"))
    alert = list_alerts(city, AlertFilter(status="open"))[0]
    assert alert["id"] == 1 and alert["outcome"] is None


@pytest.mark.parametrize(("outcome", "detail", "message"), [
    ("已解决", None, "走访结果「已解决」不在固定列表中，可选：纳入救助、转办、不符合条件、无法联系、已在保无需处理"),
    ("纳入救助", None, "走访结果为「纳入救助」时必须填写救助类型（如 低保、特困、临时救助、医疗救助）"),
    ("转办", " ", "走访结果为「转办」时必须填写转办部门"),
])
def test_bad_outcomes_are_refused(city, outcome, detail, message):
    with pytest.raises(OutcomeProblem, match=message):
        record_outcome(city, [1], Outcome(outcome, dt.date(2026, 10, 8), "网格员甲", detail))
    with pytest.raises(OutcomeProblem, match="预警编号不存在：99"):
        record_outcome(city, [99], Outcome("无法联系", dt.date(2026, 10, 8), "网格员甲"))


def open_visit_sheet(city, tmp_path):
    """The 金口岭 visit workbook as written, opened for filling in: (sheet path, workbook, 第一网格, column by title)."""
    cl = build_checklist(city, "金口岭", dt.date(2026, 9, 29))
    sheet = tmp_path / "清单.xlsx"
    write_visit_workbook(sheet, cl, city.config.settings.outcomes)
    wb = openpyxl.load_workbook(sheet)
    ws = wb["第一网格"]
    return sheet, wb, ws, {c.value: i + 1 for i, c in enumerate(ws[3])}


def test_returned_visit_sheet_round_trip_and_idempotence(city, tmp_path):
    _, wb, ws, col = open_visit_sheet(city, tmp_path)
    assert ws.cell(row=4, column=col["户号"]).value == "H1"
    ws.cell(row=4, column=col["走访日期"]).value = dt.datetime(2026, 10, 9)
    ws.cell(row=4, column=col["走访结果"]).value = "纳入救助"
    ws.cell(row=4, column=col["救助类型或转办部门"]).value = "医疗救助"
    ws.cell(row=4, column=col["走访人"]).value = "网格员甲"
    ws.cell(row=4, column=col["问医疗教育"]).value = "化疗中，自付约两万"
    returned = tmp_path / "回收.xlsx"
    wb.save(returned)  # row 5 (H2) left blank: nothing changes for it

    first = import_paths(city, [returned])
    assert [(s.source, s.rows, s.imported, s.rejected) for s in first.sheets if s.source] == [("visits", 1, 1, 0)]
    printed = [(s.sheet, s.skipped_reason) for s in first.sheets if not s.source]
    assert [name for name, _ in printed] == ["第一网格·户清单", "第一网格·走访记录表"]
    assert {reason for _, reason in printed} == {PRINTED_SHEET}
    statuses = {a["hukou_no"]: (a["status"], (a["outcome"] or {}).get("detail")) for a in list_alerts(city)}
    assert statuses == {"H1": ("closed", "医疗救助"), "H2": ("open", None), "H3": ("open", None)}
    again = import_paths(city, [returned])
    assert [(s.imported, s.unchanged) for s in again.sheets if s.source] == [(0, 1)]
    assert len(history(city, 1)) == 1
    assert city.conn.execute("SELECT medical_education FROM src_visits").fetchone() == ("化疗中，自付约两万",)


def test_returned_sheet_with_bad_outcome_is_rejected(city, tmp_path):
    cl = build_checklist(city, "金口岭", dt.date(2026, 9, 29))
    sheet = tmp_path / "清单.xlsx"
    write_visit_workbook(sheet, cl, city.config.settings.outcomes)
    wb = openpyxl.load_workbook(sheet)
    ws = wb["第一网格"]
    col = {c.value: c.column for c in ws[3]}
    ws.cell(row=4, column=col["走访日期"]).value = "2026-10-09"
    ws.cell(row=4, column=col["走访结果"]).value = "纳入救助"
    ws.cell(row=4, column=col["走访人"]).value = "网格员甲"
    wb.save(sheet)
    report = import_paths(city, [sheet])
    assert [(s.imported, s.rejected) for s in report.sheets if s.source] == [(0, 1)]
    rejects = openpyxl.load_workbook(next(s for s in report.sheets if s.source).rejects_file)["第一网格"]
    reason_col = [c.value for c in rejects[1]].index("拒收原因") + 1
    assert rejects.cell(row=2, column=reason_col).value == (
        "「走访结果」列：走访结果为「纳入救助」时必须填写救助类型（如 低保、特困、临时救助、医疗救助）")
    assert list_alerts(city, AlertFilter(status="closed")) == []


def test_report_funnel_by_hand(city, tmp_path):
    # Three alerts raised 2026-09-28 (deadline 10-10). P1 added on time, P2 visited late (10-12), P3 still open.
    record_outcome(city, [1], Outcome("纳入救助", dt.date(2026, 10, 9), "网格员甲", "医疗救助"))
    record_outcome(city, [2], Outcome("不符合条件", dt.date(2026, 10, 12), "网格员甲"))
    from relief_cli.report import funnel

    by_rule = funnel(city, dt.date(2026, 9, 1), dt.date(2026, 10, 31), "rule")
    t = by_rule.total
    assert (t.raised, t.visited, t.added, t.subjects_added, t.overdue) == (3, 2, 1, 1, 2)
    assert (round(t.conversion, 4), t.precision, round(t.overdue_rate, 4)) == (0.3333, 0.5, 0.6667)
    assert [(r.group, r.raised, r.added) for r in by_rule.rows] == [("新确诊重大疾病", 3, 1)]
    by_community = funnel(city, dt.date(2026, 9, 1), dt.date(2026, 10, 31), "community")
    assert [(r.group, r.raised, r.visited, r.added, r.overdue) for r in by_community.rows] == [
        ("荷花塘社区", 1, 0, 0, 1), ("金口岭社区", 2, 2, 1, 1)]
    # On 10-10 the open alert is not yet overdue; alerts raised outside the period do not count.
    early = funnel(city, dt.date(2026, 9, 1), dt.date(2026, 10, 10), "month").total
    assert (early.raised, early.overdue) == (3, 1)
    assert funnel(city, dt.date(2026, 10, 1), dt.date(2026, 10, 31)).total.raised == 0


def test_report_xlsx_has_a_chart(city, tmp_path):
    from relief_cli.report_sheet import write_report_xlsx
    from relief_cli.report import funnel

    path = tmp_path / "月报.xlsx"
    write_report_xlsx(path, funnel(city, dt.date(2026, 9, 1), dt.date(2026, 10, 31), "community"))
    ws = openpyxl.load_workbook(path)["预警成效"]
    assert ws["A1"].value == "预警成效（2026-09-01 至 2026-10-31，按社区（村））"
    assert [c.value for c in ws[3]][:4] == ["社区（村）", "推送预警", "已走访", "纳入救助"]
    assert [c.value for c in ws[4]][:8] == ["荷花塘社区", 1, 0, 0, 0, 0, "—", 1]
    total = ws[6]
    assert [c.value for c in total][:6] == ["合计", 3, 0, 0, 0, 0] and total[7].number_format == "0.0%"
    assert ws.page_setup.orientation == "landscape" and ws.print_area.startswith("'预警成效'!$A$1:$J$")
    import zipfile

    charts = [n for n in zipfile.ZipFile(path).namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 2


def test_returned_rows_that_make_no_sense_are_reported_not_stored(city, tmp_path):
    cl = build_checklist(city, "金口岭", dt.date(2026, 9, 29))
    sheet = tmp_path / "清单.xlsx"
    write_visit_workbook(sheet, cl, city.config.settings.outcomes)
    record_outcome(city, [2], Outcome("无法联系", dt.date(2026, 10, 8), "网格员甲"))
    raised = city.conn.execute("SELECT raised_on FROM alerts WHERE id = 1").fetchone()[0]

    def returned(name, cells):
        wb = openpyxl.load_workbook(sheet)
        ws = wb["第一网格"]
        col = {c.value: i + 1 for i, c in enumerate(ws[3])}
        rows = {ws.cell(row=r, column=col["户号"]).value: r for r in range(4, ws.max_row + 1)}
        for (hukou, title), value in cells.items():
            ws.cell(row=rows[hukou], column=col[title]).value = value
        wb.save(tmp_path / name)
        report = import_paths(city, [tmp_path / name])
        book = openpyxl.load_workbook(next(s for s in report.sheets if s.source).rejects_file).active
        return report, {r[col["户号"] - 1]: r[-3] for r in book.iter_rows(min_row=2, values_only=True)}

    report, reasons = returned("回收1.xlsx", {
        ("H1", "走访日期"): "2026-10-09",  # a date, no result
        ("H2", "走访日期"): "2026-10-09", ("H2", "走访结果"): "不符合条件", ("H2", "走访人"): "网格员甲",  # closed already
    })
    assert [(s.rows, s.imported, s.rejected) for s in report.sheets if s.source] == [(2, 0, 2)]
    assert reasons == {"H1": "「走访结果」列：填了走访日期，但没有填走访结果",
                       "H2": "「预警编号」列：预警 2 已办结（无法联系），要更改结果请先用 relief reopen 2 重新打开"}
    report, reasons = returned("回收2.xlsx", {
        ("H1", "走访日期"): "2020-01-01", ("H1", "走访结果"): "无法联系", ("H1", "走访人"): "网格员甲",
    })
    assert reasons == {"H1": f"「走访日期」列：预警 1 于 {raised} 推送，走访日期 2020-01-01 早于推送日期"}
    assert city.count("visits") == 0


def test_a_household_visited_twice_in_one_sheet_keeps_the_later_result(city, tmp_path):
    _, wb, ws, col = open_visit_sheet(city, tmp_path)
    first = next(r for r in range(4, ws.max_row + 1) if ws.cell(row=r, column=col["户号"]).value == "H1")
    again = ws.max_row + 1
    for c in range(1, ws.max_column + 1):
        ws.cell(row=again, column=c).value = ws.cell(row=first, column=c).value
    for r, day, result in ((first, "2026-10-08", "无法联系"), (again, "2026-10-12", "不符合条件")):
        ws.cell(row=r, column=col["走访日期"]).value = day
        ws.cell(row=r, column=col["走访结果"]).value = result
        ws.cell(row=r, column=col["走访人"]).value = "网格员甲"
    wb.save(tmp_path / "回收.xlsx")
    report = import_paths(city, [tmp_path / "回收.xlsx"])
    assert report.failures == []
    assert [h["outcome"] for h in history(city, 1)] == ["无法联系", "不符合条件"]
