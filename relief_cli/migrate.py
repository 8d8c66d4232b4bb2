"""relief migrate: a SQLite database onto an empty PostgreSQL database, verified table by table.

The target's schema is made by Store first (the same migrations, triggers and source tables as any
server database), then every table of the file is copied with COPY, ids kept, in one transaction;
the identity sequences are set past the highest ids. Before the commit each table is read back on
both sides in primary-key order and hashed the same way (SHA-256 over the values as text): a table
whose row count or checksum differs rolls the whole copy back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .store import Store, StoreError

# Copied first: the tables others refer to (outcomes -> alerts; rejects, listings, ... -> imports).
FIRST = ("imports", "alerts")
# The server's own bookkeeping, not relief data.
SERVER_ONLY = {"relief_schema", "relief_compat"}
FETCH_ROWS = 10_000


class MigrateProblem(StoreError):
    """The migration cannot start (Chinese message)."""


@dataclass
class TableCheck:
    table: str
    rows: int
    target_rows: int
    checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        return self.rows == self.target_rows and self.checksum == self.target_checksum

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class MigrateResult:
    source: str
    target: str
    tables: list[TableCheck]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "ok": self.ok, "rows": self.rows,
                "tables": [t.as_dict() for t in self.tables]}


class ChecksumMismatch(Exception):
    """The copy differs from the file: it was rolled back; the result says where."""

    def __init__(self, result: MigrateResult):
        super().__init__(result.target)
        self.result = result


def migrate(source: Store, target: Store, audit: dict[str, Any] | None = None) -> MigrateResult:
    """Copy every table of `source` (SQLite) into `target` (an empty PostgreSQL database with relief's
    schema); raises MigrateProblem before anything is written, ChecksumMismatch after a rollback.
    audit: the filters of the audit line the target keeps of the migration (after the check)."""
    if source.pg or not target.pg:
        raise MigrateProblem("迁移只能从 SQLite 数据库文件到 PostgreSQL 服务器")
    tables = _sqlite_tables(source)
    have = _pg_tables(target)
    missing = [t for t in tables if t not in have]
    if missing:
        raise MigrateProblem(f"目标数据库没有表 {'、'.join(missing)}：源数据库的数据来源与规则文件不一致，"
                             "请用创建源数据库时的规则文件（--rules）")
    checks: list[TableCheck] = []
    with target.transaction():
        target.conn.execute_native("SELECT pg_advisory_xact_lock(%s)", (_lock(),))
        filled = [t for t in have if target.conn.execute_native(f'SELECT EXISTS (SELECT 1 FROM "{t}")').fetchone()[0]]
        if filled:
            raise MigrateProblem(f"目标数据库 {target.where} 不是空的（表 {'、'.join(filled[:5])} 已有数据），"
                                 "迁移只能写入新建的空数据库")
        for table in tables:
            columns = source.columns(table)
            absent = [c for c in columns if c not in have[table]]
            if absent:
                raise MigrateProblem(f"目标数据库的表 {table} 缺少列 {'、'.join(absent)}，请用创建源数据库时的规则文件（--rules）")
            target.conn.copy_rows(table, columns, source.conn.execute(_select(table, columns, _order(source, table))))
            _advance_identity(target, table)
        for table in tables:
            columns = source.columns(table)
            order = _order(source, table)
            text = {c for c, kind in have[table].items() if kind == "text"}
            numeric = [i for i, c in enumerate(columns) if have[table][c] in ("numeric", "double precision", "real")]
            rows, checksum = table_checksum(source.conn.execute(_select(table, columns, order)), numeric)
            target_rows, target_checksum = table_checksum(_server_rows(target, _select(table, columns, order, text)), numeric)
            checks.append(TableCheck(table, rows, target_rows, checksum, target_checksum))
        result = MigrateResult(source.where, target.where, checks)
        if not result.ok:
            raise ChecksumMismatch(result)
        if audit is not None:
            target.audit_in_transaction("migrate", audit, result.rows, False)
    for table in tables:  # fresh statistics for the planner (outside the copy's transaction)
        target.conn.execute_native(f'ANALYZE "{table}"')
    return result


def table_checksum(rows: Iterable[tuple], numeric: Sequence[int] = ()) -> tuple[int, str]:
    """(row count, SHA-256) of rows in a fixed order, each row as Python writes it (repr: None, numbers and
    text are told apart). numeric: positions of columns that may hold fractions, where a whole number
    counts as an integer on both sides (the server's numeric comes back as int when whole)."""
    digest = hashlib.sha256()
    n = 0
    for row in rows:
        n += 1
        if numeric:
            row = list(row)
            for i in numeric:
                if isinstance(row[i], float) and row[i].is_integer():
                    row[i] = int(row[i])
            row = tuple(row)
        digest.update(repr(row).encode("utf-8", "surrogatepass"))
    return n, digest.hexdigest()


def _sqlite_tables(store: Store) -> list[str]:
    names = [r[0] for r in store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")]
    return sorted(names, key=lambda t: (t not in FIRST, FIRST.index(t) if t in FIRST else 0, t))


def _pg_tables(store: Store) -> dict[str, dict[str, str]]:
    """table -> {column: data type} of relief's tables on the server."""
    out: dict[str, dict[str, str]] = {}
    for table, column, kind in store.conn.execute_native(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"):
        if table not in SERVER_ONLY:
            out.setdefault(table, {})[column] = kind
    return out


def _order(store: Store, table: str) -> list[str]:
    """The primary key's columns (all columns for a table without one, such as listings)."""
    info = store.conn.execute("SELECT name, pk FROM pragma_table_info(?)", (table,)).fetchall()
    keys = [name for name, pk in sorted(info, key=lambda r: r[1]) if pk]
    return keys or [name for name, _ in info]


def _select(table: str, columns: list[str], order: list[str], text: set[str] = frozenset()) -> str:
    """One query for both sides; the server sorts its text by code point, as SQLite does (COLLATE "C")."""
    cols = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' + (' COLLATE "C"' if c in text else "") for c in order)
    return f'SELECT {cols} FROM "{table}" ORDER BY {keys}'


def _server_rows(store: Store, sql: str) -> Iterator[tuple]:
    """A table read back in the copy's own transaction, a batch at a time (a server-side cursor)."""
    with store.conn.raw.cursor(name="relief_migrate_check") as cur:
        cur.itersize = FETCH_ROWS
        cur.execute(sql)
        yield from cur


def _advance_identity(store: Store, table: str) -> None:
    """Rows added later get ids past the copied ones."""
    for (column,) in store.conn.execute_native(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND is_identity = 'YES'", (table,)).fetchall():
        store.conn.execute_native(
            f'SELECT setval(pg_get_serial_sequence(%s, %s), max("{column}")) FROM "{table}" HAVING max("{column}") IS NOT NULL',
            (f'"{table}"', column))


def _lock() -> int:
    from .store import MIGRATION_LOCK

    return MIGRATION_LOCK
