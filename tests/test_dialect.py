"""One SQL text for both stores: the translation of SQLite's dialect for PostgreSQL (dialect.py).

The translations are pinned as text; with a server (RELIEF_TEST_PG), the same expressions are
evaluated by SQLite and by PostgreSQL and must give the same values: amounts in 元, number
formats, dates, JSON lists, comparisons used as numbers.
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relief_cli.dialect import Untranslatable, to_postgres, writes
from relief_cli.kinds.common import yuan
from relief_cli.values import mask_name

from conftest import PG_ADMIN, pg_admin, pg_url


@pytest.mark.parametrize("sqlite, postgres", [
    ("SELECT value FROM json_each(?)",
     "SELECT value FROM SQLITE_JSON_EACH(CAST(%s AS TEXT)) AS json_each"),
    ("INSERT OR IGNORE INTO t (a) VALUES (:a)", "INSERT INTO t (a) VALUES (%(a)s) ON CONFLICT DO NOTHING"),
    ("SELECT a FROM t WHERE a LIKE '%x' AND b = ?", "SELECT a FROM t WHERE a LIKE '%%x' AND b = %s"),
    ("SELECT SUM(a > b) FROM t", "SELECT SUM(CAST(a > b AS INT)) FROM t"),
    ("SELECT a FROM t WHERE a IS NOT b", "SELECT a FROM t WHERE a IS DISTINCT FROM b"),
    ("SELECT h.id_no, h.gap, COUNT(*) FROM h GROUP BY h.id_no",
     "SELECT h.id_no, h.gap, COUNT(*) FROM h GROUP BY h.id_no, h.gap"),
    ("CREATE TEMP TABLE x (id_no TEXT PRIMARY KEY, total) WITHOUT ROWID",
     "CREATE TEMPORARY TABLE x (id_no TEXT PRIMARY KEY, total DECIMAL)"),
    ("CREATE UNIQUE INDEX temp.x_pk ON x (id_no)", "CREATE UNIQUE INDEX x_pk ON x(id_no NULLS FIRST)"),
    ("SELECT * FROM t r NOT INDEXED, u INDEXED BY u_key", "SELECT * FROM t AS r CROSS JOIN u"),
    ("SELECT julianday(d) - julianday(:as_of) FROM t",
     "SELECT SQLITE_JULIANDAY(d) - SQLITE_JULIANDAY(%(as_of)s) FROM t"),
    ("SELECT * FROM (SELECT 1)", "SELECT * FROM (SELECT 1) AS _sub"),
    ("SELECT group_concat(DISTINCT grade) FROM t", "SELECT STRING_AGG(DISTINCT CAST(grade AS TEXT), ',') FROM t"),
    ("SELECT CAST(julianday(d) AS INTEGER) FROM t",  # what is cast is translated too
     "SELECT CAST(TRUNC(CAST(SQLITE_JULIANDAY(d) AS DECIMAL)) AS BIGINT) FROM t"),
])
def test_translations_are_pinned(sqlite, postgres):
    got = to_postgres(sqlite)
    if postgres.endswith("AS _sub"):  # the generated alias carries a number
        assert got.startswith(postgres)
    else:
        assert got == postgres


def test_what_has_no_server_meaning_is_refused():
    with pytest.raises(Untranslatable):
        to_postgres("INSERT OR REPLACE INTO t (a) VALUES (1)")


@pytest.mark.parametrize("sql, writing", [
    ("SELECT 1", False),
    ("WITH x AS (SELECT 1) SELECT * FROM x", False),
    ("WITH x AS (DELETE FROM alerts RETURNING id) SELECT * FROM x", True),
    ("SELECT 1; DROP TABLE alerts", True),
    ("UPDATE alerts SET status = 'closed'", True),
])
def test_a_rule_query_that_writes_is_seen(sql, writing):
    assert writes(sql) is writing


needs_server = pytest.mark.skipif(not PG_ADMIN, reason="没有 PostgreSQL 测试服务器（RELIEF_TEST_PG）")


@pytest.fixture(scope="module")
def both():
    """(evaluate on SQLite, evaluate on PostgreSQL) of one expression in SQLite's dialect."""
    from relief_cli.config import load_config
    from relief_cli.store import Store

    name = "dialect_parity"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"')
    server = Store(pg_url(name), load_config(None))  # creates the compat functions
    lite = sqlite3.connect(":memory:")
    lite.create_function("yuan", 1, yuan, deterministic=True)
    lite.create_function("mask_name", 1, mask_name, deterministic=True)

    def on_sqlite(sql: str, params: dict) -> list:
        return lite.execute(sql, params).fetchall()

    def on_server(sql: str, params: dict) -> list:
        return [tuple(r) for r in server.conn.execute(sql, params).fetchall()]

    yield on_sqlite, on_server
    server.close()
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@needs_server
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fen=st.one_of(st.integers(-10**12, 10**12), st.integers(-10**6, 10**6).map(lambda n: n / 2)))
def test_amounts_in_yuan_are_the_same(both, fen):
    lite, server = both
    sql = "SELECT yuan(:x), yuan(CAST(:x AS INTEGER) * 3), yuan(NULL)"
    assert lite(sql, {"x": fen}) == server(sql, {"x": fen})


