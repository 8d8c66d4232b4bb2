"""A server target relief cannot use: one Chinese line on stderr, exit code 1, and nothing created on
the server (no database, no table) or beside the command (no file named like the address).

On the test cluster (RELIEF_TEST_PG): the administrator logs in by trust, every other role with a
password (scram-sha-256, tools/pg_cluster.sh)."""

from __future__ import annotations

import itertools
import os
import socket

import pytest
from typer.testing import CliRunner

from relief_cli import pg
from relief_cli.cli import app
from relief_cli.config import load_config
from conftest import PG_ADMIN, ROOT, pg_admin, pg_url

runner = CliRunner()
needs_server = pytest.mark.skipif(not PG_ADMIN, reason="needs a PostgreSQL server (RELIEF_TEST_PG)")
_NAMES = itertools.count(1)


def refused(target: str, tmp_path, monkeypatch, command: tuple = ("alerts",)) -> str:
    """`relief alerts --db target` (or another command) in an empty folder: its one line of stderr,
    checked to be all it did."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELIEF_DEBUG_SQL", raising=False)
    result = runner.invoke(app, [*map(str, command), "--db", target])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("错误："), result.stderr
    assert "Traceback" not in result.stderr and "内部错误" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # not taken for a file path either
    return result.stderr


def objects(database: str) -> list[tuple]:
    """What the database holds in its schemas besides the system's: tables, views, functions."""
    return pg_admin(
        "SELECT 'rel', n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
        "UNION ALL SELECT 'fn', n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3", database=database)


def databases() -> list[str]:
    return [r[0] for r in pg_admin("SELECT datname FROM pg_database ORDER BY datname")]


@pytest.fixture()
def server():
    """New databases and password roles on the test server, dropped afterwards."""

    class Server:
        def __init__(self):
            self.dbs: list[str] = []
            self.roles: list[str] = []

        def database(self, relief_tables: bool = False, locale: str = "") -> str:
            """locale: the new database's encoding and collation, as CREATE DATABASE takes them."""
            name = f"e{os.getpid()}_{next(_NAMES)}"
            pg_admin(f'CREATE DATABASE "{name}"' + (f" TEMPLATE template0 {locale}" if locale else ""))
            self.dbs.append(name)
            if relief_tables:  # made by the administrator, as a city's first import does
                from relief_cli.store import Store

                Store(pg_url(name), load_config(ROOT / "rules.yaml")).close()
            return name

        def role(self, password: str) -> str:
            name = f"officer{os.getpid()}_{next(_NAMES)}"
            pg_admin(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
            self.roles.append(name)
            return name

    s = Server()
    yield s
    for name in s.dbs:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for name in s.roles:
        pg_admin(f'DROP ROLE IF EXISTS "{name}"')


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nobody listens there once the socket is closed


def test_an_unreachable_server(tmp_path, monkeypatch):
    """No server needed: a closed port on this computer refuses at once."""
    port = closed_port()
    target = f"postgresql://relief:secret@127.0.0.1:{port}/relief"
    assert refused(target, tmp_path, monkeypatch) == (
        f"错误：postgresql://relief@127.0.0.1:{port}/relief: 无法连接数据库服务器，请检查地址、端口和网络\n")


@needs_server
def test_a_wrong_password_or_none(server, tmp_path, monkeypatch):
    name = server.database()
    user = server.role("right-password")
    for password in ("wrong-password", None):
        target = pg_url(name, user, password)
        assert refused(target, tmp_path, monkeypatch) == (
            f"错误：{pg.safe_url(target)}: 用户名或密码错误，无法登录数据库服务器\n")
        assert "password" not in pg.safe_url(target)
    assert objects(name) == []


@needs_server
def test_a_database_that_does_not_exist_is_not_created(tmp_path, monkeypatch):
    name = f"missing{os.getpid()}"
    target = pg_url(name)
    assert refused(target, tmp_path, monkeypatch) == (
        f"错误：{pg.safe_url(target)}: 服务器上没有这个数据库，请让管理员先创建（createdb）\n")
    assert name not in databases()


@needs_server
def test_a_role_without_connect_on_the_database(server, tmp_path, monkeypatch):
    name = server.database()
    user = server.role("pw")
    pg_admin(f'REVOKE CONNECT ON DATABASE "{name}" FROM PUBLIC')
    target = pg_url(name, user, "pw")
    assert refused(target, tmp_path, monkeypatch) == (
        f"错误：{pg.safe_url(target)}: 这个用户没有连接该数据库的权限（CONNECT），请让管理员授权\n")
    assert objects(name) == []


@needs_server
def test_a_role_without_rights_on_relief_tables(server, tmp_path, monkeypatch):
    name = server.database(relief_tables=True)
    before = objects(name)
    assert ("rel", "public", "alerts") in before
    user = server.role("pw")  # may connect (PUBLIC's CONNECT), but was granted nothing on the tables
    target = pg_url(name, user, "pw")
    assert refused(target, tmp_path, monkeypatch) == (
        f"错误：{pg.safe_url(target)}: 这个用户没有使用 relief 数据表的权限（新数据库第一次使用时还要能建表），请让管理员授权\n")
    assert objects(name) == before


@needs_server
def test_a_role_without_rights_on_one_table_met_while_working(server, tmp_path, monkeypatch):
    """Rights on relief's tables but alerts: the command opens the database (and names its rules),
    then its own query is refused outside any transaction of relief's: one error line, no traceback."""
    name = server.database(relief_tables=True)
    user = server.role("pw")
    pg_admin(f'GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO "{user}"', database=name)
    pg_admin(f'REVOKE SELECT ON alerts FROM "{user}"', database=name)
    before = objects(name)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["alerts", "--db", pg_url(name, user, "pw")])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.splitlines() == ["规则：内置规则", "错误：当前数据库用户没有这项操作的权限，请让管理员授权"]
    assert objects(name) == before


