"""Values that must not be trusted, through the real importer: each refused with its reason,
or kept with the unreadable cell left blank where it neither identifies nor classifies the row."""

from __future__ import annotations

import csv
import datetime as dt

import openpyxl

from relief_cli.importer import import_paths
from relief_cli.scan import dry_run
from conftest import load, make_id

ID = [make_id("340705", "19800101", n) for n in range(50, 60)]


def write_csv(path, rows):
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def reasons(store, path):
    report = import_paths(store, [path])
    book = openpyxl.load_workbook(report.sheets[0].rejects_file) if report.sheets and report.sheets[0].rejects_file else None
    found = [] if book is None else [r[-3] for r in book.active.iter_rows(min_row=2, values_only=True)]
    return report, found


def test_duplicate_id_columns_are_refused_with_their_letters(store, tmp_path):
    path = write_csv(tmp_path / "dup.csv", [["结算单号", "证件号码", "结算日期", "身份证号", "个人自付"],
                                             ["S1", ID[0], "2026-01-01", ID[0], "5"]])
    report = import_paths(store, [path])
    assert report.sheets == [] and [f.reason for f in report.failures] == [
        "工作表「dup」：表头中B列「证件号码」和D列「身份证号」都是「身份证号」（医保结算），无法确定用哪一列；请删除或改名其中一列后重新导入"]
    assert store.count("medical") == 0


def test_a_forced_source_names_its_missing_columns(store, tmp_path):
    path = write_csv(tmp_path / "m.csv", [["身份证号", "结算日期"], [ID[0], "2026-01-01"]])
    report = import_paths(store, [path], source="medical")
    assert [s.skipped_reason for s in report.sheets] == [
        "指定的来源 medical（医保结算）在前 30 行中找不到完整表头，缺少必填列 结算单号、个人自付"]


def test_an_id_column_excel_cut_to_15_digits_is_refused_whole(store, tmp_path):
    # What Excel leaves of 18-digit IDs saved as numbers: 15 significant digits, then 000.
    cut = [i[:15] + "000" for i in ID[:8]]
    lucky = _cut_but_valid()  # passes its check digit: it would become somebody else
    path = write_csv(tmp_path / "cut.csv", [["身份证号", "死亡日期"], *([c, "2026-10-01"] for c in [*cut, lucky])])
    report, found = reasons(store, path)
    assert [(s.rows, s.imported, s.rejected) for s in report.sheets] == [(9, 0, 9)]
    assert found[0] == ("「身份证号」列（A列）：该列 9 个身份证号中有 9 个以 000 结尾：这是 Excel 把号码当数字保存后只留下 15 位"
                        "有效数字造成的，末三位已丢失，无法还原；整列拒收，请在原系统中把该列设为文本重新导出")
    assert store.count("deaths") == 0  # not even the one whose check digit happens to pass


def _check(first17: str) -> str:
    from relief_cli.values import id_check_digit

    return id_check_digit(first17)


def _cut_but_valid() -> str:
    """A valid ID that ends in 000 (sequence x00, check digit 0): about 1 in 1,100 real IDs."""
    return next(f + "0" for day in range(1, 29) for d in range(10)
                for f in [f"340705198001{day:02d}{d}00"] if _check(f) == "0")


def test_a_few_ids_ending_in_000_are_normal(store, tmp_path):
    rows = [[i, "2026-10-01"] for i in ID] + [[_cut_but_valid(), "2026-10-01"]]
    report = import_paths(store, [write_csv(tmp_path / "ok.csv", [["身份证号", "死亡日期"], *rows])])
    assert [(s.imported, s.rejected) for s in report.sheets] == [(11, 0)]


def test_a_roster_row_with_an_unreadable_date_keeps_its_person_on_the_roster(store, tmp_path):
    load(store, tmp_path, "population", [{"id_no": ID[0], "name": "测试", "hukou_no": "H1", "relation": "户主",
                                          "community": "金口岭社区", "grid": "第一网格"}])
    load(store, tmp_path, "medical", [{"settlement_no": "S1", "id_no": ID[0], "settle_date": "2026-08-10",
                                       "visit_type": "住院", "oop": 6000}])
    path = write_csv(tmp_path / "roster.csv", [["身份证号", "救助类别", "认定日期"], [ID[0], "城市低保", "2026-02-30"],
                                                [ID[1], "特困人员", "abc"], [ID[2], "火星低保", "2024-01-01"]])
    report, found = reasons(store, path)
    assert [(s.rows, s.imported, s.rejected, s.blanked) for s in report.sheets] == [(3, 2, 1, 2)]
    assert sorted(found) == sorted([
        "「救助类别」列（B列）：未知的救助类别「火星低保」，可在 rules.yaml 的 categories 中添加别名",
        "已导入，但以下内容无法识别、已留空：「认定日期」列（C列）：日期无效",
        "已导入，但以下内容无法识别、已留空：「认定日期」列（C列）：无法识别的日期格式",
    ])
    assert store.conn.execute("SELECT id_no, category, since FROM src_assistance ORDER BY id_no").fetchall() == [
        (ID[0], "低保", None), (ID[1], "特困", None)]
    annual = next(r for r in dry_run(store, dt.date(2026, 11, 20)).rules if r.rule == "medical_annual")
    assert annual.hits == 1  # judged as 低保 (5,000), not as non-low-income (15,000)


