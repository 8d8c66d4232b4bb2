from __future__ import annotations

import datetime as dt
import json
import os
import stat

import openpyxl
from pathlib import Path
import pytest
import python_calamine

from relief_cli.history import undo_import
from relief_cli.importer import import_paths
from relief_cli.store import Store, StoreBusy
from conftest import DATA, make_id, write_xlsx

ID1 = make_id(seq=1)
ID2 = make_id(seq=2)
ID3 = make_id("340706", "19501231", 3)

MEDICAL_HEADER = ["结算单号", "身份证号", "姓名", "结算日期", "就诊类型", "个人自付", "医疗机构"]


def medical_book(path, rows, title=True):
    data = [["铜陵市医疗保障局 2026年1-10月结算明细"], []] if title else []
    data += [MEDICAL_HEADER, *rows]
    return write_xlsx(path, {"结算明细": data})


def only(report):
    assert not report.failures, report.failures
    assert len(report.sheets) == 1
    return report.sheets[0]


def test_header_below_title_rows_totals_and_blank_rows_skipped(store, tmp_path):
    path = medical_book(tmp_path / "m.xlsx", [
        ["S1", ID1, "测一", dt.datetime(2026, 3, 1), "住院", "1,234.50元", "市立医院"],
        [],
        ["S2", " " + ID1.lower().replace("0", "０", 1), "测一", "2026年3月2日", "门诊", 100, "市立医院"],
        ["合计", None, None, None, None, 1334.5, None],
    ])
    result = only(import_paths(store, [path]))
    assert (result.source, result.rows, result.imported, result.rejected) == ("medical", 2, 2, 0)
    rows = store.conn.execute("SELECT settlement_no, id_no, settle_date, oop, _file, _sheet, _row FROM src_medical ORDER BY 1").fetchall()
    assert rows == [
        ("S1", ID1, "2026-03-01", 123450, "m.xlsx", "结算明细", 4),
        ("S2", ID1, "2026-03-02", 10000, "m.xlsx", "结算明细", 6),
    ]


def test_import_twice_adds_nothing_and_a_corrected_export_updates(store, tmp_path):
    rows = [["S1", ID1, "测一", "2026-03-01", "住院", 50, "甲医院"], ["S2", ID2, "测二", "2026-03-05", "门诊", 20, "乙医院"]]
    path = medical_book(tmp_path / "m.xlsx", rows)
    first = only(import_paths(store, [path]))
    again = only(import_paths(store, [path]))
    assert (first.imported, first.updated, first.unchanged) == (2, 0, 0)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert store.count("medical") == 2
    rows[1][5] = 25
    corrected = medical_book(tmp_path / "m2.xlsx", rows + [["S3", ID3, "测三", "2026-04-01", "门诊", 1, "丙医院"]])
    third = only(import_paths(store, [corrected]))
    assert (third.imported, third.updated, third.unchanged) == (1, 1, 1)
    assert store.conn.execute("SELECT oop, _file FROM src_medical WHERE settlement_no = 'S2'").fetchone() == (2500, "m2.xlsx")


