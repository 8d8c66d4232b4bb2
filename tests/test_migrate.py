"""relief migrate: a SQLite database copied onto an empty PostgreSQL database, checked table by table,
answers every question as the file did. Needs a test server (RELIEF_TEST_PG)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sqlite3

import pytest
from typer.testing import CliRunner

from relief_cli.cli import app
from relief_cli.config import load_config
from relief_cli.followup import Outcome, record_outcome, reopen
from relief_cli.history import undo_import
from relief_cli.importer import import_paths
from relief_cli.scan import scan
from relief_cli.store import Store
from conftest import PG_ADMIN, ROOT, pg_admin, pg_url

pytestmark = pytest.mark.skipif(not PG_ADMIN, reason="needs a PostgreSQL test server (RELIEF_TEST_PG)")
runner = CliRunner()
AS_OF = dt.date(2026, 11, 20)
LATE = "2026-12-04"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def city_file(tmp_path):
    """The sample city in a SQLite file, with visits registered (one reopened) and one import undone."""
    db = tmp_path / "relief.db"
    with Store(db, load_config(ROOT / "rules.yaml")) as store:
        assert not import_paths(store, [ROOT / "sample_data"], as_of=AS_OF).failures
        scan(store, AS_OF)
        ids = [r[0] for r in store.conn.execute("SELECT id FROM alerts ORDER BY id LIMIT 5")]
        record_outcome(store, ids[:2], Outcome("转办", dt.date(2026, 11, 21), "网格员甲", "医保局", "已转医保局核查"))
        record_outcome(store, ids[2:4], Outcome("无法联系", dt.date(2026, 11, 22), "网格员乙"))
        reopen(store, ids[2], "网格员乙", "联系上了")
        # A corrected settlement imported and taken back: the change log and the undone import come along.
        settlement, id_no = store.conn.execute("SELECT settlement_no, id_no FROM src_medical ORDER BY _id LIMIT 1").fetchone()
        fix = tmp_path / "fix.csv"
        with fix.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([["结算单号", "身份证号", "结算日期", "就诊类型", "个人自付"],
                                     [settlement, id_no, "2026-11-01", "门诊", "12.34"]])
        report = import_paths(store, [fix], as_of=AS_OF)
        assert report.sheets[0].updated == 1
        undo_import(store, report.sheets[0].import_id)
    return db


@pytest.fixture()
def empty_server():
    name = f"migrate_{__import__('os').getpid()}"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"')
    yield pg_url(name)
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def answers(db: str) -> dict[str, object]:
    """What the officers read: the alerts, the overdue list and the report, as JSON."""
    out = {}
    for name, args in {
        "open": ["alerts", "--format", "json"],
        "closed": ["alerts", "--status", "closed", "--format", "json"],
        "overdue": ["overdue", "--days", 5, "--as-of", LATE, "--allow-future", "--format", "json"],
        "report": ["report", "--to", LATE, "--format", "json"],
        "imports": ["imports", "--format", "json"],
    }.items():
        result = run(*args, "--db", db)
        assert result.exit_code == 0, result.output
        out[name] = json.loads(result.stdout)
    return out


def test_migrated_city_checks_out_and_answers_alike(city_file, empty_server):
    copied = sqlite3.connect(city_file).execute("SELECT count(*) FROM audit").fetchone()[0]
    result = run("migrate", "--from", city_file, "--to", empty_server)
    assert result.exit_code == 0, result.output
    assert "不一致" not in result.stdout and "逐表校验一致" in result.stdout
    for table in ("imports", "alerts", "outcomes", "import_changes", "src_medical", "calendar"):
        assert table in result.stdout
    before, after = answers(str(city_file)), answers(empty_server)
    assert before["open"] and before["closed"] and before["overdue"]
    # The history of imports differs only in what the target's audit adds (nothing shown here).
    assert after == before
    # New rows get ids past the copied ones.
    assert run("outcome", 5, "--result", "无法联系", "--handler", "网格员甲", "--db", empty_server).exit_code == 0
    with Store(empty_server, load_config(ROOT / "rules.yaml")) as store:
        top = store.conn.execute("SELECT max(id) FROM outcomes").fetchone()[0]
        assert top > store.conn.execute("SELECT count(*) FROM outcomes").fetchone()[0] - 1
        # The copied audit lines, then the migration's own, then those of the commands run since.
        commands = [r[0] for r in store.conn.execute("SELECT command FROM audit ORDER BY id")]
        assert commands[copied] == "migrate" and commands.count("migrate") == 1


def test_json_lists_every_table(city_file, empty_server):
    result = run("migrate", "--from", city_file, "--to", empty_server, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    tables = {t["table"]: t for t in data["tables"]}
    assert data["ok"] and {"audit", "alerts", "outcomes", "list_spans", "rejects", "reject_sheets", "listings",
                           "import_changes", "import_dates", "calendar", "imports", "src_population"} <= set(tables)
    assert all(t["ok"] and t["checksum"] == t["target_checksum"] and t["rows"] == t["target_rows"] for t in tables.values())
    assert tables["outcomes"]["rows"] == 5 and tables["import_changes"]["rows"] >= 0


def test_a_target_with_data_is_refused(city_file, empty_server):
    assert run("migrate", "--from", city_file, "--to", empty_server).exit_code == 0
    with Store(empty_server, load_config(ROOT / "rules.yaml")) as store:
        rows = store.conn.execute("SELECT count(*) FROM src_population").fetchone()[0]
    again = run("migrate", "--from", city_file, "--to", empty_server)
    assert again.exit_code == 1
    lines = [line for line in again.stderr.splitlines() if line.startswith("错误")]
    assert len(lines) == 1 and "不是空的" in lines[0], again.stderr
    with Store(empty_server, load_config(ROOT / "rules.yaml")) as store:
        assert store.conn.execute("SELECT count(*) FROM src_population").fetchone()[0] == rows


def test_wrong_directions_are_usage_errors(city_file, empty_server, tmp_path):
    assert run("migrate", "--from", city_file, "--to", tmp_path / "other.db").exit_code == 2
    assert run("migrate", "--from", empty_server, "--to", empty_server).exit_code == 2
    missing = run("migrate", "--from", tmp_path / "missing.db", "--to", empty_server)
    assert missing.exit_code == 1 and "不存在" in missing.stderr


def test_a_checksum_that_differs_rolls_everything_back(city_file, empty_server, monkeypatch):
    from relief_cli import migrate as module

    real = module.table_checksum
    calls = iter(range(10_000))

    def wrong_on_the_server(rows, numeric=()):  # every second call reads the server
        n, digest = real(rows, numeric)
        return n, digest if next(calls) % 2 == 0 else "0" * 64

    monkeypatch.setattr(module, "table_checksum", wrong_on_the_server)
    result = run("migrate", "--from", city_file, "--to", empty_server)
    assert result.exit_code == 1 and "不一致" in result.stdout and "撤回" in result.stdout
    with Store(empty_server, load_config(ROOT / "rules.yaml")) as store:
        assert store.conn.execute("SELECT count(*) FROM src_population").fetchone() == (0,)
        assert store.conn.execute("SELECT count(*) FROM audit").fetchone() == (0,)