@needs_server
def test_a_role_that_cannot_create_relief_tables_in_a_new_database(server, tmp_path_factory, tmp_path, monkeypatch):
    name = server.database()
    pg_admin("REVOKE CREATE ON SCHEMA public FROM PUBLIC", database=name)  # the default from PostgreSQL 15 on
    user = server.role("pw")
    target = pg_url(name, user, "pw")
    data = tmp_path_factory.mktemp("inbox") / "死亡.csv"
    data.write_text("身份证号,死亡日期\n", encoding="utf-8")
    assert refused(target, tmp_path, monkeypatch, ("import", data)) == (
        f"错误：{pg.safe_url(target)}: 这个用户没有使用 relief 数据表的权限（新数据库第一次使用时还要能建表），请让管理员授权\n")
    assert objects(name) == []


@needs_server
def test_a_new_database_that_does_not_sort_as_sqlite_or_is_not_utf8_is_refused_before_anything_is_created(
        server, tmp_path_factory, tmp_path, monkeypatch):
    """SQLite sorts text by code point: a database that sorts by pinyin (ICU's zh here; zh_CN.UTF-8 likewise)
    would list and print in another order. Said before relief creates anything, with the command that makes
    a database it can use, which then imports."""
    data = tmp_path_factory.mktemp("inbox") / "死亡.csv"
    data.write_text("身份证号,死亡日期\n", encoding="utf-8")
    fix = "请让管理员新建数据库后再使用：createdb --template=template0 --encoding=UTF8 --locale=C"
    ascii_db = server.database(locale="ENCODING 'SQL_ASCII' LOCALE 'C'")
    target = pg_url(ascii_db)
    assert refused(target, tmp_path, monkeypatch, ("import", data)) == (
        f"错误：{pg.safe_url(target)}: 数据库「{ascii_db}」的字符编码是 SQL_ASCII，relief 需要 UTF8；{fix} {ascii_db}\n")
    assert objects(ascii_db) == []
    if int(pg_admin("SHOW server_version_num")[0][0]) >= 150000:  # ICU databases: PostgreSQL 15 on
        pinyin = server.database(locale="ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'zh' LOCALE 'C.UTF-8'")
        target = pg_url(pinyin)
        assert refused(target, tmp_path, monkeypatch, ("import", data)) == (
            f"错误：{pg.safe_url(target)}: 数据库「{pinyin}」的排序规则是 ICU zh，与 SQLite 按字符编码排序不同"
            f"（列表、清单的顺序会不一致）；{fix} {pinyin}\n")
        assert objects(pinyin) == []
    made = server.database(locale="ENCODING 'UTF8' LOCALE 'C'")  # what the message's createdb makes
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["import", str(data), "--db", pg_url(made)])
    assert result.exit_code == 0, result.output
    assert ("rel", "public", "alerts") in objects(made)