@needs_server
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.integers(0, 10**9), b=st.integers(1, 10**7), n=st.integers(0, 9999))
def test_number_formats_are_the_same(both, a, b, n):
    lite, server = both
    sql = ("SELECT printf('%.1f', :a * 1.0 / :b), printf('%.0f', (1 - :a * 1.0 / (:a + :b)) * 100), "
           "printf('%.2f', :b * 1.0 / 7), printf('%04d%02d', :n / 12, :n % 12 + 1), printf('%d年%02d月', :n / 12, :n % 12 + 1)")
    assert lite(sql, {"a": a, "b": b, "n": n}) == server(sql, {"a": a, "b": b, "n": n})


@needs_server
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.dates(min_value=__import__("datetime").date(1950, 1, 1),
                    max_value=__import__("datetime").date(2060, 12, 31)),
       days=st.integers(-800, 800))
def test_dates_are_the_same(both, day, days):
    lite, server = both
    sql = ("SELECT date(:d, :m), julianday(:d) - julianday('2026-11-20'), date(:d), "
           "julianday(:d) > julianday('2026-11-20') - :n, date(substr(:d, 1, 8) || '01', '+1 month')")
    params = {"d": day.isoformat(), "m": f"{days:+d} days", "n": days}
    assert lite(sql, params) == server(sql, params)


@needs_server
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(st.characters(min_codepoint=0x4e00, max_codepoint=0x4fff), min_size=0, max_size=4),
                      max_size=5))
def test_lists_names_and_comparisons_are_the_same(both, names):
    import json

    lite, server = both
    sql = ("SELECT (SELECT count(*) FROM json_each(:j)), (SELECT group_concat(mask_name(value), '、') FROM json_each(:j)), "
           "(SELECT SUM(length(value) > 1) FROM json_each(:j)), 'x' IN (SELECT value FROM json_each(:j))")
    params = {"j": json.dumps(names, ensure_ascii=False)}
    assert lite(sql, params) == server(sql, params)


@needs_server
def test_json_each_gives_keys_of_objects_and_numbers_as_text_to_cast(both):
    lite, server = both
    sql = ("SELECT key, CAST(value AS INTEGER) FROM json_each(:j) ORDER BY key")
    params = {"j": '{"低保": 120000, "特困": 150000}'}
    assert lite(sql, params) == server(sql, params) == [("低保", 120000), ("特困", 150000)]


