"""A PostgreSQL server as relief's store: the connection, the translation of relief's SQL
(dialect.py), and what can go wrong on the way in, said in one Chinese line.

PgConnection answers the part of sqlite3.Connection that relief uses (execute, executemany,
cursors with fetchone/fetchall/rowcount/description), so services and rule kinds keep one
SQL text for both stores. Numbers come back as SQLite gives them: a whole numeric as int, a
fractional one as float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# .dialect (sqlglot: 0.1 s to import) is imported where a server is used: a SQLite command never needs it.

MIN_SERVER_VERSION = 130000  # PostgreSQL 13: CREATE FUNCTION ... RETURN needs 14 (see ensure_compat)
URL_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 10


class PgError(Exception):
    """A server problem the user can act on; message in Chinese (raised as store.StoreError)."""


def is_url(target: object) -> bool:
    return isinstance(target, str) and target.lower().startswith(URL_SCHEMES)


def safe_url(url: str) -> str:
    """The address without its password, for messages and the audit."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, "", ""))


def _numeric_loader() -> type:
    from psycopg.adapt import Loader

    class SqliteNumeric(Loader):
        """numeric as SQLite would hold it: 12 -> int, 12.5 -> float."""

        def load(self, data: Any) -> Any:
            text = bytes(data).decode()
            if text in ("NaN", "Infinity", "-Infinity"):
                return float(text)
            return float(text) if "." in text or "e" in text.lower() else int(text)

    return SqliteNumeric


# Settings of relief's own sessions (any role may set them):
# - no JIT: compiling a statement's expressions costs 0.1-1.5 s whatever the data, more than a listing may
#   take, and relief's scan statements spent more on it than it saved them;
# - a scan's temp tables (a province's per-person months: 11 M rows, 1 GB) in the session's own memory,
#   not through the server's default 8 MB of temp buffers to disk and back. Taken only as used.
SESSION_OPTIONS = "-c jit=off -c temp_buffers=2GB"
# A scan's sorts and hashes (one scan at a time per database: scan._scan_lock).
SCAN_WORK_MEM = "256MB"


def session_options(url: str) -> str:
    """relief's settings after those the address (?options=) or PGOPTIONS already give, which an explicit
    options argument would otherwise replace: an office's own search_path, say, is kept."""
    import os

    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(url).get("options") or os.environ.get("PGOPTIONS") or ""
    return f"{given} {SESSION_OPTIONS}".strip()


def connect(url: str) -> PgConnection:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency of the package
        raise PgError("未安装 psycopg，无法连接 PostgreSQL 服务器（pip install \"psycopg[binary]\"）") from None
    where = safe_url(url)
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                              cursor_factory=psycopg.ClientCursor, application_name="relief",
                              options=session_options(url))
    except psycopg.OperationalError as e:
        raise PgError(f"{where}: {_connect_reason(e)}") from None
    except psycopg.ProgrammingError:
        raise PgError(f"{where}: 数据库地址格式不对，应为 postgresql://用户名@主机:端口/数据库名") from None
    too_old = version_problem(raw.info.server_version)
    if too_old:
        raw.close()
        raise PgError(f"{where}: {too_old}")
    loader = _numeric_loader()
    raw.adapters.register_loader("numeric", loader)
    return PgConnection(raw, Translations(cache_folder()))


def version_problem(version: int) -> str | None:
    """Why a server of this version (libpq's server_version: 150004, or 90624 before PostgreSQL 10)
    cannot hold relief's data; None when it can."""
    if version >= MIN_SERVER_VERSION:
        return None
    if version >= 100000:
        shown = f"{version // 10000}.{version % 10000}"
    else:
        shown = f"{version // 10000}.{version % 10000 // 100}"
    return f"服务器版本为 PostgreSQL {shown}，relief 需要 PostgreSQL {MIN_SERVER_VERSION // 10000} 或更新版本"


# Text sorted by code point, as SQLite sorts it: the listings, checklists and JSON of the two stores then
# come out in the same order. A database created with another collation (zh_CN.UTF-8 sorts by pinyin, ICU's
# "zh" likewise) would not. The advice is plain C, which also compares fastest (memcmp: an index of 5 M keys
# built in 1.8 s, against 4.2 s under C.UTF-8, which sorts the same but through strcoll).
CODE_POINT_LOCALES = frozenset({"c", "posix", "c.utf8", "c.utf-8"})
CREATEDB = "createdb --template=template0 --encoding=UTF8 --locale=C"


