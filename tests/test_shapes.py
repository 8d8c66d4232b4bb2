"""Export shapes of real government systems, read with no renaming by the user
(golden files in tests/data, made by make_fixtures.py)."""

from __future__ import annotations

import shutil

from relief_cli.importer import import_paths
from conftest import DATA

ID_A, ID_B, ID_C = "340705198001010011", "340705198505050025", "340706195003030019"


def rows(store, sql):
    return store.conn.execute(sql).fetchall()


def test_an_html_table_saved_as_xls(store):
    report = import_paths(store, [DATA / "web_export.xls"])
    assert not report.failures
    assert [(s.source, s.rows, s.imported, s.rejected) for s in report.sheets] == [("medical", 2, 2, 0)]
    assert rows(store, "SELECT settlement_no, id_no, settle_date, total_cost, oop, _row FROM src_medical ORDER BY 1") == [
        ("W001", ID_A, "2026-10-08", 1_200_000, 345_670, 4),
        ("W002", ID_B, "2026-10-09", 80_000, 12_000, 5),
    ]


def test_tab_separated_text_saved_as_xls(store):
    report = import_paths(store, [DATA / "tab_export.xls"])
    assert [(s.source, s.imported) for s in report.sheets] == [("deaths", 2)]
    assert rows(store, "SELECT id_no, death_date FROM src_deaths ORDER BY 1") == [(ID_A, "2026-11-01"), (ID_C, "2026-10-15")]


def test_csv_cells_written_as_formulas_of_text(store):
    report = import_paths(store, [DATA / "quoted_ids.csv"])
    assert [(s.source, s.imported, s.rejected) for s in report.sheets] == [("unemployment", 2, 0)]
    assert rows(store, "SELECT id_no, reg_date FROM src_unemployment ORDER BY 1") == [(ID_A, "2026-11-02"), (ID_B, "2026-11-03")]


def test_a_two_row_header_with_a_merged_group_title(store):
    report = import_paths(store, [DATA / "two_row_header.xlsx"])
    assert [(s.source, s.rows, s.imported, s.rejected) for s in report.sheets] == [("medical", 2, 2, 0)]
    assert rows(store, "SELECT settlement_no, total_cost, fund_paid, oop, hospital, _row FROM src_medical ORDER BY 1") == [
        ("T001", 1_000_000, 700_000, 300_000, "市立医院", 3),
        ("T002", 50_000, 40_000, 10_000, "社区卫生服务中心", 4),
    ]


def test_headers_with_units_and_notes(store, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text('结算单号,"证件号码\n(身份证)",结算日期（年月日）,个人自付（元）\nU1,' + ID_A + ",2026-10-01,15.5\n",
                    encoding="utf-8")
    report = import_paths(store, [path])
    assert [(s.source, s.imported) for s in report.sheets] == [("medical", 1)]
    assert rows(store, "SELECT id_no, settle_date, oop FROM src_medical") == [(ID_A, "2026-10-01", 1550)]


def test_bracketed_aliases_still_match_as_written(config):
    """社区(村) and 村(社区) are both aliases of community; 乡镇(街道) of town: stripping notes must not clash."""
    grids = config.sources["grids"]
    loose = grids.loose_header_map()
    assert loose["乡镇"] == "town" and loose["社区"] == "community"
    assert grids.header_map()["村(社区)"] == "community"


def test_a_folder_reads_wps_files_and_lists_what_it_skips(store, tmp_path):
    inbox = tmp_path / "十一月"
    inbox.mkdir()
    shutil.copy(DATA / "roster.xls", inbox / "名册.et")  # WPS spreadsheets are read like legacy xls
    shutil.copy(DATA / "tab_export.xls", inbox / "死亡.xls")
    for name, data in {"~$名册.xlsx": b"lock", "说明.txt": "身份证号,死亡日期\n".encode(), "通知.docx": b"PK",
                       "扫描件.pdf": b"%PDF", "照片.jpg": b"\xff\xd8", "Thumbs.db": b"x", "desktop.ini": b"x"}.items():
        (inbox / name).write_bytes(data)
    report = import_paths(store, [inbox])
    assert not report.failures
    read = [(s.file.rsplit("/", 1)[-1], s.source) for s in report.sheets if s.source]
    assert read == [("名册.et", "assistance"), ("死亡.xls", "deaths")]
    skipped = {s.file.rsplit("/", 1)[-1]: s.skipped_reason for s in report.sheets if not s.source}
    assert skipped == {
        "Thumbs.db": "系统文件，已跳过", "desktop.ini": "系统文件，已跳过",
        "~$名册.xlsx": "Excel/WPS 打开文件时留下的临时文件，已跳过",
        "说明.txt": "不是表格文件（.txt），已跳过", "通知.docx": "不是表格文件（.docx），已跳过",
        "扫描件.pdf": "不是表格文件（.pdf），已跳过", "照片.jpg": "不是表格文件（.jpg），已跳过",
    }
    assert store.count("deaths") == 2


def test_text_named_xlsx_is_still_refused(store, tmp_path):
    path = tmp_path / "改名.xlsx"
    path.write_text("身份证号,死亡日期\n", encoding="utf-8")
    report = import_paths(store, [path])
    assert [f.reason for f in report.failures] == ["扩展名是 .xlsx，但内容是文本（可能是改了扩展名的 CSV），请把扩展名改为 .csv 后导入"]
