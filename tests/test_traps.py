"""Mistakes an office makes in its first week: each gets one Chinese line and the right exit
code, never a silent empty result, a new empty database, or 内部错误."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relief_cli.cli import app
from relief_cli.config import default_rules_path
from relief_cli.pg import safe_url
from relief_cli.workdays import WorkCalendar
from conftest import ROOT, pg_admin, pg_name, pg_url

runner = CliRunner()


def run(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


READING = [
    ["scan"], ["alerts"], ["overdue"], ["checklist", "--community", "金口岭"], ["report"], ["history", "1"],
    ["outcome", "1", "--result", "无法联系", "--handler", "网格员甲"], ["reopen", "1"],
]


def server_objects(target: str) -> list[tuple]:
    """What a server database holds besides the system's: relations and functions."""
    return pg_admin("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' UNION ALL SELECT p.proname FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'", database=pg_name(target))


@pytest.mark.parametrize("args", READING, ids=lambda a: a[0])
def test_a_reading_command_never_creates_a_database(dbs, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    if not dbs.pg:
        db = tmp_path / "relief.db"
        result = run(*args, "--db", db)
        assert result.exit_code == 1
        assert result.stderr == f"错误：数据库 {db} 不存在；先用 relief import 导入数据\n"
        assert list(tmp_path.iterdir()) == []
        return
    # On a server the administrator creates the database: relief does not, nor gives an empty one its tables.
    missing = pg_url(f"missing{os.getpid()}")
    result = run(*args, "--db", missing)
    assert result.exit_code == 1
    assert result.stderr == f"错误：{safe_url(missing)}: 服务器上没有这个数据库，请让管理员先创建（createdb）\n"
    assert not pg_admin("SELECT 1 FROM pg_database WHERE datname = %s", (pg_name(missing),))
    empty = dbs.new()
    result = run(*args, "--db", empty)
    assert result.exit_code == 1
    assert result.stderr == f"错误：{safe_url(empty)}: 这个数据库里还没有 relief 的数据；先用 relief import 导入数据\n"
    assert server_objects(empty) == []
    assert list(tmp_path.iterdir()) == []


def test_commands_name_the_rules_file_they_apply(tmp_path, monkeypatch, sample_city, dbs):
    work = tmp_path / "work"
    work.mkdir()
    db = dbs.copy(sample_city, "work/relief.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run("scan", "--db", db, "--as-of", "2026-11-20", "--dry-run")
    assert result.exit_code == 0 and result.stderr.splitlines()[0] == "规则：内置规则"
    (work / "rules.yaml").write_text(default_rules_path().read_text(encoding="utf-8"), encoding="utf-8")
    result = run("scan", "--db", db, "--as-of", "2026-11-20", "--dry-run")
    if dbs.pg:  # a server database is in no folder: only the current folder's rules.yaml can be meant
        assert result.stderr.splitlines()[0] == "规则：内置规则" and "注意" not in result.stderr
    else:  # the rules.yaml beside the database file
        assert result.stderr.splitlines()[:2] == [
            "规则：内置规则",
            f"注意：{(work / 'rules.yaml').resolve()} 存在但没有使用（当前文件夹没有 rules.yaml）；"
            f"要用它，请加 --rules {(work / 'rules.yaml').resolve()}",
        ]
    monkeypatch.chdir(work)
    result = run("scan", "--db", db, "--as-of", "2026-11-20", "--dry-run")
    assert result.stderr.splitlines()[0] == "规则：rules.yaml"
    result = run("scan", "--db", db, "--as-of", "2026-11-20", "--dry-run", "--rules", work / "rules.yaml")
    assert result.stderr.splitlines()[0] == f"规则：{work / 'rules.yaml'}"


def test_rules_init_writes_an_editable_copy_and_never_overwrites_silently(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("rules", "init")
    assert result.exit_code == 0 and "已写出可编辑的规则文件 rules.yaml" in result.stdout
    written = (tmp_path / "rules.yaml").read_text(encoding="utf-8")
    assert written == default_rules_path().read_text(encoding="utf-8")
    (tmp_path / "rules.yaml").write_text(written.replace("visit_working_days: 5", "visit_working_days: 7"), encoding="utf-8")
    again = run("rules", "init")
    assert again.exit_code == 1 and again.stderr == "错误：rules.yaml 已存在，没有覆盖；确需覆盖请加 --force\n"
    assert "visit_working_days: 7" in (tmp_path / "rules.yaml").read_text(encoding="utf-8")
    assert run("rules", "check").stdout.startswith("rules.yaml：检查通过")
    assert run("rules", "init", "--force").exit_code == 0
    assert "visit_working_days: 5" in (tmp_path / "rules.yaml").read_text(encoding="utf-8")
    folder = run("rules", "init", "--out", tmp_path)
    assert folder.exit_code == 1 and "是一个文件夹" in folder.stderr


def test_rules_written_by_notepad_with_a_bom_and_crlf_are_read(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"\xef\xbb\xbf" + default_rules_path().read_bytes().replace(b"\n", b"\r\n"))
    result = run("rules", "check", "--rules", rules)
    assert result.exit_code == 0, result.output
    rules.write_bytes(default_rules_path().read_text(encoding="utf-8").encode("gbk"))
    result = run("rules", "check", "--rules", rules)
    assert result.exit_code == 1 and "不是 UTF-8 编码的文本文件（用记事本打开后“另存为”，编码选 UTF-8）" in result.stderr


def test_a_future_as_of_is_refused_unless_allowed(sample_city):
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    for args in (["scan", "--dry-run"], ["overdue"], ["checklist", "--community", "金口岭"]):
        refused = run(*args, "--db", sample_city, "--as-of", tomorrow)
        assert refused.exit_code == 2
        assert refused.stderr == (f"错误：--as-of {tomorrow} 晚于今天（{dt.date.today()}）；"
                                  "确需按未来日期计算时请加 --allow-future\n")
        assert run(*args, "--db", sample_city, "--as-of", tomorrow, "--allow-future").exit_code == 0


def test_a_year_without_a_known_holiday_schedule_is_warned(sample_city, tmp_path):
    year = next(y for y in range(dt.date.today().year, 2100) if not WorkCalendar().knows_year(y))
    warning = f"注意：已安装的节假日日历还没有 {year} 年的放假和调休安排"
    result = run("scan", "--db", sample_city, "--as-of", f"{year}-03-02", "--allow-future", "--dry-run")
    assert result.exit_code == 0 and warning in result.stderr and "rules.yaml 的 calendar" in result.stderr
    # Due dates of a scan in late December fall in the next year.
    late = run("scan", "--db", sample_city, "--as-of", f"{year - 1}-12-28", "--allow-future", "--dry-run")
    assert warning in late.stderr
    assert "注意" not in run("scan", "--db", sample_city, "--as-of", "2026-11-20", "--dry-run").stderr
    rules = tmp_path / "rules.yaml"
    text = default_rules_path().read_text(encoding="utf-8")
    rules.write_text(text.replace("  holidays: []", f"  holidays: [{year}-01-01]"), encoding="utf-8")
    added = run("scan", "--db", sample_city, "--as-of", f"{year}-03-02", "--allow-future", "--dry-run", "--rules", rules)
    assert added.exit_code == 0 and warning not in added.stderr


def test_the_installed_calendar_knows_2025_and_2026():
    """With holidays < 0.85, 108 of 714 due dates in 2025-2026 came out wrong."""
    cal = WorkCalendar()
    assert cal.knows_year(2025) and cal.knows_year(2026)
    assert cal.add_workdays(dt.date(2025, 9, 26), 5) == dt.date(2025, 10, 10)  # 9-28 (Sunday) and 10-11 worked
    assert cal.add_workdays(dt.date(2025, 1, 24), 5) == dt.date(2025, 2, 7)  # 1-26 (Sunday) worked, 1-28..2-4 off
    assert cal.add_workdays(dt.date(2026, 2, 13), 5) == dt.date(2026, 2, 27)  # 2-14 (Saturday) worked, 2-15..2-23 off
    assert cal.add_workdays(dt.date(2026, 4, 30), 5) == dt.date(2026, 5, 11)  # 5-1..5-5 off, 5-9 (Saturday) worked


@pytest.mark.parametrize("args,message", [
    (["alerts", "--community", "不存在"], "错误：找不到社区（村）「不存在」，可选的有："),
    (["alerts", "--grid", "第99网格"], "错误：找不到网格「第99网格」，可选的有："),
    (["alerts", "--rule", "no_such_rule"], "错误：找不到规则「no_such_rule」，可选的有："),
    (["alerts", "--family", "不存在的模型"], "错误：找不到模型「不存在的模型」，可选的有："),
    (["overdue", "--community", "不存在"], "错误：找不到社区（村）「不存在」，可选的有："),
    (["checklist", "--community", "不存在"], "错误：找不到社区（村）「不存在」"),
    (["checklist", "--community", "金口岭", "--grid", "第9网格"],
     "错误：金口岭社区没有名称含「第9网格」的网格，该社区的网格有：金口岭社区第1网格、"),
])
def test_a_filter_that_matches_nothing_says_so(sample_city, args, message):
    result = run(*args, "--db", sample_city)
    assert result.exit_code == 1 and result.stderr.splitlines()[-1].startswith(message), result.stderr
    assert result.stdout == ""


def test_a_community_without_alerts_is_an_empty_list_not_an_error(sample_city):
    assert run("alerts", "--db", sample_city, "--community", "金口岭", "--status", "closed").exit_code == 0


def test_export_targets_an_office_gets_wrong(sample_city, tmp_path, monkeypatch):
    folder = tmp_path / "导出"
    folder.mkdir()
    result = run("alerts", "--db", sample_city, "--xlsx", folder)
    assert result.exit_code == 1 and result.stderr == f"错误：{folder} 是一个文件夹，请写出文件名，例如 {folder / '导出.xlsx'}\n"
    result = run("overdue", "--db", sample_city, "--as-of", "2026-11-27", "--xlsx", tmp_path / "超期.csv")
    assert result.exit_code == 1 and result.stderr == f"错误：{tmp_path / '超期.csv'}：导出文件的扩展名应为 .xlsx，例如 超期.xlsx\n"
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    result = run("report", "--db", sample_city, "--xlsx", blocker / "月报.xlsx")
    assert result.exit_code == 1 and "所在的文件夹无法创建" in result.stderr
    assert list(folder.iterdir()) == []


def test_a_workbook_open_in_excel_is_one_chinese_line(sample_city, tmp_path, monkeypatch):
    """Windows refuses to replace a file Excel or WPS holds open with a sharing violation, which
    Python raises as PermissionError; the same error stands in for it here (Linux has no such lock)."""
    target = tmp_path / "预警.xlsx"
    target.write_bytes(b"held by Excel")
    real_replace = os.replace

    def locked(src, dst, *args, **kwargs):
        if Path(dst) == target:
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", locked)
    result = run("alerts", "--db", sample_city, "--xlsx", target)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"错误：无法写入 {target}：文件正被其他程序（如 Excel、WPS）打开，或没有写入权限；请关闭该文件或换一个位置后重试")
    assert target.read_bytes() == b"held by Excel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["预警.xlsx"]  # no half-written file left beside it


def test_a_failed_export_leaves_the_earlier_workbook_whole(sample_city, tmp_path, monkeypatch):
    target = tmp_path / "月报.xlsx"
    assert run("report", "--db", sample_city, "--to", "2026-11-20", "--xlsx", target).exit_code == 0
    before = target.read_bytes()
    import openpyxl.workbook.workbook as wbmod

    def full_disk(self, f):
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wbmod.Workbook, "save", full_disk)
    result = run("report", "--db", sample_city, "--to", "2026-11-20", "--xlsx", target)
    assert result.exit_code == 1 and result.stderr.strip().endswith(f"错误：无法写入 {target}：磁盘空间不足")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["月报.xlsx"]


def test_sample_out_must_be_a_folder(tmp_path):
    existing = tmp_path / "样例.xlsx"
    existing.write_text("x", encoding="utf-8")
    result = run("sample", "--out", existing)
    assert result.exit_code == 1 and result.stderr == f"错误：{existing} 是一个文件，--out 应为文件夹\n"
    assert existing.read_text(encoding="utf-8") == "x"


# The demo drops and rebuilds a database file of its own: SQLite only (a server address is refused, below).
def test_demo_with_a_missing_data_folder(tmp_path):
    result = run("demo", "--db", tmp_path / "d.db", "--data", tmp_path / "nope")
    assert result.exit_code == 1 and "样例数据文件夹" in result.stderr and "不存在" in result.stderr


def test_demo_never_uses_a_server(tmp_path, monkeypatch):
    """Path() would have made folders of the address (postgresql:/…) and rebuilt a database there."""
    monkeypatch.chdir(tmp_path)
    result = run("demo", "--db", "postgresql://relief@127.0.0.1:1/relief")
    assert result.exit_code == 2 and result.stderr == (
        "错误：演示每次重建它的数据库，只用本机的数据库文件，不用服务器地址；请用 --db 指定一个文件名，如 relief-demo.db\n")
    assert list(tmp_path.iterdir()) == []


def test_readme_exit_codes_match_the_program():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ("退出码：0 成功；1 数据或文件有问题（已说明原因），或输出管道被提前关闭；2 命令用法错误（选项写错、缺少必填项、"
            "取值不在可选范围）；130 被 Ctrl+C 中断") in text