def test_rejected_rows_go_to_a_rejects_workbook_that_imports_again_once_fixed(store, tmp_path):
    path = medical_book(tmp_path / "m.xlsx", [
        ["S1", ID1, "测一", "2026-03-01", "住院", 50, "甲医院"],
        ["S2", 3.40705198001e17, "测二", "2026-03-01", "门诊", 5, "乙医院"],
        ["S3", ID2[:-1] + ("0" if ID2[-1] != "0" else "1"), "测三", "abc", "门诊", 5, "乙医院"],
        ["S4", "", "测四", "2026-03-01", "门诊", 5, "乙医院"],
        ["S1", ID1, "测一", "2026-03-01", "住院", 50, "甲医院"],
    ])
    result = only(import_paths(store, [path]))
    assert (result.rows, result.imported, result.rejected) == (5, 1, 4)
    out = result.rejects_file
    assert out and os.path.exists(out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    sheet = python_calamine.CalamineWorkbook.from_path(out).get_sheet_by_name("结算明细").to_python()
    assert sheet[0] == [*MEDICAL_HEADER, "拒收原因", "原工作表", "原行号"]
    reasons = {row[0]: row[7] for row in sheet[1:]}
    assert reasons["S2"] == "「身份证号」列（B列）：身份证号被 Excel 存成了数字，后几位已丢失，无法还原；请把该列设为文本后重新导出"
    assert reasons["S3"] == "「身份证号」列（B列）：身份证号校验位错误；「结算日期」列（D列）：无法识别的日期格式"
    assert reasons["S4"] == "「身份证号」列（B列）：必填项为空"
    assert reasons["S1"] == "与工作表「结算明细」第 4 行的自然键（settlement_no）重复"
    assert [row[9] for row in sheet[1:]] == [5, 6, 7, 8]
    assert ID1 not in json.dumps(list(reasons.values()), ensure_ascii=False)

    # The officer fixes the rows in the rejects workbook and imports it as it is.
    wb = openpyxl.load_workbook(out)
    ws = wb["结算明细"]
    ws["B2"], ws["B3"], ws["D3"], ws["B4"] = ID2, ID2, "2026-03-02", ID3
    ws["A3"] = "S3"
    ws.delete_rows(5)
    fixed = tmp_path / "fixed.xlsx"
    wb.save(fixed)
    again = only(import_paths(store, [fixed]))
    assert (again.source, again.imported, again.rejected) == ("medical", 3, 0)
    assert store.count("medical") == 4


def test_hidden_and_unknown_sheets_are_reported_not_errors(store, tmp_path):
    path = write_xlsx(tmp_path / "mixed.xlsx", {
        "死亡": [["身份证号", "姓名", "死亡日期"], [ID1, "测一", "2026-11-01"]],
        "备用": [["身份证号", "死亡日期"], [ID2, "2026-11-01"]],
        "说明": [["本表由系统导出"], ["联系人", "某某"]],
    }, hidden=("备用",))
    report = import_paths(store, [path])
    by_sheet = {s.sheet: s for s in report.sheets}
    assert by_sheet["死亡"].source == "deaths" and by_sheet["死亡"].imported == 1
    assert by_sheet["备用"].skipped_reason == "隐藏工作表，已跳过"
    assert by_sheet["说明"].skipped_reason == "未识别出数据来源：表头与任何来源的列名都不匹配"
    assert store.count("deaths") == 1


def test_near_miss_header_names_the_missing_column(store, tmp_path):
    path = write_xlsx(tmp_path / "d.xlsx", {"残联": [["身份证号", "残疾证号", "残疾类别", "发证日期"], [ID1, "C1", "肢体", "2026-01-01"]]})
    sheet = only(import_paths(store, [path]))
    assert sheet.skipped_reason == "未识别出数据来源：最接近「残疾人证」，但缺少必填列 残疾等级"


def test_forced_source(store, tmp_path):
    # 身份证号 + 死亡日期 would be found anyway; forcing a source that does not fit is reported.
    path = write_xlsx(tmp_path / "d.xlsx", {"S": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    forced = only(import_paths(store, [path], source="medical"))
    assert forced.source is None and "指定的来源 medical（医保结算）" in forced.skipped_reason
    ok = only(import_paths(store, [path], source="deaths"))
    assert ok.source == "deaths" and ok.imported == 1


def test_legacy_xls_with_15_digit_ids_and_float_ids(store):
    sheet = only(import_paths(store, [DATA / "roster.xls"]))
    assert (sheet.source, sheet.rows, sheet.imported, sheet.rejected) == ("assistance", 3, 2, 1)
    rows = store.conn.execute("SELECT id_no, category, since, _row FROM src_assistance ORDER BY _row").fetchall()
    assert rows == [("340705198001010011", "低保", "2024-03-01", 3), ("340706195003030019", "特困", "2023-05-06", 4)]


def test_gbk_csv(store):
    sheet = only(import_paths(store, [DATA / "contributions_gbk.csv"]))
    assert (sheet.source, sheet.imported, sheet.rejected) == ("social_insurance", 2, 1)
    assert store.conn.execute("SELECT period, base FROM src_social_insurance ORDER BY period").fetchall() == [
        ("202601", 400000), ("202602", 400000)]


def test_utf8_bom_csv(store, tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(("身份证号,姓名,学校,学段,入学日期\r\n" + f"{ID1},测一,某大学,本科,2026/9/1\r\n").encode("utf-8-sig"))
    sheet = only(import_paths(store, [path]))
    assert (sheet.source, sheet.imported) == ("students", 1)


BAD_FILES = {
    "empty.xlsx": (b"", "文件为空"),
    "random.xlsx": (bytes(range(256)) * 8, "扩展名是 .xlsx，但内容不是 Excel 工作簿（文件损坏或格式不符）"),
    "renamed.xlsx": ("身份证号,死亡日期\n1,2\n".encode("gbk"), "扩展名是 .xlsx，但内容是文本（可能是改了扩展名的 CSV），请把扩展名改为 .csv 后导入"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_broken_files_fail_alone(store, tmp_path, name):
    data, reason = BAD_FILES[name]
    bad = tmp_path / name
    bad.write_bytes(data)
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    report = import_paths(store, [bad, good])
    assert [(f.file, f.reason) for f in report.failures] == [(str(bad), reason)]
    assert store.count("deaths") == 1


def test_truncated_and_encrypted_workbooks(store, tmp_path):
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(good.read_bytes()[:600])
    report = import_paths(store, [truncated, DATA / "encrypted.xlsx"])
    assert [f.reason for f in report.failures] == [
        "文件已损坏或不完整，无法作为 Excel 工作簿读取",
        "工作簿设置了打开密码（已加密），请在 Excel 中取消密码后另存再导入",
    ]
    assert store.conn.execute("SELECT count(*) FROM imports").fetchone()[0] == 0


def test_folder_import_takes_supported_files_in_order(store, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_xlsx(folder / "b.xlsx", {"S": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    (folder / "a.csv").write_text("身份证号,死亡日期\n" + ID2 + ",2026-10-01\n", encoding="utf-8")
    (folder / "notes.docx").write_bytes(b"ignored")
    report = import_paths(store, [folder])
    assert [os.path.basename(s.file) for s in report.sheets if s.source] == ["a.csv", "b.xlsx"]
    assert [(os.path.basename(s.file), s.skipped_reason) for s in report.sheets if not s.source] == [
        ("notes.docx", "不是表格文件（.docx），已跳过")]
    assert store.count("deaths") == 2


def test_cells_right_of_the_last_titled_column_are_not_read(store, tmp_path):
    path = medical_book(tmp_path / "m.xlsx", [
        ["S1", ID1, "测一", "2026-03-01", "住院", 50, "甲医院"],
        ["S2", "", "测二", "2026-03-01", "门诊", 5, "乙医院"],
    ])
    wb = openpyxl.load_workbook(path)
    ws = wb["结算明细"]
    ws.cell(row=4, column=12, value="随手记的备注")  # far right of the header, no title above it
    ws.cell(row=5, column=12, value=12345)
    wb.save(path)
    result = only(import_paths(store, [path]))
    assert (result.rows, result.imported, result.rejected) == (2, 1, 1)
    sheet = python_calamine.CalamineWorkbook.from_path(result.rejects_file).get_sheet_by_name("结算明细").to_python()
    assert sheet[0] == [*MEDICAL_HEADER, "拒收原因", "原工作表", "原行号"]
    assert sheet[1][:len(MEDICAL_HEADER)] == ["S2", "", "测二", "2026-03-01", "门诊", 5.0, "乙医院"]
    assert sheet[1][len(MEDICAL_HEADER):] == ["「身份证号」列（B列）：必填项为空", "结算明细", 5.0]


def test_rejects_of_sheets_of_different_widths_keep_reasons_under_their_header(store, tmp_path):
    wide = [["身份证号", "死亡日期", "备注一", "备注二", "备注三"], ["12345", "2026-11-01", "a", "b", "c"]]
    narrow = [["身份证号", "确诊日期", "诊断"], ["67890", "2026-11-01", "白血病"]]
    path = write_xlsx(tmp_path / "two.xlsx", {"大病": narrow, "死亡": wide})  # the narrow sheet first
    report = import_paths(store, [path])
    book = openpyxl.load_workbook(report.sheets[0].rejects_file)
    assert book.sheetnames == ["大病", "死亡"]  # in the file's order
    for name, width in (("死亡", 5), ("大病", 3)):
        header, row = list(book[name].iter_rows(values_only=True))
        assert header[width:] == ("拒收原因", "原工作表", "原行号"), name
        assert row[width].startswith("「身份证号」列（A列）") and row[width + 1:] == (name, 2), name


def test_a_corrected_rejects_workbook_imports_without_another_set_of_reason_columns(store, tmp_path):
    path = write_xlsx(tmp_path / "d.xlsx", {"死亡": [["身份证号", "死亡日期"], ["12345", "2026-11-01"], [ID1, "11月"]]})
    first = import_paths(store, [path])
    rejects = first.sheets[0].rejects_file
    wb = openpyxl.load_workbook(rejects)
    ws = wb.active
    ws["A2"] = ID2  # the officer fixes one row and leaves the other as it was
    wb.save(rejects)
    second = import_paths(store, [Path(rejects)])
    assert [(s.imported, s.rejected) for s in second.sheets] == [(1, 1)]
    header = next(openpyxl.load_workbook(second.sheets[0].rejects_file).active.iter_rows(values_only=True))
    assert header == ("身份证号", "死亡日期", "拒收原因", "原工作表", "原行号")


def test_amounts_read_in_yuan_through_the_views(store, tmp_path):
    path = medical_book(tmp_path / "m.xlsx", [["S1", ID1, "测一", "2026-03-01", "住院", 1234.5, "甲医院"]])
    import_paths(store, [path])
    assert store.conn.execute("SELECT oop FROM src_medical").fetchone() == (123450,)  # 分, exact
    assert store.conn.execute("SELECT settlement_no, oop FROM medical_yuan").fetchone() == ("S1", 1234.5)
    if store.pg:
        listed = store.conn.execute_native("SELECT viewname FROM pg_views WHERE schemaname = current_schema()")
    else:
        listed = store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'view'")
    views = {r[0] for r in listed}
    assert views == {"medical_yuan", "social_insurance_yuan", "students_yuan"}


def test_one_import_or_undo_at_a_time_the_second_waits_then_says_so(db, config, tmp_path, monkeypatch):
    """As SQLite's write lock keeps a file's imports one at a time, so does a server's advisory lock."""
    import relief_cli.store

    monkeypatch.setattr(relief_cli.store, "BUSY_TIMEOUT_MS", 300)
    path = write_xlsx(tmp_path / "d.xlsx", {"S": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    busy = "数据库正被另一个 relief 进程写入，等待 0 秒后仍未释放，请稍后再试"
    with Store(db, config) as holder, Store(db, config) as store:
        with holder.transaction():
            holder.lock_imports()  # another officer's import is running
            report = import_paths(store, [path])
            assert [f.reason for f in report.failures] == [f"{store.where}: {busy}"] and store.count("deaths") == 0
        assert not import_paths(store, [path]).failures and store.count("deaths") == 1
        with holder.transaction():
            holder.lock_imports()
            with pytest.raises(StoreBusy, match=busy):
                undo_import(store, 1)
        undo_import(store, 1)
        assert store.count("deaths") == 0
