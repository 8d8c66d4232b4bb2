"""The CLI only translates: exit codes, Chinese messages, and --format json equal to the service result."""

from __future__ import annotations

import json
import os
import stat

import click
from typer.main import get_command
from typer.testing import CliRunner

from relief_cli.cli import app
from relief_cli.config import load_config
from relief_cli.importer import import_paths
from relief_cli.store import Store
from conftest import make_id, write_xlsx

ID1 = make_id(seq=81)
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_every_command_has_chinese_help():
    root = get_command(app)
    commands = dict(root.commands)
    commands.update({f"rules {k}": v for k, v in root.commands["rules"].commands.items()})
    commands.update({f"admin {k}": v for k, v in root.commands["admin"].commands.items()})
    for name, cmd in commands.items():
        assert cmd.help and any("\u4e00" <= ch <= "\u9fff" for ch in cmd.help), name
        for param in cmd.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert param.help and any("\u4e00" <= ch <= "\u9fff" for ch in param.help), f"{name} {param.name}"


def test_import_json_equals_service_result_and_bad_file_exits_1(dbs, tmp_path):
    good = write_xlsx(tmp_path / "d.xlsx", {"死亡": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(bytes(range(256)))
    result = run("import", good, bad, "--db", dbs.new("a.db"), "--format", "json")
    assert result.exit_code == 1
    assert f"无法导入 {bad}：扩展名是 .xlsx，但内容不是 Excel 工作簿（文件损坏或格式不符）" in result.stderr
    printed = json.loads(result.stdout)
    with Store(dbs.new("b.db"), load_config(None)) as store:
        expected = [s.as_dict() for s in import_paths(store, [good]).sheets]
    assert printed == expected
    assert set(printed[0]) == {"file", "sheet", "source", "rows", "imported", "updated", "unchanged", "rejected", "blanked", "ended", "import_id",
                               "rejects_file", "skipped_reason"}
    assert "Traceback" not in result.output


def test_database_is_owner_only(tmp_path):
    """SQLite only: the mode bits of the database file and its -wal/-shm (a server has no file)."""
    good = write_xlsx(tmp_path / "d.xlsx", {"死亡": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    assert run("import", good, "--db", tmp_path / "a.db").exit_code == 0
    for name in ("a.db", "a.db-wal", "a.db-shm"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name


def test_bad_rules_file_exits_1_listing_problems(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nsourcez: {}\n", encoding="utf-8")
    result = run("rules", "check", "--rules", rules)
    assert result.exit_code == 1
    assert "规则文件有误" in result.stderr and "sourcez: 未知的键（请检查拼写）" in result.stderr


def test_usage_errors(db, tmp_path):
    result = run("scan", "--db", db, "--as-of", "明天")
    assert result.exit_code == 2 and "--as-of 日期无法识别：明天" in result.stderr
    good = write_xlsx(tmp_path / "d.xlsx", {"死亡": [["身份证号", "死亡日期"], [ID1, "2026-11-01"]]})
    assert run("import", good, "--db", db).exit_code == 0
    result = run("checklist", "--community", "金口岭", "--db", db)
    assert result.exit_code == 1 and "找不到社区（村）「金口岭」" in result.stderr
    assert run("demo", "--db", "relief.db").exit_code == 2


def test_scan_alerts_and_audit(db, tmp_path):
    rows = [["身份证号", "确诊日期", "诊断"], [ID1, "2026-11-01", "白血病"]]
    good = write_xlsx(tmp_path / "i.xlsx", {"大病": rows})
    assert run("import", good, "--db", db).exit_code == 0
    dry = run("scan", "--db", db, "--as-of", "2026-11-20", "--dry-run")
    assert dry.exit_code == 0 and "预警试算（2026-11-20，未写入数据库）" in dry.stdout
    assert run("scan", "--db", db, "--as-of", "2026-11-20").exit_code == 0
    masked = json.loads(run("alerts", "--db", db, "--format", "json").stdout)
    assert masked[0]["id_no"] == ID1[:4] + "*" * 10 + ID1[-4:] and masked[0]["worker"] is None
    assert {"id", "rule", "rule_name", "family", "severity", "subject", "id_no", "name", "hukou_no", "community", "grid",
            "worker", "raised_on", "due_on", "status", "evidence", "outcome"} <= set(masked[0])
    shown = json.loads(run("alerts", "--db", db, "--format", "json", "--show-pii").stdout)
    assert shown[0]["id_no"] == ID1
    with Store(db, load_config(None)) as store:
        audit = store.conn.execute("SELECT command, rows, show_pii FROM audit ORDER BY id").fetchall()
    assert audit == [("alerts", 1, 0), ("alerts", 1, 1)]
    closed = run("outcome", "1", "--db", db, "--result", "无法联系", "--handler", "网格员甲", "--date", "2026-11-21")
    assert closed.exit_code == 0 and "办结预警 1 条" in closed.stdout
    bad = run("outcome", "1", "--db", db, "--result", "纳入救助", "--handler", "网格员甲")
    assert bad.exit_code == 1 and "必须填写救助类型" in bad.stderr
    history = json.loads(run("history", "1", "--db", db, "--format", "json").stdout)
    assert [h["outcome"] for h in history] == ["无法联系"]
    overdue = json.loads(run("overdue", "--db", db, "--as-of", "2026-12-31", "--allow-future", "--format", "json").stdout)
    assert overdue == []
    report = json.loads(run("report", "--db", db, "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json").stdout)
    assert report["total"]["raised"] == 1 and report["total"]["visited"] == 1


def test_admin_only_on_a_server(tmp_path):
    """relief admin manages a server's roles (tests/test_server.py); a SQLite file has none."""
    for args in (["grant", "--user", "a", "--city"], ["revoke", "--user", "a"], ["list"]):
        result = run("admin", *args, "--db", tmp_path / "relief.db")
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "只用于 PostgreSQL 服务器" in result.stderr
    assert not (tmp_path / "relief.db").exists()
