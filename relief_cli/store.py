"""The SQLite store: schema, migrations, transactions and the bulk-merge hot path."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from pathlib import Path
from urllib.parse import urlsplit


from .config import Config, SourceSpec

# How long a second writer waits for the first; RELIEF_BUSY_TIMEOUT_MS overrides (tests, slow disks).
BUSY_TIMEOUT_MS = int(os.environ.get("RELIEF_BUSY_TIMEOUT_MS", "15000"))

SQL_TYPES = {"amount": int, "grade": int, "int": int}

# Schema changes are registered migrations, applied in order by PRAGMA user_version.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        sheets TEXT NOT NULL,
        rows INTEGER NOT NULL,
        imported INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        unchanged INTEGER NOT NULL,
        rejected INTEGER NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        os_user TEXT NOT NULL,
        command TEXT NOT NULL,
        filters TEXT NOT NULL,
        rows INTEGER NOT NULL,
        show_pii INTEGER NOT NULL,
        target TEXT
    );
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule_id TEXT NOT NULL,
        rule_name TEXT NOT NULL,
        family TEXT NOT NULL,
        severity TEXT NOT NULL,
        suggests TEXT NOT NULL,
        subject TEXT NOT NULL CHECK (subject IN ('person', 'household')),
        subject_key TEXT NOT NULL,
        period TEXT NOT NULL,
        id_no TEXT,
        hukou_no TEXT,
        district TEXT,
        town TEXT,
        community TEXT,
        grid TEXT,
        worker TEXT,
        worker_phone TEXT,
        raised_on TEXT NOT NULL,
        due_on TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        evidence TEXT NOT NULL,
        refs TEXT NOT NULL,
        outcome TEXT,
        UNIQUE (rule_id, subject_key, period)
    );
    CREATE INDEX alerts_status_due ON alerts (status, due_on);
    CREATE INDEX alerts_community ON alerts (community, grid);
    CREATE INDEX alerts_hukou ON alerts (hukou_no);
    CREATE TABLE calendar (
        day TEXT PRIMARY KEY,
        workday INTEGER NOT NULL,
        idx INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    """
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL REFERENCES alerts (id),
        recorded_at TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('close', 'reopen')),
        outcome TEXT,
        detail TEXT,
        visit_date TEXT,
        handler TEXT,
        note TEXT,
        origin TEXT NOT NULL
    );
    CREATE INDEX outcomes_alert ON outcomes (alert_id, id);
    """,
    # Earlier validity spans of full-list entries that left a list and came back (see close_listing).
    """
    CREATE TABLE list_spans (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        valid_from TEXT,
        valid_to TEXT NOT NULL,
        ended_by INTEGER,
        reopened_by INTEGER NOT NULL
    );
    CREATE INDEX list_spans_key ON list_spans (source, key);
    """,
    # Rejected rows are kept with the file's data, in its transaction: the rejects workbook is written
    # from here after the commit, and can be written again (relief rejects).
    """
    CREATE TABLE reject_sheets (
        import_id INTEGER NOT NULL REFERENCES imports (id),
        sheet TEXT NOT NULL,
        titles TEXT NOT NULL,
        PRIMARY KEY (import_id, sheet)
    );
    CREATE TABLE rejects (
        id INTEGER PRIMARY KEY,
        import_id INTEGER NOT NULL REFERENCES imports (id),
        sheet TEXT NOT NULL,
        row INTEGER NOT NULL,
        cells TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX rejects_import ON rejects (import_id, id);
    """,
    # The dates of the full lists imported, so that an older list cannot end what a newer one holds.
    """
    CREATE TABLE listings (
        source TEXT NOT NULL,
        day TEXT NOT NULL,
        import_id INTEGER NOT NULL REFERENCES imports (id)
    );
    CREATE INDEX listings_source ON listings (source, day);
    """,
    # Import history and undo: who ran each import, the highest alert id when it began (alerts above
    # it may come from its rows), whether its changes were recorded, and whether it was taken back.
    # import_changes holds, per import, the rows it changed as they were before (before: JSON object of
    # the row; NULL: a row it inserted into a table other than a source's, whose own rows carry _import)
    # and the _import they had. import_dates: the latest record date of each source an import brought.
    """
    ALTER TABLE imports ADD COLUMN os_user TEXT;
    ALTER TABLE imports ADD COLUMN last_alert INTEGER;
    ALTER TABLE imports ADD COLUMN logged INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE imports ADD COLUMN undone_at TEXT;
    ALTER TABLE imports ADD COLUMN undone_by TEXT;
    CREATE TABLE import_changes (
        import_id INTEGER NOT NULL REFERENCES imports (id),
        tbl TEXT NOT NULL,
        row_id INTEGER NOT NULL,
        prev_import INTEGER,
        before TEXT,
        PRIMARY KEY (import_id, tbl, row_id)
    ) WITHOUT ROWID;
    CREATE INDEX import_changes_row ON import_changes (tbl, row_id);
    CREATE INDEX import_changes_prev ON import_changes (prev_import);
    CREATE TABLE import_dates (
        import_id INTEGER NOT NULL REFERENCES imports (id),
        source TEXT NOT NULL,
        latest TEXT,
        PRIMARY KEY (import_id, source)
    ) WITHOUT ROWID;
    """,
    # Server mode: the database role of each audit line (on SQLite, NULL: the file has no roles).
    """
    ALTER TABLE audit ADD COLUMN db_role TEXT;
    """,
    # The listing of overdue alerts by worker and the report read these indexes alone, not a province's wide
    # alert rows (evidence, refs); the second also gives the calendar its first day.
    """
    CREATE INDEX alerts_open ON alerts (status, raised_on, district, town, community, worker);
    CREATE INDEX alerts_raised ON alerts (raised_on, rule_name, community, subject_key, outcome);
    """,
)
# On a PostgreSQL server, the setup steps run after the first PG_SETUP_AFTER migrations and before the
# later ones, in that one numbering (compat_sql.COMPAT_FUNCTIONS first): the change log of undo as real
# triggers. SQLite creates temporary triggers per import (begin_change_log); a server keeps the changes
# while the import's transaction has set relief.import. Source tables get their trigger when created
# (Store._pg_source_table).
PG_SETUP: tuple[str, ...] = (
    """
    CREATE OR REPLACE FUNCTION relief_log_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        imp bigint := nullif(current_setting('relief.import', true), '')::bigint;
    BEGIN
        IF imp IS NULL THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'INSERT' THEN
            INSERT INTO import_changes (import_id, tbl, row_id) VALUES (imp, TG_TABLE_NAME, NEW.id)
                ON CONFLICT DO NOTHING;
        ELSIF TG_ARGV[0] = 'source' THEN
            IF OLD._import IS DISTINCT FROM imp THEN
                INSERT INTO import_changes (import_id, tbl, row_id, prev_import, before)
                    VALUES (imp, TG_TABLE_NAME, OLD._id, OLD._import, row_to_json(OLD)::text) ON CONFLICT DO NOTHING;
            END IF;
        ELSE
            INSERT INTO import_changes (import_id, tbl, row_id, before)
                VALUES (imp, TG_TABLE_NAME, OLD.id, row_to_json(OLD)::text) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER relief_log AFTER UPDATE ON alerts FOR EACH ROW EXECUTE FUNCTION relief_log_change('row');
    CREATE TRIGGER relief_log AFTER INSERT ON outcomes FOR EACH ROW EXECUTE FUNCTION relief_log_change('row');
    """,
)
PG_SETUP_AFTER = 7  # the migrations there were when server mode came: servers numbered PG_SETUP on from them
# pg_advisory_xact_lock keys: schema changes, and a scan (one at a time per database).
MIGRATION_LOCK = 7_301_001
SCAN_LOCK = 7_301_002
IMPORT_LOCK = 7_301_004  # an import or an undo (Store.lock_imports)
# What an import may change besides its source tables: a returned visit sheet closes alerts
# (table -> primary key; outcomes only gains rows).
LOGGED_TABLES = {"alerts": "id"}
# json_object takes at most 127 arguments in older SQLite builds: wider rows are built in steps.
_JSON_PAIRS = 50
# The import whose changes the triggers of Store.log_changes keep (a trigger cannot take parameters).
_CURRENT_IMPORT = "(SELECT id FROM temp._change_import)"
# Every source row: where it came from, and (for full lists) when it was on the list:
# valid from _valid_from (NULL: since it was first seen) until _valid_to (NULL: still listed),
# ended by import _ended_by.
META_COLUMNS = {"_key": str, "_file": str, "_sheet": str, "_row": int, "_import": int,
                "_valid_from": str, "_valid_to": str, "_ended_by": int}


class StoreError(Exception):
    """A database problem the user can act on; message in Chinese."""


class StoreBusy(StoreError):
    """Another process held the write lock longer than the busy timeout."""


@dataclass(frozen=True)
class MergeCounts:
    imported: int
    updated: int
    unchanged: int


class ListOutOfOrder(Exception):
    """A full list dated before one already imported (it would end what the newer list holds)."""

    def __init__(self, latest: str):
        super().__init__(latest)
        self.latest = latest


class ShrinkRefused(Exception):
    """A full list would end too many of its entries (probably a truncated export)."""

    def __init__(self, ended: int, listed_before: int, share: float):
        super().__init__(ended, listed_before, share)
        self.ended, self.listed_before, self.share = ended, listed_before, share


def _create_private(path: Path) -> None:
    """Create the database file owner-only; SQLite gives -wal/-shm the same mode."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class Store:
    """relief's database: a SQLite file (the default), or a PostgreSQL server when `path` is a
    postgresql:// address (pg.py). The SQL is the same for both (dialect.py)."""

    def __init__(self, path: Path | str, config: Config, create: bool = True):
        """create=False (a command that only reads, or works on what was imported): a server database
        without relief's tables is refused, not given them (the CLI checks a SQLite file itself)."""
        from . import pg

        self.config = config
        self._logged: set[str] | None = None  # sources whose changes the running import keeps (log_changes)
        self._owner_of: dict[str, bool] = {}  # a server's tables this role owns (owns)
        self._staging: set[str] = set()  # sources whose last chunk of this file held stored keys (_pg_merge_rows)
        self.pg = pg.is_url(path)
        if self.pg:
            self.url = str(path)
            # No file: messages name the server (self.where); rejects workbooks go to <dbname>-rejects here.
            self.path = Path(urlsplit(self.url).path.strip("/") or "relief")
            self.where = pg.safe_url(self.url)
            try:
                self.conn = pg.connect(self.url)
            except pg.PgError as e:
                raise StoreError(str(e)) from None
            if not create and not self.conn.execute_native("SELECT to_regclass('relief_schema') IS NOT NULL").fetchone()[0]:
                self.conn.close()
                raise StoreError(f"{self.where}: 这个数据库里还没有 relief 的数据；先用 relief import 导入数据")
            self._open()
            return
        self.path = Path(path)
        self.where = str(path)
        if str(path) != ":memory:":
            _create_private(self.path)
            _tighten(self.path)
        try:
            self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Larger pages cut the CPU of bulk inserts and index builds by about a sixth;
            # only a new, empty database takes it (before WAL is switched on).
            self.conn.execute("PRAGMA page_size = 16384")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            # The default 2 MB page cache thrashes on city-scale indexes; 256 MB keeps them hot.
            self.conn.execute("PRAGMA cache_size = -262144")
            self.conn.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path}: 无法打开数据库（{_reason(e)}）") from None
        self._open()
        if str(path) != ":memory:":
            _tighten(self.path)  # the -wal and -shm exist now

    _opening = False  # while _open runs: a server's refusal is about relief's tables (pg.error_reason)

    def _open(self) -> None:
        self._opening = True
        try:
            self._migrate()
            self._ensure_source_tables()
            self._ensure_yuan_views()
            if self.pg and getattr(self, "_views_stale", False):  # new tables get the areas' policies (admin.py)
                from .admin import secure_if_enabled

                secure_if_enabled(self)
        except Exception as e:
            if self.pg and _is_pg_error(e):
                self.conn.close()
                if os.environ.get("RELIEF_DEBUG_SQL"):  # developers only: the server's own message
                    raise
                raise StoreError(f"{self.where}: {_pg_reason(e, opening=True)}") from None
            raise
        self._opening = False

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------
    def _migrate(self) -> None:
        """Registered migrations in order. Two first commands on a new database may race here: each
        migration re-reads the version under the write lock, so the second finds it done."""
        if self.pg:
            if not self._version():  # a new database: before relief writes anything in it
                self._pg_check_locale()
            self._pg_compat()
        steps = schema_steps(self.pg)
        if self._version() >= len(steps):
            return
        for number, (script, native) in enumerate(steps, start=1):
            with self.transaction():
                if self.pg:
                    self._pg_migration_lock()
                if self._version(create=self.pg) >= number:
                    continue
                if native:
                    for statement in _pg_statements(script):
                        self.conn.execute_native(statement)
                else:
                    for statement in _statements(script):
                        self.conn.execute(statement)
                self._set_version(number)

    def _pg_check_locale(self) -> None:
        from .pg import locale_problem

        problem = locale_problem(self.conn)
        if problem:
            self.conn.close()
            raise StoreError(f"{self.where}: {problem}")

    def _pg_compat(self) -> None:
        """The SQL functions of dialect.COMPAT_FUNCTIONS, (re)created when relief brings new ones."""
        import hashlib

        from .compat_sql import COMPAT_FUNCTIONS
        from .pg import ensure_compat

        digest = hashlib.sha256(COMPAT_FUNCTIONS.encode()).hexdigest()[:16]
        create = "CREATE TABLE IF NOT EXISTS relief_compat (digest text NOT NULL)"
        have = self.conn.execute_native("SELECT to_regclass('relief_compat') IS NOT NULL").fetchone()[0]
        if have and self.conn.execute_native("SELECT digest FROM relief_compat").fetchone() == (digest,):
            return
        with self.transaction():
            self._pg_migration_lock()
            self.conn.execute_native(create)
            if self.conn.execute_native("SELECT digest FROM relief_compat").fetchone() == (digest,):
                return
            ensure_compat(self.conn)
            self.conn.execute_native("DELETE FROM relief_compat")
            self.conn.execute_native("INSERT INTO relief_compat VALUES (%s)", (digest,))

    def _version(self, create: bool = False) -> int:
        if not self.pg:
            return self.conn.execute("PRAGMA user_version").fetchone()[0]
        # No table yet: a new database. It is created only under the migration lock (create=True): two first
        # commands creating it at once collide in the catalog ("type already exists"). There CREATE ... IF NOT
        # EXISTS, not a look-up first: a look-up made before the lock was waited for may still answer from this
        # session's stale catalog cache that the table is missing, while CREATE looks again.
        if create:
            self.conn.execute_native("CREATE TABLE IF NOT EXISTS relief_schema (version integer NOT NULL)")
        elif not self.conn.execute_native("SELECT to_regclass('relief_schema') IS NOT NULL").fetchone()[0]:
            return 0  # (a look-up: CREATE needs the right to create, which a district's role has not)
        row = self.conn.execute_native("SELECT max(version) FROM relief_schema").fetchone()
        return row[0] or 0

    def _set_version(self, number: int) -> None:
        if not self.pg:
            self.conn.execute(f"PRAGMA user_version = {number}")
            return
        self.conn.execute_native("DELETE FROM relief_schema")
        self.conn.execute_native("INSERT INTO relief_schema VALUES (%s)", (number,))

    def _pg_migration_lock(self) -> None:
        """Two first commands on a new server database: the second waits for the first's schema."""
        self.conn.execute_native("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    @cached_property
    def db(self) -> Any:
        """sqlite-utils over the same connection, for schema work (loaded only when needed)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    def _ensure_source_tables(self) -> None:
        """One table per configured source; a field added in rules.yaml adds a column.

        Checked without a lock (the usual case: nothing to do, and a reading command must not wait
        for an import), then done under the write lock with the schema read again, so that two
        first commands on a new database do not both create the same table."""
        if self._source_tables_missing():
            with self.transaction():
                if self.pg:  # the write lock SQLite's BEGIN IMMEDIATE takes
                    self._pg_migration_lock()
                self._create_source_tables()

    def _existing_columns(self) -> dict[str, set[str]]:
        existing: dict[str, set[str]] = {}
        if self.pg:
            rows = self.conn.execute_native("SELECT table_name, column_name FROM information_schema.columns "
                                            "WHERE table_schema = current_schema()")
        else:
            rows = self.conn.execute(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'")
        for table_name, column in rows:
            existing.setdefault(table_name, set()).add(column)
        return existing

    def _existing_indexes(self) -> set[str]:
        if self.pg:
            return {r[0] for r in self.conn.execute_native(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}

    def _source_tables_missing(self) -> bool:
        existing = self._existing_columns()
        indexes = self._existing_indexes()
        return any(
            not (set(spec.fields) | set(META_COLUMNS)) <= existing.get(source_table(name), set())
            or not set(self.index_names(name)) <= indexes
            for name, spec in self.config.sources.items()
        )

    def _create_source_tables(self) -> None:
        existing = self._existing_columns()
        self._views_stale = True
        for name, spec in self.config.sources.items():
            columns = {f: SQL_TYPES.get(s.type, str) for f, s in spec.fields.items()}
            have = existing.get(source_table(name))
            if self.pg:
                self._pg_source_table(name, {**columns, **META_COLUMNS}, have)
            elif have is None:
                self.db.create_table(
                    source_table(name), {"_id": int, **columns, **META_COLUMNS}, pk="_id", not_null={"_key"},
                )
            else:
                table = self.db[source_table(name)]
                for column, ctype in {**columns, **META_COLUMNS}.items():
                    if column not in have:
                        table.add_column(column, ctype)
            self.create_indexes(name)

    def _ensure_yuan_views(self) -> None:
        """Amounts are stored exactly, in 分 (fen). For anyone reading the database with other tools
        (sqlite-utils, Datasette, Excel via ODBC) a view <source>_yuan per source with amounts shows
        them in 元: the same columns, amounts divided by 100. Rewritten only when a source changed."""
        if self.pg:
            have = {r[0]: None for r in self.conn.execute_native(
                "SELECT viewname FROM pg_views WHERE schemaname = current_schema()")}
            if getattr(self, "_views_stale", False):
                have = {}
        else:
            have = dict(self.conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
        wanted = {}
        for name, spec in self.config.sources.items():
            amounts = [f for f, fs in spec.fields.items() if fs.type == "amount"]
            if not amounts:
                continue
            columns = ", ".join(f'round("{f}" / 100.0, 2) AS "{f}"' if f in amounts else f'"{f}"'
                                for f in ["_id", *spec.fields, *META_COLUMNS])
            wanted[yuan_view(name)] = f'CREATE VIEW "{yuan_view(name)}" AS SELECT {columns} FROM "{source_table(name)}"'
        if all(view in have and (self.pg or have[view] == sql) for view, sql in wanted.items()):
            return
        with self.transaction():
            if self.pg:
                self._pg_migration_lock()
            for view, sql in wanted.items():
                if have.get(view) != sql:
                    self.conn.execute(f'DROP VIEW IF EXISTS "{view}"')
                    self.conn.execute(sql)

    def _pg_source_table(self, source: str, columns: dict[str, type], have: set[str] | None) -> None:
        table = source_table(source)
        kinds = {int: "bigint", str: "text"}
        if have is None:
            defs = ", ".join(f'"{c}" {kinds[t]}{" NOT NULL" if c == "_key" else ""}' for c, t in columns.items())
            self.conn.execute_native(
                f'CREATE TABLE "{table}" ("_id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, {defs})')
            self.conn.execute_native(f'CREATE TRIGGER relief_log AFTER UPDATE ON "{table}" FOR EACH ROW '
                                     "EXECUTE FUNCTION relief_log_change('source')")
            return
        for column, ctype in columns.items():
            if column not in have:
                self.conn.execute_native(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kinds[ctype]}')

    def index_names(self, source: str) -> dict[str, str]:
        """Index name -> column, for the natural key and the source's looked-up fields; a full list
        also indexes its ended entries (few), which close_listing looks up by key."""
        table = source_table(source)
        ended = {f"{table}_ended": "_key"} if self.config.sources[source].full_list is not None else {}
        return {f"{table}_key": "_key", **{f"{table}_{f}": f for f in self.config.sources[source].indexed}, **ended}

    def create_indexes(self, source: str) -> None:
        table = source_table(source)
        for name, column in self.index_names(source).items():
            unique = "UNIQUE " if column == "_key" and not name.endswith("_ended") else ""
            partial = " WHERE _valid_to IS NOT NULL" if name.endswith("_ended") else ""
            self.conn.execute(f'CREATE {unique}INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}"){partial}')

    def begin_bulk(self, source: str) -> bool:
        """First load of an empty table: drop its indexes so rows append, and build them at the end.

        Inside the file's transaction, so a failure restores them. Returns whether it did.
        """
        table = source_table(source)
        if self.pg and not self.owns(table):
            return False
        if self.conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{table}")').fetchone()[0]:
            return False
        for name in self.index_names(source):
            self.conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        if self.pg:
            # An empty table emptied again: a server with wal_level=minimal then writes the rows of this
            # transaction (and its new indexes) straight to their files, without logging them in the WAL.
            self.conn.execute_native(f'TRUNCATE "{table}" RESTART IDENTITY')  # ids from 1, as SQLite's
        return True

    def owns(self, table: str) -> bool:
        """(A server.) Only the owner of a table drops its indexes and sets its identity; another role (the
        city's, under row-level security: admin.py) merges, and may not see that the table holds rows. A member
        of the owning role counts when it holds the owner's rights without SET ROLE (USAGE, not MEMBER)."""
        if table not in self._owner_of:  # asked per chunk of an import: once per table and connection
            self._owner_of[table] = bool(self.conn.execute_native(
                "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = to_regclass(%s)", (table,)).fetchone()[0])
        return self._owner_of[table]

    # -- transactions -------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; any exception rolls everything back."""
        if self.pg:
            with self._pg_transaction():
                yield
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _store_error(self.path, e) from None
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as e:
            self.conn.execute("ROLLBACK")
            raise _store_error(self.path, e) from None

    @contextmanager
    def _pg_transaction(self) -> Iterator[None]:
        raw = self.conn.raw
        try:
            raw.execute("BEGIN")
        except Exception as e:
            raise StoreError(f"{self.where}: {_pg_reason(e)}") from None
        try:
            yield
        except BaseException as e:
            try:
                raw.execute("ROLLBACK")
            except Exception:  # the connection itself is gone: nothing was committed
                pass
            if _is_pg_error(e):
                if os.environ.get("RELIEF_DEBUG_SQL"):  # developers only: the server's own message
                    raise
                raise StoreError(f"{self.where}: {_pg_reason(e, self._opening)}") from None
            raise
        try:
            raw.execute("COMMIT")
        except Exception as e:
            raise StoreError(f"{self.where}: {_pg_reason(e)}") from None

    # -- import hot path ----------------------------------------------------
    def append_rows(self, source: str, fields: Sequence[str], records: Iterable[tuple], count: int) -> MergeCounts:
        """Rows of a first load (see begin_bulk): keys are unique within a file, so all are new.

        records: (fields..., _key, _sheet, _row, _file, _import) per row; count: how many.
        On a server the rows stream in through COPY.
        """
        if self.pg:
            self.conn.copy_rows(source_table(source), _record_columns(fields), records)
        else:
            self.conn.executemany(self._insert(source, fields), records)
        return MergeCounts(count, 0, 0)

    def merge_rows(self, source: str, fields: Sequence[str], records: Iterable[tuple], keys: Sequence[str]) -> MergeCounts:
        """Upsert rows by natural key (records as in append_rows; keys: their _key values);
        count new, changed, unchanged.

        Must run inside transaction(). One executemany upserts straight into the table
        (a row that differs is updated, an identical one is left alone); the counts come
        from how many keys already existed and how many rows SQLite changed.
        """
        if not keys:
            return MergeCounts(0, 0, 0)
        if self.pg:
            return self._pg_merge_rows(source, fields, records, len(keys))
        table = source_table(source)
        listed = json.dumps(list(keys), ensure_ascii=False)
        existing = self.conn.execute(
            f'SELECT count(*) FROM "{table}" WHERE _key IN (SELECT value FROM json_each(?))', (listed,)).fetchone()[0]
        # A blank soft field (unreadable, or just empty in this export) keeps what is stored.
        soft = set(self.config.sources[source].soft)
        sets = ", ".join(f'"{c}" = COALESCE(excluded."{c}", "{table}"."{c}")' if c in soft else f'"{c}" = excluded."{c}"'
                         for c in _record_columns(fields) if c != "_key")
        changed = " OR ".join(f'(excluded."{f}" IS NOT NULL AND "{table}"."{f}" IS NOT excluded."{f}")' if f in soft
                              else f'"{table}"."{f}" IS NOT excluded."{f}"' for f in fields)
        upsert = f"{self._insert(source, fields)} ON CONFLICT(_key) DO UPDATE SET {sets} WHERE {changed}"
        # rowcount, not total_changes: the change log's trigger writes rows of its own. The rows already
        # there go in with the trigger (see log_changes), new rows without it: a trigger on a table doubles
        # the cost of inserting into it. A chunk of both kinds is split, new rows keeping their order.
        if not existing or self._logged is None:
            self.log_changes(source, on=False)
            written = self.conn.executemany(upsert, records).rowcount
        elif existing == len(keys):
            self.log_changes(source)
            written = self.conn.executemany(upsert, records).rowcount
        else:
            there = {r[0] for r in self.conn.execute(
                f'SELECT _key FROM "{table}" WHERE _key IN (SELECT value FROM json_each(?))', (listed,))}
            rows = list(records)
            at = len(fields)  # the position of _key in a record
            self.log_changes(source)
            written = self.conn.executemany(upsert, (r for r in rows if r[at] in there)).rowcount
            self.log_changes(source, on=False)
            written += self.conn.executemany(upsert, (r for r in rows if r[at] not in there)).rowcount
        imported = len(keys) - existing
        updated = written - imported
        return MergeCounts(imported, updated, existing - updated)

    def _pg_merge_rows(self, source: str, fields: Sequence[str], records: Iterable[tuple], count: int) -> MergeCounts:
        """merge_rows on a server. The owner of the table tries a chunk as new rows, by COPY straight into
        the table (see _pg_append), unless the file's last chunk held stored keys. When a key is stored, or
        for another role, the rows stream through COPY into a staging table of the file's transaction
        (dropped at its commit or rollback; emptied for each chunk), then one INSERT adds the new keys in the
        file's order and, unless all were new, one UPDATE changes the stored rows that differ (the change
        log's trigger keeps them, PG_SETUP). Same rule for soft fields as on SQLite."""
        table, stage = source_table(source), staging_table(source)
        columns = _record_columns(fields)
        cols = ", ".join(f'"{c}"' for c in columns)
        native = self.conn.execute_native
        owner = self.owns(table)
        if owner:
            # New ids from the highest + 1, as SQLite's rowids: after an undo the same file gets the same ids on
            # both stores (alerts name rows by id). Set here, not by the undo: a sequence ignores rollbacks, and
            # lowering it there would clash with the rows a failed undo puts back. Another role (row-level
            # security hides rows from it) goes on from where the identity stands.
            setval = (f"SELECT setval(pg_get_serial_sequence(%s, '_id'), COALESCE(max(_id), 0) + 1, false) "
                      f'FROM "{table}"')
            native(setval, (f'"{table}"',))
            if source not in self._staging:
                records = list(records)
                if self._pg_append(table, columns, records):
                    return MergeCounts(count, 0, 0)
                self._staging.add(source)
                native(setval, (f'"{table}"',))  # the failed COPY drew ids
        native(f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DROP AS '
               f'SELECT {cols}, 0::bigint AS _n FROM "{table}" WITH NO DATA')
        native(f'TRUNCATE "{stage}"')
        self.conn.copy_rows(stage, [*columns, "_n"], (  # _n: the order of the file, for the new ids
            (*r, n) for n, r in enumerate(records)))
        # A chunk's keys are looked up in the table's key index: the planner, which knows nothing of a temp
        # table's rows, would otherwise hash the whole table (a city's 1.4 M people) for each chunk.
        native("SET LOCAL enable_hashjoin = off")
        native("SET LOCAL enable_mergejoin = off")
        soft = set(self.config.sources[source].soft)
        sets = ", ".join(f'"{c}" = COALESCE(s."{c}", t."{c}")' if c in soft else f'"{c}" = s."{c}"'
                         for c in columns if c != "_key")
        changed = " OR ".join(f'(s."{f}" IS NOT NULL AND t."{f}" IS DISTINCT FROM s."{f}")' if f in soft
                              else f't."{f}" IS DISTINCT FROM s."{f}"' for f in fields)
        imported = native(f'INSERT INTO "{table}" ({cols}) SELECT {", ".join(f"s.{c}" for c in map(_quoted, columns))} '
                          f'FROM "{stage}" AS s WHERE NOT EXISTS (SELECT 1 FROM "{table}" AS t WHERE t._key = s._key) '
                          "ORDER BY s._n").rowcount
        # New rows first: a chunk of only new keys needs no second look-up. The rows just added are identical
        # to the staged ones, so the UPDATE leaves them alone.
        updated = 0 if imported == count else native(
            f'UPDATE "{table}" AS t SET {sets} FROM "{stage}" AS s WHERE t._key = s._key AND ({changed})').rowcount
        native("SET LOCAL enable_hashjoin = DEFAULT")
        native("SET LOCAL enable_mergejoin = DEFAULT")
        if imported == count:  # the stored keys are behind: the next chunk is tried as new rows again
            self._staging.discard(source)
        existing = count - imported
        return MergeCounts(imported, updated, existing - updated)

    def _pg_append(self, table: str, columns: Sequence[str], rows: Sequence[tuple]) -> bool:
        """A chunk's rows by COPY straight into the table, under a savepoint: True when all were new. A key
        already stored stops the COPY at the key's unique index, and the savepoint undoes what it wrote.

        Staging and merging cost the server more than the rows' own writes (a new city's settlements:
        14 µs a row staged, about 8 µs by COPY), and a key look-up before the COPY costs what it saves; so
        the COPY itself is the test. Only for the table's owner: row-level security refuses COPY FROM."""
        import psycopg

        native = self.conn.execute_native
        native("SAVEPOINT relief_append")
        try:
            self.conn.copy_rows(table, columns, rows)
        except psycopg.errors.UniqueViolation as e:
            if e.diag.constraint_name != f"{table}_key":
                raise
            native("ROLLBACK TO SAVEPOINT relief_append")
            native("RELEASE SAVEPOINT relief_append")
            return False
        native("RELEASE SAVEPOINT relief_append")
        return True

    @staticmethod
    def _insert(source: str, fields: Sequence[str]) -> str:
        cols = _record_columns(fields)
        col_list = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        return f'INSERT INTO "{source_table(source)}" ({col_list}) VALUES ({marks})'

    def lock_imports(self) -> None:
        """Imports and undos one at a time, first thing in their transaction. SQLite's write lock does it
        for a file; a server takes an advisory lock, waited for as long as SQLite's busy timeout."""
        if not self.pg:
            return
        import psycopg

        previous = self.conn.execute_native("SELECT current_setting('lock_timeout')").fetchone()[0]
        self.conn.execute_native("SELECT set_config('lock_timeout', %s, true)", (f"{BUSY_TIMEOUT_MS}ms",))
        try:
            self.conn.execute_native("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
        except psycopg.errors.LockNotAvailable:
            raise _busy(self.where) from None
        self.conn.execute_native("SELECT set_config('lock_timeout', %s, true)", (previous,))

    def start_import(self, file: str, path: str, sha256: str) -> int:
        """The import's row, and its change log switched on (see begin_change_log)."""
        self.lock_imports()
        self._staging = set()
        cur = self.conn.execute(
            "INSERT INTO imports (file, path, sha256, imported_at, sheets, rows, imported, updated, unchanged, rejected, "
            "os_user, last_alert, logged) "
            "VALUES (?, ?, ?, ?, '[]', 0, 0, 0, 0, 0, ?, (SELECT COALESCE(MAX(id), 0) FROM alerts), 1) RETURNING id",
            (file, path, sha256, _now(), _os_user()),
        )
        import_id = int(cur.fetchone()[0])
        self.begin_change_log(import_id)
        return import_id

    # -- change log (for undo) ------------------------------------------------
    # Temporary triggers, created inside the file's transaction (a rollback removes them), keep in
    # import_changes every row that the import changes, as it was before (the first time only). They fire
    # only on rows that really change: a re-import of unchanged data writes nothing more. The rows a
    # source table gains carry _import and are not logged. A trigger on a table makes SQLite's inserts into
    # it about twice as slow, so a source table has its trigger only while rows already there are merged
    # (merge_rows) and while its full list ends or reopens entries (close_listing).
    def begin_change_log(self, import_id: int) -> None:
        conn = self.conn
        if self.pg:  # the server's triggers (PG_SETUP) keep the changes while relief.import is set
            conn.execute_native("SELECT set_config('relief.import', %s, true)", (str(import_id),))
            self._logged = set()
            return
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS _change_import (id INTEGER)")
        conn.execute("DELETE FROM temp._change_import")
        conn.execute("INSERT INTO temp._change_import VALUES (?)", (import_id,))
        self._logged = set()
        for table, key in LOGGED_TABLES.items():  # a returned visit sheet closes alerts
            conn.execute(
                f'CREATE TEMP TRIGGER "_log_{table}" AFTER UPDATE ON main."{table}" '
                f"BEGIN INSERT OR IGNORE INTO import_changes (import_id, tbl, row_id, before) "
                f"VALUES ({_CURRENT_IMPORT}, '{table}', OLD.\"{key}\", {self._json_row(table)}); END")
        conn.execute(
            'CREATE TEMP TRIGGER "_log_outcomes" AFTER INSERT ON main.outcomes '
            f"BEGIN INSERT OR IGNORE INTO import_changes (import_id, tbl, row_id) VALUES ({_CURRENT_IMPORT}, 'outcomes', NEW.id); END")

    def log_changes(self, source: str, on: bool = True) -> None:
        """Switch the keeping of this source's changed rows on or off (only while an import runs)."""
        if self._logged is None or (source in self._logged) == on or self.pg:
            return
        table = source_table(source)
        if not on:
            self.conn.execute(f'DROP TRIGGER temp."_log_{table}"')
            self._logged.discard(source)
            return
        self.conn.execute(
            f'CREATE TEMP TRIGGER "_log_{table}" AFTER UPDATE ON main."{table}" WHEN OLD._import IS NOT {_CURRENT_IMPORT} '
            f"BEGIN INSERT OR IGNORE INTO import_changes (import_id, tbl, row_id, prev_import, before) "
            f"VALUES ({_CURRENT_IMPORT}, '{table}', OLD._id, OLD._import, {self._json_row(table)}); END")
        self._logged.add(source)

    def end_change_log(self) -> None:
        if self.pg:
            self.conn.execute_native("SELECT set_config('relief.import', '', true)")
            self._logged = None
            return
        for name in [*map(source_table, self._logged or ()), *LOGGED_TABLES, "outcomes"]:
            self.conn.execute(f'DROP TRIGGER IF EXISTS temp."_log_{name}"')
        self._logged = None
        self.conn.execute("DELETE FROM temp._change_import")

    def columns(self, table: str) -> list[str]:
        if self.pg:
            return [r[0] for r in self.conn.execute_native(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s ORDER BY ordinal_position", (table,))]
        return [r[1] for r in self.conn.execute("SELECT * FROM pragma_table_info(?)", (table,))]

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> its declared type (SQLite's as written, e.g. INTEGER; a server's data_type, e.g. bigint)."""
        if self.pg:
            return dict(self.conn.execute_native(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall())
        return {r[1]: r[2] for r in self.conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}

    def _json_row(self, table: str) -> str:
        """SQL building the OLD row of `table` as a JSON object (json_insert keeps nulls; json_patch would drop them)."""
        columns = self.columns(table)
        expr = "json_object(" + ", ".join(f"'{c}', OLD.\"{c}\"" for c in columns[:_JSON_PAIRS]) + ")"
        for i in range(_JSON_PAIRS, len(columns), _JSON_PAIRS):
            expr = f"json_insert({expr}, " + ", ".join(f"'$.\"{c}\"', OLD.\"{c}\"" for c in columns[i:i + _JSON_PAIRS]) + ")"
        return expr

    def finish_import(self, import_id: int, sheets: list[dict], totals: dict[str, int],
                      latest: dict[str, str | None] | None = None) -> None:
        """latest: per source the import brought, its latest record date (see SourceSpec.date_field)."""
        self.end_change_log()
        self.conn.executemany("INSERT INTO import_dates VALUES (?, ?, ?)",
                              [(import_id, source, day) for source, day in (latest or {}).items()])
        self.conn.execute(
            "UPDATE imports SET sheets = ?, rows = ?, imported = ?, updated = ?, unchanged = ?, rejected = ? WHERE id = ?",
            (
                json.dumps(sheets, ensure_ascii=False),
                totals["rows"],
                totals["imported"],
                totals["updated"],
                totals["unchanged"],
                totals["rejected"],
                import_id,
            ),
        )

    # -- rejected rows --------------------------------------------------------
    def add_rejects(self, import_id: int, sheet: str, titles: Sequence[str], rows: Iterable[tuple[int, str, str]]) -> None:
        """Rows of one sheet that were refused (or kept with a cell left blank): (row, cells JSON, reason)."""
        self.conn.execute("INSERT OR IGNORE INTO reject_sheets VALUES (?, ?, ?)",
                          (import_id, sheet, json.dumps(list(titles), ensure_ascii=False)))
        self.conn.executemany("INSERT INTO rejects (import_id, sheet, row, cells, reason) VALUES (?, ?, ?, ?, ?)",
                              ((import_id, sheet, row, cells, reason) for row, cells, reason in rows))

    def reject_sheets(self, import_id: int) -> list[tuple[str, list[str]]]:
        # In the order the sheets were refused rows (the first of each is written with its sheet): a
        # server keeps no insertion order.
        rows = self.conn.execute(
            "SELECT s.sheet, s.titles FROM reject_sheets s WHERE s.import_id = ? "
            "ORDER BY (SELECT MIN(r.id) FROM rejects r WHERE r.import_id = s.import_id AND r.sheet = s.sheet)", (import_id,))
        return [(sheet, json.loads(titles)) for sheet, titles in rows]

    def rejects_of(self, import_id: int, sheet: str) -> Iterator[tuple[int, list[Any], str]]:
        """(row, original cells, reason) in the order they were refused, read lazily."""
        cur = self.conn.execute("SELECT row, cells, reason FROM rejects WHERE import_id = ? AND sheet = ? ORDER BY id",
                                (import_id, sheet))
        for row, cells, reason in cur:
            yield row, json.loads(cells), reason

    def import_file(self, import_id: int) -> tuple[str, str] | None:
        """(file name, path) of an import, or None."""
        row = self.conn.execute("SELECT file, path FROM imports WHERE id = ?", (import_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    # -- full lists -----------------------------------------------------------
    def note_listed(self, source: str, keys: Sequence[str], protected: Sequence[str] = ()) -> None:
        """Remember, for this file's transaction, the entries a full list names, and the first key
        (the ID) of its rejected rows: a row the list holds but relief could not read ends nobody."""
        self._listing_tables(source)
        if self.pg:  # a city's list names a million people: one statement each cost the server more than the merge
            self.conn.copy_rows(listed_table(source), ["key"], zip(keys))
            self.conn.copy_rows(f"{listed_table(source)}_protected", ["value"], zip(protected))
            return
        self.conn.executemany(f'INSERT OR IGNORE INTO "{listed_table(source)}" VALUES (?)', zip(keys))
        self.conn.executemany(f'INSERT OR IGNORE INTO "{listed_table(source)}_protected" VALUES (?)', zip(protected))

    def _listing_tables(self, source: str) -> None:
        """The names of a full list, for its file's transaction. A server's take repeats (filled by COPY);
        close_listing only asks whether a name is there."""
        if self.pg:
            self.conn.execute_native(f'CREATE TEMP TABLE IF NOT EXISTS "{listed_table(source)}" (key text)')
            self.conn.execute_native(f'CREATE TEMP TABLE IF NOT EXISTS "{listed_table(source)}_protected" (value text)')
            return
        self.conn.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{listed_table(source)}" (key TEXT PRIMARY KEY) WITHOUT ROWID')
        self.conn.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{listed_table(source)}_protected" '
                          "(value TEXT PRIMARY KEY) WITHOUT ROWID")

    def record_listing(self, source: str, day: str, import_id: int) -> None:
        """A full list's date (close_listing records it; a first load, which ends nobody, too)."""
        self.conn.execute("INSERT INTO listings VALUES (?, ?, ?)", (source, day, import_id))

    def max_id(self, source: str) -> int:
        return self.conn.execute(f'SELECT COALESCE(MAX(_id), 0) FROM "{source_table(source)}"').fetchone()[0]

    def close_listing(self, source: str, day: str, import_id: int, new_rows: int, allow_shrink: bool,
                      first_new_id: int | None = None, end: bool = True) -> tuple[int, int]:
        """A full list has been merged: end the valid entries of its scope that it does not name,
        reopen the ended ones it names again (their earlier span goes to list_spans), and date the
        entries it adds (_id above first_new_id) from `day`.

        end=False (a supplement, a corrected rejects workbook) only reopens. Must run
        inside the file's transaction. Returns (ended, reopened); raises ShrinkRefused when more
        than max_shrink of the entries listed before would end, unless allowed, and ListOutOfOrder
        for a list older than one already imported.
        """
        spec = self.config.sources[source].full_list
        assert spec is not None
        table = source_table(source)
        self.log_changes(source)
        self._listing_tables(source)
        if self.pg:  # temp tables get no statistics of their own: without them a million names look like none
            self.conn.execute_native(f'ANALYZE "{listed_table(source)}", "{listed_table(source)}_protected"')
        listed = f'SELECT key FROM "{listed_table(source)}"'
        scope = "1 = 1"
        if spec.scope:
            cols = ", ".join(f't."{f}"' for f in spec.scope)
            inner = ", ".join(f'x."{f}"' for f in spec.scope)
            scope = f"({cols}) IN (SELECT {inner} FROM \"{table}\" x WHERE x._key IN ({listed}))"
        params = {"source": source, "day": day, "import": import_id, "first_new": first_new_id}
        first_key = self.config.sources[source].key[0]
        # NOT EXISTS, not NOT IN: a server hashes NOT IN's list only within work_mem and otherwise
        # scans it once per stored row (a city's re-imported population: hours). Keys and IDs are never NULL.
        gone = (f'FROM "{table}" t WHERE t._valid_to IS NULL AND {scope} '
                f'AND NOT EXISTS (SELECT 1 FROM "{listed_table(source)}" l WHERE l.key = t._key) '
                f'AND NOT EXISTS (SELECT 1 FROM "{listed_table(source)}_protected" p WHERE p.value = t."{first_key}")')
        ended = 0
        if end:
            # (A list per district is dated per district: only a city-wide list is checked for order.)
            latest = self.conn.execute("SELECT MAX(day) FROM listings WHERE source = ?", (source,)).fetchone()[0]
            if not spec.scope and latest is not None and latest > day:
                raise ListOutOfOrder(latest)
            ended = self.conn.execute(f"SELECT count(*) {gone}", params).fetchone()[0]
            valid = self.conn.execute(f'SELECT count(*) FROM "{table}" t WHERE t._valid_to IS NULL AND {scope}',
                                      params).fetchone()[0]
            before = valid - new_rows
            if ended and not allow_shrink and ended > spec.max_shrink * before:
                raise ShrinkRefused(ended, before, spec.max_shrink)
            self.record_listing(source, day, import_id)
        if end and first_new_id is not None:  # a supplement fills a gap: its entries are not dated
            self.conn.execute(f'UPDATE "{table}" SET _valid_from = :day WHERE _id > :first_new AND _valid_from IS NULL',
                              params)
        if ended:
            self.conn.execute(f'UPDATE "{table}" AS t SET _valid_to = :day, _ended_by = :import '
                              f"WHERE t._id IN (SELECT t._id {gone})", params)
        # Through the partial index of ended entries: instant when (as usual) few have ended.
        back = f'FROM "{table}" t INDEXED BY "{table}_ended" WHERE t._valid_to IS NOT NULL AND t._key IN ({listed})'
        reopened = self.conn.execute(
            f"INSERT INTO list_spans (source, key, valid_from, valid_to, ended_by, reopened_by) "
            f"SELECT :source, t._key, t._valid_from, t._valid_to, t._ended_by, :import {back}", params).rowcount
        if reopened:
            self.conn.execute(f'UPDATE "{table}" AS t SET _valid_from = :day, _valid_to = NULL, _ended_by = NULL '
                              f"WHERE t._id IN (SELECT t._id {back})", params)
        self.conn.execute(f'DELETE FROM "{listed_table(source)}"')
        self.conn.execute(f'DELETE FROM "{listed_table(source)}_protected"')
        return ended, reopened

    def valid_views(self, day: str) -> None:
        """Temp views _valid_<source> of the full-list sources: the entries on the list on `day`."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _as_of (day TEXT)")
        self.conn.execute("DELETE FROM _as_of")
        self.conn.execute("INSERT INTO _as_of VALUES (?)", (day,))
        on = "(SELECT day FROM temp._as_of)"
        for source, spec in self.config.sources.items():
            if spec.full_list is None:
                continue
            self.conn.execute(f'DROP VIEW IF EXISTS temp."{valid_table(source)}"')
            self.conn.execute(
                f'CREATE TEMP VIEW "{valid_table(source)}" AS SELECT * FROM main."{source_table(source)}" t '
                f"WHERE (t._valid_to IS NULL OR t._valid_to > {on}) AND (t._valid_from IS NULL OR t._valid_from <= {on}) "
                f"OR EXISTS (SELECT 1 FROM main.list_spans s WHERE s.source = '{source}' AND s.key = t._key "
                f"AND s.valid_to > {on} AND (s.valid_from IS NULL OR s.valid_from <= {on}))"
            )

    # -- audit ----------------------------------------------------------------
    def audit(self, command: str, filters: dict, rows: int, show_pii: bool, target: str | None = None) -> None:
        """Every export and every --show-pii use leaves a line: who, when, what, how many."""
        with self.transaction():
            self.audit_in_transaction(command, filters, rows, show_pii, target)

    def audit_in_transaction(self, command: str, filters: dict, rows: int, show_pii: bool, target: str | None = None) -> None:
        """The audit line of a write, in the write's own transaction (undo)."""
        self.conn.execute(
            "INSERT INTO audit (at, os_user, command, filters, rows, show_pii, target, db_role) "
            f"VALUES (?, ?, ?, ?, ?, ?, ?, {'current_user' if self.pg else 'NULL'})",
            (_now(), _os_user(), command, json.dumps(filters, ensure_ascii=False, default=str), rows, int(show_pii), target),
        )

    def tidy(self, table: str) -> None:
        """After a bulk write, outside its transaction: a server marks the table's pages all-visible, so
        that listings read its covering indexes alone (a province's overdue list by worker); autovacuum
        would get there only later. SQLite needs nothing. A role that does not own the table is skipped
        by the server with a notice, not an error."""
        if self.pg:
            self.conn.execute_native(f'VACUUM "{table}"')

    def count(self, source: str) -> int:
        return self.conn.execute(f'SELECT count(*) FROM "{source_table(source)}"').fetchone()[0]


def _record_columns(fields: Sequence[str]) -> list[str]:
    return [*fields, "_key", "_sheet", "_row", "_file", "_import"]


def source_table(source: str) -> str:
    return f"src_{source}"


def staging_table(source: str) -> str:
    """The server's temp table of one chunk of a file's rows, while they are merged (Store._pg_merge_rows)."""
    return f"_stage_{source}"


def _quoted(column: str) -> str:
    return f'"{column}"'


def listed_table(source: str) -> str:
    """The temp table of the keys a full list names, while its file is merged."""
    return f"_listed_{source}"


def yuan_view(source: str) -> str:
    """The view of a source with its amounts in 元 (the table keeps 分)."""
    return f"{source}_yuan"


def valid_table(source: str) -> str:
    """The view of a full-list source's entries valid on the date of Store.valid_views."""
    return f"_valid_{source}"


def read_table(config: Any, source: str) -> str:
    """What a query as of a date reads: the valid entries of a full list, else the whole table.
    config: the Config, or its Settings (anything with .sources)."""
    return valid_table(source) if config.sources[source].full_list is not None else source_table(source)


def source_columns(spec: SourceSpec) -> list[str]:
    return list(spec.fields)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def schema_steps(server: bool) -> list[tuple[str, bool]]:
    """The schema's steps in their numbering, (script, written for the server alone): on a server,
    PG_SETUP between the migrations before server mode and those after it."""
    steps = [(script, False) for script in MIGRATIONS]
    if server:
        steps[PG_SETUP_AFTER:PG_SETUP_AFTER] = [(script, True) for script in PG_SETUP]
    return steps


def _pg_statements(script: str) -> list[str]:
    """PG_SETUP's statements: a function body between $$ keeps its semicolons."""
    parts, out = script.split("$$"), []
    text = ""
    for i, part in enumerate(parts):
        if i % 2:
            text += "$$" + part + "$$"
            continue
        pieces = part.split(";")
        text += pieces[0]
        for piece in pieces[1:]:
            if text.strip():
                out.append(text.strip())
            text = piece
    if text.strip():
        out.append(text.strip())
    return out


def _is_pg_error(e: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(e, psycopg.Error)


def _pg_reason(e: BaseException, opening: bool = False) -> str:
    from .pg import error_reason

    return error_reason(e, opening) if isinstance(e, Exception) else "数据库错误"


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


def os_user() -> str:
    return _os_user()


def _os_user() -> str:
    """The operating-system account running relief, as the system knows it: not LOGNAME or USER,
    which anyone can set to another name before running a command."""
    if sys.platform == "win32":
        try:
            import ctypes

            size = ctypes.c_ulong(257)
            buffer = ctypes.create_unicode_buffer(size.value)
            if ctypes.windll.advapi32.GetUserNameW(buffer, ctypes.byref(size)):
                return buffer.value
        except (OSError, AttributeError):
            pass
        return "未知用户"
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry for the uid (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "未知用户"


def _tighten(path: Path) -> None:
    """A database made before (or by another tool) may be readable by others: owner-only now, with
    its -wal and -shm. Windows has no such mode bits: there the folder's ACL decides (README)."""
    if not hasattr(os, "fchmod"):
        return
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if name.exists() and os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except OSError:  # not ours to change (another user's file): SQLite will say if it cannot be read
            pass


def _reason(e: Exception) -> str:
    text = str(e)
    if "not a database" in text:
        return "文件不是 SQLite 数据库或已损坏"
    if "locked" in text or "busy" in text:
        return "数据库被其他进程锁定"
    return "数据库错误"


def _store_error(path: Path, e: sqlite3.OperationalError) -> StoreError:
    if "locked" in str(e) or "busy" in str(e):
        return _busy(path)
    return StoreError(f"{path}: {_reason(e)}")


def _busy(where: Path | str) -> StoreBusy:
    return StoreBusy(f"{where}: 数据库正被另一个 relief 进程写入，等待 {BUSY_TIMEOUT_MS // 1000} 秒后仍未释放，请稍后再试")