def test_blank_required_amounts_and_negative_bases_are_refused(store, tmp_path):
    medical = write_csv(tmp_path / "m.csv", [["结算单号", "身份证号", "结算日期", "个人自付"],
                                              ["S1", ID[0], "2026-01-01", ""], ["S2", ID[0], "2026-01-02", "-35.5"]])
    report, found = reasons(store, medical)
    assert [(s.imported, s.rejected) for s in report.sheets] == [(1, 1)]
    assert found == ["「个人自付」列（D列）：必填项为空"]
    assert store.conn.execute("SELECT settlement_no, oop FROM src_medical").fetchall() == [("S2", -3550)]  # a reversal
    base = write_csv(tmp_path / "si.csv", [["身份证号", "费款所属期", "缴费基数", "险种"], [ID[0], "202601", "-4000", "养老"],
                                            [ID[0], "202602", "1.234,50", "养老"], [ID[0], "202603", "4,000", "养老"]])
    report, found = reasons(store, base)  # a required field: its faults reject the row
    assert [(s.imported, s.rejected, s.blanked) for s in report.sheets] == [(1, 2, 0)]
    assert sorted(found) == [
        "「缴费基数」列（C列）：金额不能为负数（退费等负数金额只在 rules.yaml 中标了 negative: true 的列接受）",
        "「缴费基数」列（C列）：金额格式无法识别",
    ]
    tuition = write_csv(tmp_path / "st.csv", [["身份证号", "学校", "入学日期", "学费"], [ID[0], "铜陵学院", "2026-09-01", "-5000"]])
    report, found = reasons(store, tuition)  # an optional field: left blank, the row kept
    assert [(s.imported, s.rejected, s.blanked) for s in report.sheets] == [(1, 0, 1)]
    assert found == ["已导入，但以下内容无法识别、已留空：「学费」列（D列）：金额不能为负数（退费等负数金额只在 rules.yaml 中标了 negative: true 的列接受）"]


def test_numbers_that_only_look_like_dates_are_refused(store, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["身份证号", "死亡日期"])
    ws.append([ID[0], 202603])  # a month typed as a number: not serial 202603 (2454-09-14)
    ws.append([ID[1], 46082])  # a real serial: 2026-03-01
    wb.save(tmp_path / "d.xlsx")
    report, found = reasons(store, tmp_path / "d.xlsx")
    assert [(s.imported, s.rejected) for s in report.sheets] == [(1, 1)]
    assert found == ["「死亡日期」列（B列）：数字不像日期：作为 Excel 日期序号，它不在 1950 年至明年之内（如 202603 应写成 2026-03 或 2026-03-01）"]
    assert store.conn.execute("SELECT id_no, death_date FROM src_deaths").fetchall() == [(ID[1], "2026-03-01")]


def test_a_blank_or_unreadable_soft_cell_never_erases_a_stored_value(store, tmp_path):
    first = write_csv(tmp_path / "r1.csv", [["身份证号", "救助类别", "认定日期"], [ID[0], "城市低保", "2024-01-01"]])
    import_paths(store, [first], partial=True)
    second = write_csv(tmp_path / "r2.csv", [["身份证号", "救助类别", "认定日期"], [ID[0], "城市低保", "2024-13-45"]])
    report = import_paths(store, [second], partial=True)
    assert [(s.updated, s.unchanged, s.blanked) for s in report.sheets] == [(0, 1, 1)]
    assert store.conn.execute("SELECT since FROM src_assistance").fetchone() == ("2024-01-01",)


def test_headers_whose_note_scales_the_numbers_are_not_read_as_yuan(store, tmp_path):
    path = write_csv(tmp_path / "m.csv", [["结算单号", "身份证号", "结算日期", "个人自付", "医疗总费用（万元）"],
                                          ["S1", ID[0], "2026-01-01", "5", "1.2"]])
    report = import_paths(store, [path])
    assert [(s.imported,) for s in report.sheets] == [(1,)]
    assert store.conn.execute("SELECT oop, total_cost FROM src_medical").fetchone() == (500, None)


def test_a_title_as_written_beats_a_loose_one_and_optional_doubles_are_left_out(store, tmp_path):
    path = write_csv(tmp_path / "p.csv", [["公民身份号码", "姓名", "姓名（拼音）", "户号", "联系电话（手机）", "联系电话（固话）"],
                                          [ID[0], "测试", "ceshi", "H1", "13800001111", "05621234567"]])
    report = import_paths(store, [path], partial=True)
    assert report.failures == [] and [s.imported for s in report.sheets] == [1]
    assert store.conn.execute("SELECT name, phone FROM src_population").fetchone() == ("测试", None)


def test_columns_after_the_rejects_reason_are_not_data(store, tmp_path):
    path = write_csv(tmp_path / "d.csv", [["身份证号", "拒收原因", "死亡日期"], [ID[0], "x", "2026-11-01"]])
    report = import_paths(store, [path])
    assert report.failures == [] or "IndexError" not in report.failures[0].reason