def locale_problem(conn: PgConnection) -> str | None:
    """Why this database cannot hold relief's data as SQLite does (its text is not UTF-8, or does not sort by
    code point); None when it can. Asked before relief makes its tables in a new database."""
    icu = "datlocprovider::text, " if conn.server_version >= 150000 else "'c', "
    icu += "datlocale" if conn.server_version >= 170000 else "daticulocale" if conn.server_version >= 150000 else "''"
    row = conn.execute_native(f"SELECT datname, pg_encoding_to_char(encoding), datcollate, {icu} FROM pg_database "
                              "WHERE datname = current_database()").fetchone()
    # (a SQL_ASCII database sends text undecoded: bytes)
    name, encoding, collate, provider, icu_locale = (v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                                                     for v in row)
    fix = f"请让管理员新建数据库后再使用：{CREATEDB} {name}"
    if encoding != "UTF8":
        return f"数据库「{name}」的字符编码是 {encoding}，relief 需要 UTF8；{fix}"
    if provider == "i" or (provider == "c" and collate.lower() not in CODE_POINT_LOCALES):
        shown = f"ICU {icu_locale}" if provider == "i" else collate
        return f"数据库「{name}」的排序规则是 {shown}，与 SQLite 按字符编码排序不同（列表、清单的顺序会不一致）；{fix}"
    return None  # libc C/POSIX/C.UTF-8, or (PostgreSQL 17) the builtin provider: both sort by code point


# What the server (in English, or in Chinese when its lc_messages is zh_CN) and libpq say when a login
# fails, and what the office can do about it. There is no SQLSTATE before a connection exists: the
# message text is all there is. The first match wins.
_CONNECT_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("password authentication failed", "Password 认证失败", "no password supplied"),
     "用户名或密码错误，无法登录数据库服务器"),
    (("permission denied for database", "User does not have CONNECT privilege", "用户没有CONNECT权限"),
     "这个用户没有连接该数据库的权限（CONNECT），请让管理员授权"),
    (("is not permitted to log in", "进行登录"),
     "这个用户不允许登录数据库服务器，请让管理员检查"),
    (("no pg_hba.conf entry", "pg_hba.conf 记录"),
     "服务器不允许这个用户从这台电脑登录（pg_hba.conf），请让管理员检查"),
)


def _connect_reason(e: Exception) -> str:
    text = str(e)
    for needles, reason in _CONNECT_REASONS:
        if any(n in text for n in needles):
            return reason
    if ("does not exist" in text or "不存在" in text) and ("database" in text or "数据库" in text):
        return "服务器上没有这个数据库，请让管理员先创建（createdb）"
    if ("does not exist" in text or "不存在" in text) and ("role" in text or "角色" in text):
        return "服务器上没有这个用户，请让管理员用 relief admin grant 创建"
    return "无法连接数据库服务器，请检查地址、端口和网络"


def error_reason(e: Exception, opening: bool = False) -> str:
    """A server error during work, in Chinese, without the statement or its values. opening: while
    relief reads (or, on a new database, creates) its tables before the command's own work."""
    import psycopg

    if isinstance(e, psycopg.errors.InsufficientPrivilege):
        if opening:
            return "这个用户没有使用 relief 数据表的权限（新数据库第一次使用时还要能建表），请让管理员授权"
        return "当前数据库用户没有这项操作的权限，请让管理员授权"
    if isinstance(e, psycopg.errors.LockNotAvailable | psycopg.errors.DeadlockDetected):
        return "数据库正被其他 relief 进程使用，请稍后再试"
    if isinstance(e, psycopg.OperationalError):
        return "与数据库服务器的连接中断"
    return "数据库错误"