@needs_server
def test_the_sample_city_raises_the_same_alerts_on_both_stores(tmp_path):
    """The same data, the same rules.yaml: every alert, every column, ids and source records
    included (refs compared as data: the two stores write JSON with different spacing)."""
    import datetime as dt
    import json
    from pathlib import Path

    from relief_cli.config import load_config
    from relief_cli.importer import import_paths
    from relief_cli.scan import scan
    from relief_cli.store import Store

    root = Path(__file__).parent.parent
    name = "same_alerts"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_admin(f'CREATE DATABASE "{name}"')
    dumps = []
    try:
        for target in (str(tmp_path / "relief.db"), pg_url(name)):
            with Store(target, load_config(root / "rules.yaml")) as store:
                assert not import_paths(store, [root / "sample_data"], rejects_dir=tmp_path / "rejects").failures
                scan(store, dt.date(2026, 11, 20))
                cur = store.conn.execute("SELECT * FROM alerts ORDER BY id")
                names = [d[0] for d in cur.description]
                dumps.append([{**dict(zip(names, row)), "refs": json.loads(row[names.index("refs")])}
                              for row in cur.fetchall()])
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    lite, server = dumps
    assert len(lite) == 140
    assert lite == server


# -- translations kept between runs (pg.Translations) ------------------------------------------------

def test_translations_are_kept_and_a_later_run_needs_no_translator(tmp_path):
    import subprocess
    import sys

    from relief_cli.pg import Translations

    sql = "SELECT id FROM alerts WHERE instr(community, :c) > 0 AND raised_on > date(:d, '-7 days')"
    first = Translations(tmp_path)
    assert first(sql) == to_postgres(sql)
    first.save()
    [kept] = tmp_path.glob("sql-postgres-*.json")
    if hasattr(__import__("os"), "fchmod"):
        assert kept.stat().st_mode & 0o777 == 0o600
    # A new process reads it: the same text, and sqlglot is never imported.
    probe = ("import sys; from pathlib import Path; from relief_cli.pg import Translations; "
             f"t = Translations(Path({str(tmp_path)!r})); print(t({sql!r})); print('sqlglot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [to_postgres(sql), "False"]


def test_a_damaged_or_unwritable_cache_is_only_slower(tmp_path, monkeypatch):
    from relief_cli import pg
    from relief_cli.pg import Translations

    sql = "SELECT COUNT(*) FROM alerts WHERE status = 'open'"
    monkeypatch.setattr(pg, "_translator_digest", lambda: "d1")
    (tmp_path / "sql-postgres-d1.json").write_text("{not json", encoding="utf-8")
    t = Translations(tmp_path)
    assert t(sql) == to_postgres(sql)
    t.save()
    assert Translations(tmp_path)._load() == {sql: to_postgres(sql)}
    # Another translator (a new relief or sqlglot) reads its own file, never the old one.
    monkeypatch.setattr(pg, "_translator_digest", lambda: "d2")
    assert Translations(tmp_path)._load() == {}
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    stuck = Translations(blocked / "cache")  # its folder cannot be made
    assert stuck(sql) == to_postgres(sql)
    stuck.save()
    assert list(tmp_path.glob("**/*.tmp")) == []


def test_the_cache_folder(monkeypatch, tmp_path):
    from relief_cli.pg import cache_folder

    monkeypatch.setenv("RELIEF_CACHE_DIR", str(tmp_path))
    assert cache_folder() == tmp_path
    monkeypatch.setenv("RELIEF_CACHE_DIR", "")
    assert cache_folder() is None
    monkeypatch.delenv("RELIEF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if __import__("os").name != "nt":
        assert cache_folder() == tmp_path / "xdg" / "relief"


def test_relief_session_settings_come_after_the_offices_own(monkeypatch):
    from relief_cli.pg import SESSION_OPTIONS, session_options

    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert session_options("postgresql://u@db:5432/relief") == SESSION_OPTIONS
    assert session_options("postgresql://u@db:5432/relief?options=-c%20search_path%3Doffice") == (
        f"-c search_path=office {SESSION_OPTIONS}")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=5min")
    assert session_options("postgresql://u@db:5432/relief") == f"-c statement_timeout=5min {SESSION_OPTIONS}"
