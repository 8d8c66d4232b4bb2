"""One bad file never costs the others, and rejected rows are never lost: they are kept in the
database with the file's data, and the rejects workbook is written from there (again if need be)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import openpyxl
from typer.testing import CliRunner

from relief_cli import xlsx
from relief_cli.cli import app
from relief_cli.config import load_config
from relief_cli.importer import import_paths
from relief_cli.store import Store
from conftest import make_id, pg_name

IDS = [make_id("340705", "19800101", i) for i in range(1, 40)]


def deaths(path, rows):
    path.write_text("身份证号,死亡日期\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    return path


def test_an_amount_beyond_any_budget_is_a_reject_not_a_crash(store, tmp_path):
    tuition = tmp_path / "学费.csv"
    tuition.write_text("身份证号,学校,入学日期,学费\n"
                       f"{IDS[0]},铜陵学院,2026-09-01,340705198001010011\n"  # an ID number typed into 学费
                       f"{IDS[1]},铜陵学院,2026-09-01,5000\n", encoding="utf-8")
    later = deaths(tmp_path / "死亡.csv", [(IDS[2], "2026-11-01")])
    report = import_paths(store, [tuition, later])
    assert report.failures == []
    assert [(s.source, s.imported, s.blanked) for s in report.sheets] == [("students", 2, 1), ("deaths", 1, 0)]
    assert store.conn.execute("SELECT reason FROM rejects").fetchone()[0].endswith(
        "金额大得不合理（超过一百万亿元），可能是把身份证号等数字填进了金额列")


def test_rejects_are_kept_in_the_database_with_the_data(store, tmp_path):
    path = deaths(tmp_path / "d.csv", [(IDS[0], "2026-11-01"), ("12345", "2026-11-01"), (IDS[1], "明天")])
    sheet = import_paths(store, [path]).sheets[0]
    stored = store.conn.execute("SELECT import_id, sheet, row, cells, reason FROM rejects ORDER BY id").fetchall()
    assert [(r[0], r[1], r[2], json.loads(r[3])) for r in stored] == [
        (sheet.import_id, "d", 3, ["12345", "2026-11-01"]), (sheet.import_id, "d", 4, [IDS[1], "明天"])]
    book = openpyxl.load_workbook(sheet.rejects_file).active
    assert [r[-3] for r in book.iter_rows(min_row=2, values_only=True)] == [s[4] for s in stored]


def test_a_rejects_workbook_that_cannot_be_written_costs_only_the_workbook(db, store, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    first = deaths(tmp_path / "a.csv", [(IDS[0], "2026-11-01"), ("12345", "2026-11-01")])
    second = deaths(tmp_path / "b.csv", [(IDS[1], "2026-11-01")])
    report = import_paths(store, [first, second], rejects_dir=blocker / "rejects")
    assert [(f.file, f.imported) for f in report.failures] == [(str(first), True)]
    assert report.failures[0].reason.startswith("拒收明细没能写出")
    assert f"relief rejects {report.sheets[0].import_id} --xlsx" in report.failures[0].reason
    assert store.count("deaths") == 2  # both files' data
    runner = CliRunner()
    target = tmp_path / "补写.xlsx"
    again = runner.invoke(app, ["rejects", str(report.sheets[0].import_id), "--db", db, "--xlsx", str(target)])
    assert again.exit_code == 0, again.output
    assert [r[-3] for r in openpyxl.load_workbook(target).active.iter_rows(min_row=2, values_only=True)] == [
        "「身份证号」列（A列）：身份证号长度应为18位或15位，实际为5位"]


def test_rejects_names_are_unique_per_input_and_short(store, tmp_path):
    (tmp_path / "一").mkdir()
    (tmp_path / "二").mkdir()
    long_name = "铜陵市民政局" * 13  # 78 characters: 234 bytes, more than a file name can add to
    paths = [deaths(tmp_path / "一" / "死亡.csv", [("12345", "2026-11-01")]),
             deaths(tmp_path / "二" / "死亡.csv", [("23456", "2026-11-01")]),
             deaths(tmp_path / f"{long_name}.csv", [("34567", "2026-11-01")])]
    report = import_paths(store, paths)
    assert report.failures == []
    files = [s.rejects_file for s in report.sheets]
    assert len(set(files)) == 3 and all(len(os.path.basename(f).encode("utf-8")) < 200 for f in files)


def test_rejects_beyond_excels_row_limit_continue_on_further_sheets(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 4)  # header + 3 rows a sheet
    out = tmp_path / "r.xlsx"
    xlsx.write_rows_workbook(out, [("明细", ["身份证号", "拒收原因"], ([f"x{i}", "=1+1"] for i in range(7)))])
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["明细", "明细（续1）", "明细（续2）"]
    assert [len(list(ws.iter_rows(values_only=True))) for ws in book] == [4, 4, 2]
    assert book["明细"]["B2"].value == "=1+1" and book["明细"]["B2"].data_type == "s"


def test_a_locked_database_fails_each_file_with_a_summary(db, tmp_path, monkeypatch):
    first = deaths(tmp_path / "a.csv", [(IDS[0], "2026-11-01")])
    second = deaths(tmp_path / "b.csv", [(IDS[1], "2026-11-01")])
    monkeypatch.chdir(tmp_path)  # where a server database's rejects go (<dbname>-rejects)
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(first), "--db", db]).exit_code == 0
    # Another officer's import holds the write lock: SQLite's on the file (BEGIN IMMEDIATE), a server's import lock.
    with Store(db, load_config(None)) as holder, holder.transaction():
        holder.lock_imports()
        done = subprocess.run([sys.executable, "-m", "relief_cli", "import", str(first), str(second), "--db", db],
                              capture_output=True, text=True, encoding="utf-8",
                              env={**os.environ, "RELIEF_BUSY_TIMEOUT_MS": "300", "PYTHONIOENCODING": "utf-8",
                                   "COLUMNS": "200"})
    assert done.returncode == 1
    assert "内部错误" not in done.stderr
    assert "导入结果" in done.stdout and done.stdout.count("未导入：") == 2
    assert done.stderr.count("数据库正被另一个 relief 进程写入") == 2


def test_a_kill_while_the_rejects_workbook_is_written_loses_nothing(db, dbs, tmp_path, monkeypatch):
    """The rows are in the database by then; the workbook is written beside and renamed, so a kill
    leaves no truncated workbook; the half-written copy goes at the next write, and relief rejects
    writes the whole workbook again."""
    data = deaths(tmp_path / "d.csv", [(f"1234{i}", "2026-11-01") for i in range(200)])
    monkeypatch.chdir(tmp_path)  # where a server database's rejects go (<dbname>-rejects)
    script = (
        "import os\n"
        "import openpyxl.cell\n"
        "real, count = openpyxl.cell.WriteOnlyCell, [0]\n"
        "def dying(*args, **kwargs):\n"
        "    count[0] += 1\n"
        "    if count[0] > 300:\n"
        "        os._exit(9)  # killed halfway through the rejects workbook\n"
        "    return real(*args, **kwargs)\n"
        "openpyxl.cell.WriteOnlyCell = dying\n"
        "from relief_cli.cli import app\n"
        "app()\n")
    done = subprocess.run([sys.executable, "-c", script, "import", str(data), "--db", db], capture_output=True)
    assert done.returncode == 9
    rejects_dir = tmp_path / f"{pg_name(db) if dbs.pg else 'relief'}-rejects"
    assert [p.name for p in rejects_dir.iterdir() if not p.name.startswith(".")] == []  # no truncated workbook
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (rejects_dir / f".d-拒收-1-20261129-000000.xlsx.relief-{int(dead.stdout)}.tmp").write_bytes(b"PK half")  # as a kill leaves it
    with Store(db, load_config(None)) as store:
        assert store.conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == 200
    runner = CliRunner()
    again = runner.invoke(app, ["rejects", "1", "--db", db])
    assert again.exit_code == 0, again.output
    assert list(rejects_dir.glob(".*.tmp")) == []
    book = [p for p in rejects_dir.iterdir()]
    assert len(book) == 1 and len(list(openpyxl.load_workbook(book[0]).active.iter_rows())) == 201