class Translations:
    """relief's SQLite-dialect statements as the server runs them (dialect.to_postgres), kept between
    runs in a file of the user's cache folder: a listing would otherwise spend about 0.15 s of its second
    importing sqlglot and translating the same few statements every time. The file's name carries a
    digest of the translator (dialect.py and sqlglot's version), so a new relief never reads an old
    translation. The statements hold no data (values are parameters); a cache that cannot be read or
    written is only slower."""

    def __init__(self, folder: Path | None):
        self.path = folder / f"sql-postgres-{_translator_digest()}.json" if folder else None
        self.known: dict[str, str] | None = None
        self.added = False

    def __call__(self, sql: str) -> str:
        if self.known is None:
            self.known = self._load()
        hit = self.known.get(sql)
        if hit is None:
            from .dialect import to_postgres

            hit = self.known[sql] = to_postgres(sql)
            if not self.added and self.path:  # kept when the command ends, however it ends
                import atexit

                atexit.register(self.save)
            self.added = True
        return hit

    def _load(self) -> dict[str, str]:
        import json

        try:
            known = json.loads(self.path.read_text(encoding="utf-8")) if self.path else {}
        except (OSError, ValueError):
            return {}
        return known if isinstance(known, dict) and all(isinstance(v, str) for v in known.values()) else {}

    def save(self) -> None:
        """Written whole to a new file that then replaces the old one: two commands at once each leave a
        complete file (the later one's)."""
        import contextlib
        import json
        import os

        from .privacy import private_open

        if not (self.added and self.path and self.known):
            return
        scratch = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with private_open(scratch, "w", encoding="utf-8") as f:
                json.dump(self.known, f, ensure_ascii=False)
            os.replace(scratch, self.path)
            self.added = False
        except OSError:
            with contextlib.suppress(OSError):
                scratch.unlink(missing_ok=True)


def cache_folder() -> Path | None:
    """RELIEF_CACHE_DIR, else the platform's per-user cache folder (Windows: %LOCALAPPDATA%\\relief\\cache;
    elsewhere $XDG_CACHE_HOME/relief or ~/.cache/relief). RELIEF_CACHE_DIR set empty: no cache."""
    import os

    given = os.environ.get("RELIEF_CACHE_DIR")
    if given is not None:
        return Path(given) if given else None
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base, "relief", "cache") if base else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "relief")


def _translator_digest() -> str:
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        sqlglot = version("sqlglot")
    except PackageNotFoundError:  # pragma: no cover - a dependency of the package
        sqlglot = "?"
    from . import __version__

    try:
        source = Path(__file__).with_name("dialect.py").read_bytes()
    except OSError:  # pragma: no cover - a packaging without sources
        source = __version__.encode()
    return hashlib.sha256(source + sqlglot.encode()).hexdigest()[:16]


class PgConnection:
    """sqlite3.Connection's surface over a psycopg connection in autocommit mode: relief's own
    BEGIN ... COMMIT (Store.transaction) make the transactions, as on SQLite."""

    dialect = "postgresql"

    def __init__(self, raw: Any, translations: Translations | None = None):
        self.raw = raw
        self._to_postgres = translations or Translations(None)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        cur = self.raw.cursor()
        cur.execute(self._to_postgres(sql), _params(params) or None)
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> Any:
        cur = self.raw.cursor()
        query = self._to_postgres(sql)
        total = 0
        batch: list[Any] = []
        for row in rows:
            batch.append(_params(row))
            if len(batch) >= 5000:
                cur.executemany(query, batch)
                total += max(cur.rowcount, 0)
                batch = []
        if batch:
            cur.executemany(query, batch)
            total += max(cur.rowcount, 0)
        return _Many(cur, total)

    def execute_native(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """PostgreSQL's own SQL, untranslated (the store's server-only statements)."""
        cur = self.raw.cursor()
        cur.execute(sql, params)
        return cur

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Rows into a table through COPY (the import's hot path)."""
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        n = 0
        with self.raw.cursor().copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                n += 1
        return n

    def close(self) -> None:
        self._to_postgres.save()
        self.raw.close()

    @property
    def server_version(self) -> int:
        return int(self.raw.info.server_version)


class _Many:
    """executemany's result: rowcount is the total over the batches."""

    def __init__(self, cur: Any, total: int):
        self._cur, self.rowcount = cur, total

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def _params(params: Any) -> Any:
    if isinstance(params, Mapping):
        return dict(params)
    return tuple(params) if params is not None else ()


def ensure_compat(conn: PgConnection) -> None:
    """The SQLite functions relief's SQL uses (dialect.COMPAT_FUNCTIONS). SQL-standard function
    bodies (RETURN ...) need PostgreSQL 14; 13 gets the same bodies as SELECT ... functions."""
    from .compat_sql import COMPAT_FUNCTIONS

    script = COMPAT_FUNCTIONS
    if conn.server_version < 140000:
        script = re.sub(r"\n    RETURN (.*?);", lambda m: f" AS $$ SELECT {m.group(1)} $$;", script, flags=re.S)
    for statement in [s.strip() for s in script.split(";\n") if s.strip()]:
        conn.execute_native(statement.rstrip(";"))
