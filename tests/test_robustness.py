"""Broken input, crashes and concurrent writers never corrupt or half-write the database."""

from __future__ import annotations

import csv
import io
import os
import random
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl

from relief_cli.config import load_config
from relief_cli.importer import import_paths
from relief_cli.pg import is_url
from relief_cli.store import Store
from conftest import DATA, crashing_parse, make_id, pg_admin, pg_name, write_xlsx

LONG = os.environ.get("RELIEF_LONG_TESTS") == "1"
IDS = [make_id("340705", "19800101", i) for i in range(1, 200)]


def relief(*args, env=None, **kw):
    """relief in a process of its own (run where a server database's rejects folder may go: cwd)."""
    return subprocess.Popen([sys.executable, "-m", "relief_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, **kw)


def dump(db: str | Path) -> str | list:
    """Everything the database holds. A SQLite file: checked whole, then as SQL text. A server database:
    its tables, columns and indexes, and every table's rows in an explicit order (a rolled-back
    transaction still uses up sequence numbers: those are not contents)."""
    if is_url(db):
        return server_dump(pg_name(str(db)))
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def server_dump(name: str) -> list:
    columns = pg_admin("SELECT table_name, column_name, data_type FROM information_schema.columns c "
                       "WHERE table_schema = 'public' AND EXISTS (SELECT 1 FROM information_schema.tables t WHERE "
                       "t.table_schema = 'public' AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE') "
                       "ORDER BY table_name, ordinal_position", database=name)
    out: list = [columns, pg_admin("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                                   "ORDER BY indexname", database=name)]
    tables: dict[str, int] = {}
    for table, _, _ in columns:
        tables[table] = tables.get(table, 0) + 1
    for table, width in tables.items():
        order = ", ".join(str(i) for i in range(1, width + 1))
        out.append((table, pg_admin(f'SELECT * FROM "{table}" ORDER BY {order}', database=name)))
    return out


def server_sessions(name: str) -> list[tuple]:
    """The server's other sessions on a database, and whatever locks they hold there."""
    return pg_admin("SELECT a.pid, a.state, a.backend_xid::text, (SELECT count(*) FROM pg_locks l WHERE l.pid = a.pid) "
                    "FROM pg_stat_activity a WHERE a.datname = %s AND a.pid <> pg_backend_pid()", (name,))


def wait_for(predicate, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def big_csv(path: Path, rows: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["结算单号", "身份证号", "结算日期", "个人自付"])
        for i in range(rows):
            w.writerow([f"B{i}", IDS[i % len(IDS)], "2026-03-01", "12.50"])
    return path


def test_killed_imports_leave_the_database_exactly_as_before(db, tmp_path):
    small = write_xlsx(tmp_path / "d.xlsx", {"死亡": [["身份证号", "死亡日期"], [IDS[0], "2026-11-01"]]})
    first = relief("import", small, "--db", db, cwd=tmp_path)
    assert first.wait() == 0
    before = dump(db)
    big = big_csv(tmp_path / "big.csv", 400_000)  # several seconds to import: the kill lands mid-way
    rng = random.Random(11)
    for _ in range(20 if LONG else 3):
        proc = relief("import", big, "--db", db, cwd=tmp_path)
        if is_url(db):  # the kill lands inside the file's transaction, after it has written
            assert wait_for(lambda: any(xid for _, _, xid, _ in server_sessions(pg_name(db)))), "no transaction began"
        time.sleep(rng.uniform(0.3, 1.5))
        proc.kill()
        proc.wait()
        assert proc.returncode == -9, "import finished before it could be killed: make the file larger"
        if is_url(db):  # the server ends the dead client's session and rolls its transaction back
            assert wait_for(lambda: server_sessions(pg_name(db)) == []), server_sessions(pg_name(db))
        assert dump(db) == before


def test_second_writer_waits_then_gives_up_with_a_clear_message(db, tmp_path):
    small = write_xlsx(tmp_path / "d.xlsx", {"死亡": [["身份证号", "死亡日期"], [IDS[0], "2026-11-01"]]})
    assert relief("import", small, "--db", db, cwd=tmp_path).wait() == 0
    # Another officer's import holds the write lock: SQLite's on the file (BEGIN IMMEDIATE), a server's import lock.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from relief_cli.config import load_config\n"
        "from relief_cli.store import Store\n"
        f"s = Store({str(db)!r}, load_config(None))\n"
        "with s.transaction():\n"
        "    s.lock_imports(); print('locked', flush=True); time.sleep(float(sys.argv[1]))"
    ), "4"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    other = write_xlsx(tmp_path / "e.xlsx", {"死亡": [["身份证号", "死亡日期"], [IDS[1], "2026-11-02"]]})
    gave_up = relief("import", other, "--db", db, env={"RELIEF_BUSY_TIMEOUT_MS": "500"}, cwd=tmp_path)
    _, err = gave_up.communicate(timeout=60)
    assert gave_up.returncode == 1
    assert "数据库正被另一个 relief 进程写入，等待 0 秒后仍未释放，请稍后再试" in err.decode()
    waited = relief("import", other, "--db", db, env={"RELIEF_BUSY_TIMEOUT_MS": "20000"}, cwd=tmp_path)
    assert waited.wait(timeout=60) == 0
    holder.wait()
    with Store(db, load_config(None)) as store:
        assert store.count("deaths") == 2


def mutations(data: bytes, rng: random.Random, count: int):
    for _ in range(count):
        b = bytearray(data)
        how = rng.randrange(4)
        if how == 0:
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif how == 1:
            del b[rng.randrange(len(b)):]
        elif how == 2:
            start = rng.randrange(len(b))
            b[start:start + rng.randint(1, 400)] = b""
        else:
            start = rng.randrange(len(b))
            b[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 50)))
        yield bytes(b)


def test_fuzzed_workbooks_never_raise(store, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["结算单号", "身份证号", "结算日期", "个人自付"])
    for i in range(30):
        ws.append([f"F{i}", IDS[i], "2026-03-01", 5])
    buf = io.BytesIO()
    wb.save(buf)
    seeds = [buf.getvalue(), (DATA / "roster.xls").read_bytes(), (DATA / "contributions_gbk.csv").read_bytes()]
    rng = random.Random(5)
    n = 3000 if LONG else 300
    for i, data in enumerate(m for seed in seeds for m in mutations(seed, rng, n // len(seeds))):
        suffix = [".xlsx", ".xls", ".csv"][i * len(seeds) // n]
        path = tmp_path / f"f{i}{suffix}"
        path.write_bytes(data)
        report = import_paths(store, [path])  # must not raise: a failure or a result per file
        assert len(report.failures) + len({s.file for s in report.sheets}) == 1
        path.unlink()
    if not store.pg:  # the file's own check; a server keeps no file relief could leave broken
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_zip_bomb_is_refused_before_parsing(store, tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (64 << 20))
    report = import_paths(store, [path])
    assert [f.reason for f in report.failures] == ["工作簿压缩比超过 100 倍，疑似压缩炸弹，已拒绝读取"]
    missing = tmp_path / "nocontent.xlsx"
    with zipfile.ZipFile(missing, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    assert [f.reason for f in import_paths(store, [missing]).failures] == ["文件缺少 [Content_Types].xml，不是有效的 Excel 工作簿"]


def test_no_written_cell_is_a_formula(store, tmp_path):
    path = tmp_path / "inj.csv"
    path.write_text("身份证号,死亡日期\n=HYPERLINK(\"http://x\"),2026-11-01\n", encoding="utf-8")
    result = import_paths(store, [path]).sheets[0]
    ws = openpyxl.load_workbook(result.rejects_file).active
    cell = ws["A2"]
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s"


def test_a_stray_cell_in_column_xfd_does_not_widen_every_row(store, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["身份证号", "死亡日期"])
    ws.append([IDS[0], "2026-11-01"])
    ws["XFD1048576"] = 1  # loaded whole, this would be a 17-billion-cell range
    sparse = tmp_path / "sparse.xlsx"
    wb.save(sparse)
    report = import_paths(store, [sparse])
    assert report.failures == []
    assert (report.sheets[0].rows, report.sheets[0].imported, report.sheets[0].rejected) == (1, 1, 0)


def test_a_worker_that_dies_takes_only_its_file_down(store, tmp_path):
    crash = tmp_path / "crash.csv"
    crash.write_text("身份证号,死亡日期\n", encoding="utf-8")
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["身份证号", "死亡日期"], [IDS[0], "2026-11-01"]]})
    report = import_paths(store, [crash, good], parse=crashing_parse)
    assert [f.reason for f in report.failures] == [
        "读取文件时程序异常退出（文件可能已损坏，或内容超出可处理的范围），该文件未导入"]
    assert store.count("deaths") == 1


def test_first_commands_racing_on_a_new_database_all_succeed(db, tmp_path):
    """Two officers start relief on the same new database at once: the schema is created once."""
    data = tmp_path / "d.csv"
    data.write_text("身份证号,死亡日期\n" + IDS[0] + ",2026-11-01\n", encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, "-m", "relief_cli", "import", str(data), "--db", str(db), "--format", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path) for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read().decode("utf-8", "replace")) for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert not any("内部错误" in err for _, err in results)