def test_the_message_for_a_server_older_than_postgresql_13():
    """No PostgreSQL 12 can be started here: the message is checked through the function that builds
    it from libpq's version number (connect() refuses with it; see the next test for that path)."""
    too_old = "relief 需要 PostgreSQL 13 或更新版本"
    assert pg.version_problem(120005) == f"服务器版本为 PostgreSQL 12.5，{too_old}"
    assert pg.version_problem(120000) == f"服务器版本为 PostgreSQL 12.0，{too_old}"
    assert pg.version_problem(90624) == f"服务器版本为 PostgreSQL 9.6，{too_old}"
    assert pg.version_problem(90204) == f"服务器版本为 PostgreSQL 9.2，{too_old}"  # what KingbaseES V8 reports
    assert pg.version_problem(130000) is None and pg.version_problem(170002) is None


@needs_server
def test_a_server_too_old_is_refused_before_anything_is_created(server, tmp_path, monkeypatch):
    """The real server passed off as too old (relief asking for a version from the future)."""
    name = server.database()
    version = int(pg_admin("SHOW server_version_num")[0][0])
    monkeypatch.setattr(pg, "MIN_SERVER_VERSION", (version // 10000 + 1) * 10000)
    target = pg_url(name)
    assert refused(target, tmp_path, monkeypatch) == (
        f"错误：{pg.safe_url(target)}: 服务器版本为 PostgreSQL {version // 10000}.{version % 10000}，"
        f"relief 需要 PostgreSQL {version // 10000 + 1} 或更新版本\n")
    assert objects(name) == []


def test_connect_reasons_of_a_server_that_speaks_chinese():
    """A server with lc_messages = zh_CN.UTF-8 says why it refused a login in Chinese (its own words,
    from PostgreSQL's zh_CN translation); libpq's prefix stays English."""
    prefix = 'connection failed: connection to server at "10.0.0.5", port 5432 failed: 致命错误:  '
    said = {
        '用户 "jiedao" Password 认证失败': "用户名或密码错误，无法登录数据库服务器",
        '访问数据库"relief"的权限不够\n描述:  用户没有CONNECT权限.': "这个用户没有连接该数据库的权限（CONNECT），请让管理员授权",
        '不允许角色"jiedao" 进行登录': "这个用户不允许登录数据库服务器，请让管理员检查",
        '没有用于主机 "10.0.0.9", 用户 "jiedao", 数据库 "relief", no encryption 的 pg_hba.conf 记录':
            "服务器不允许这个用户从这台电脑登录（pg_hba.conf），请让管理员检查",
        '数据库 "relief" 不存在': "服务器上没有这个数据库，请让管理员先创建（createdb）",
        '角色 "jiedao" 不存在': "服务器上没有这个用户，请让管理员用 relief admin grant 创建",
    }
    for text, reason in said.items():
        assert pg._connect_reason(Exception(prefix + text)) == reason, text
