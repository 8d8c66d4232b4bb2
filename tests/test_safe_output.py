"""Safe output: nothing a department's cell holds can act on the terminal or break a workbook;
no export through a link; no personal data shown without an audit row first; files owner-only."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from relief_cli.cli import app
from relief_cli.config import load_config
from relief_cli.importer import SPILL_PREFIX, remove_stale_spills
from relief_cli.render import alerts_table, visible
from relief_cli.store import Store
from relief_cli.xlsx import SheetSpec, write_workbook
from conftest import pg_admin, pg_name, pg_url

runner = CliRunner()
ESCAPES = "\x1b[2K\x1b[1A\u202e\x07"


def test_terminal_escapes_from_cells_are_shown_not_acted_on():
    row = {"id": 7, "id_no": "3407**********0011", "name": "测*", "due_on": "2026-11-27", "status": "open",
           "worker": f"网格员{ESCAPES}", "grid": f"第一{ESCAPES}网格", "community": "金口岭社区",
           "rule_name": "医疗费用骤增", "severity": "红", "evidence": f"依据{ESCAPES}"}
    buffer = io.StringIO()
    Console(file=buffer, width=120).print(alerts_table([row]))
    text = buffer.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[2K\\x1b[1A\\u202e\\x07" in text
    assert visible("正常的文字\n第二行") == "正常的文字\n第二行"


def test_control_characters_never_reach_a_workbook(tmp_path):
    out = tmp_path / "o.xlsx"
    write_workbook(out, [SheetSpec(f"铜官{ESCAPES}街道", ["网格"], [[f"第一{ESCAPES}网格"]]),
                         SheetSpec("\x00\x01", ["a"], [["=cmd|' /C calc'!A0"]])])
    book = openpyxl.load_workbook(out)  # a control character in a sheet name would make Excel refuse the file
    assert all(ch.isprintable() for name in book.sheetnames for ch in name)
    assert book.worksheets[0]["A2"].value == "第一[2K[1A\u202e网格"
    assert book.worksheets[1]["A2"].data_type == "s"


def test_an_export_through_a_link_is_refused(sample_city, tmp_path):
    target = tmp_path / "别人的文件.xlsx"
    target.write_bytes(b"keep")
    link = tmp_path / "预警.xlsx"
    link.symlink_to(target)
    result = runner.invoke(app, ["alerts", "--db", str(sample_city), "--xlsx", str(link)])
    assert result.exit_code == 1 and "是一个链接（快捷方式），relief 不向链接写入" in result.stderr
    assert target.read_bytes() == b"keep"


def audit_rows(db: str) -> list[tuple]:
    with Store(db, load_config(None)) as store:
        return store.conn.execute("SELECT id, os_user, command FROM audit ORDER BY id").fetchall()


def test_who_is_the_operating_system_account_not_an_environment_variable(sample_city, dbs):
    db = dbs.copy(sample_city)
    result = runner.invoke(app, ["alerts", "--db", db, "--format", "json"], env={"LOGNAME": "mallory", "USER": "mallory"})
    assert result.exit_code == 0, result.output
    who = audit_rows(db)[-1][1]
    assert who != "mallory" and who


def test_no_full_ids_without_an_audit_row(sample_city, dbs):
    db = dbs.copy(sample_city)
    before = audit_rows(db)
    env = {**os.environ, "RELIEF_BUSY_TIMEOUT_MS": "300", "PYTHONIOENCODING": "utf-8"}
    show = [sys.executable, "-m", "relief_cli", "alerts", "--show-pii", "--format", "json", "--db"]
    if dbs.pg:  # a role that may read everything but not write the audit: the audit row cannot be written
        role = f"reader{os.getpid()}"
        pg_admin(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
        try:
            for sql in (f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
                        f"GRANT CREATE ON SCHEMA public TO {role}"):  # (relief's CREATE ... IF NOT EXISTS asks for it)
                pg_admin(sql, database=pg_name(db))
            done = subprocess.run([*show, pg_url(pg_name(db), role, "pw")], capture_output=True, text=True,
                                  encoding="utf-8", env=env)
        finally:
            pg_admin(f"DROP OWNED BY {role}", database=pg_name(db))
            pg_admin(f"DROP ROLE {role}")
        refused = "当前数据库用户没有这项操作的权限"
    else:
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the audit row cannot be written
        try:
            done = subprocess.run([*show, db], capture_output=True, text=True, encoding="utf-8", env=env)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        refused = "数据库正被另一个 relief 进程写入"
    assert done.returncode == 1 and done.stdout == ""
    assert refused in done.stderr, done.stderr
    assert audit_rows(db) == before


# SQLite only: the modes of the database file and its -wal/-shm.
@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="no owner-only mode bits on this system")
def test_an_existing_database_is_tightened_to_owner_only(sample_city, tmp_path):
    db = tmp_path / "r.db"
    db.write_bytes(Path(sample_city).read_bytes())
    os.chmod(db, 0o644)
    runner.invoke(app, ["alerts", "--db", str(db)])
    for name in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        if name.exists():
            assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name


def test_spill_folders_of_dead_imports_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = Path(tempfile.gettempdir()) / f"{SPILL_PREFIX}{int(dead.stdout)}-test"
    gone.mkdir()
    (gone / "0.spill").write_bytes(b"personal data")
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    kept = Path(tempfile.gettempdir()) / f"{SPILL_PREFIX}{living.pid}-test"
    kept.mkdir()
    try:
        removed = remove_stale_spills()
        assert gone in removed and not gone.exists()
        assert kept.exists()
    finally:
        living.kill()
        living.wait()
        kept.rmdir()


def test_other_programs_temporary_files_are_left_alone(sample_city, tmp_path):
    theirs = tmp_path / ".草稿.12345678.tmp"  # looks like a pid, is not relief's
    theirs.write_bytes(b"someone else's")
    assert runner.invoke(app, ["alerts", "--db", str(sample_city), "--xlsx", str(tmp_path / "预警.xlsx")]).exit_code == 0
    assert theirs.read_bytes() == b"someone else's"
