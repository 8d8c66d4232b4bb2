"""relief scan: evaluate every enabled rule as of a date, then write and route alerts.

Everything is set-based: each rule kind contributes one query whose hits land in a
temp table; routing, due dates and de-duplication are single statements over it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .kinds.base import RuleBase, ScanContext
from .kinds.common import yuan
from .kinds.shared import SharedTable
from .pg import SCAN_WORK_MEM
from .status import rule_warnings
from .values import mask_name
from .store import SCAN_LOCK, Store, StoreError, read_table, source_table
from .workdays import refresh_calendar


@dataclass(frozen=True)
class RuleCount:
    rule: str
    name: str
    hits: int  # subjects the rule matches on this date
    new: int  # alerts this scan raises (or would raise, in a dry run)
    stored: int  # alerts of this rule already in the database before the scan


@dataclass(frozen=True)
class ScanResult:
    as_of: dt.date
    dry_run: bool
    rules: list[RuleCount]
    unassigned: int
    # Per rule, the sources it reads that are missing or older than their cadence (status.RuleWarning).
    warnings: tuple[Any, ...] = ()

    @property
    def new(self) -> int:
        return sum(r.new for r in self.rules)


def scan(store: Store, as_of: dt.date, *, rules: Sequence[RuleBase] | None = None, dry_run: bool = False) -> ScanResult:
    """Raise alerts for every enabled rule; a dry run computes the same and rolls back."""
    settings = store.config.settings
    rules = [r for r in (rules if rules is not None else store.config.rules) if r.enabled]
    conn = store.conn
    if not store.pg:  # a server has them as SQL functions (dialect.COMPAT_FUNCTIONS)
        conn.create_function("yuan", 1, yuan, deterministic=True)
        # Evidence names household members masked, as every output does; sqrt is not in every SQLite build.
        conn.create_function("mask_name", 1, mask_name, deterministic=True)
        conn.create_function("sqrt", 1, _sqrt, deterministic=True)
    ctx = ScanContext(as_of=as_of.isoformat(), settings=settings)
    counts: list[RuleCount] = []
    with store.transaction():
        _scan_lock(store)
        refresh_calendar(store, as_of)
        warnings = tuple(rule_warnings(store, as_of, rules))
        store.valid_views(ctx.as_of)
        _build_people(store, ctx)
        conn.execute("DROP TABLE IF EXISTS temp._hits")
        conn.execute(
            "CREATE TEMP TABLE _hits (rule_id TEXT, subject TEXT, subject_key TEXT, period TEXT, evidence TEXT, refs TEXT)"
        )
        shared = {t.name: t for rule in rules for t in rule.shared(ctx)}
        _build_shared(conn, shared.values())
        for rule in rules:
            _collect_hits(conn, rule, ctx)
        _drop_shared(conn, shared)
        _sort_refs(conn)
        _hits_of_the_dead_go_to_the_household(conn, ctx)
        _analyze(conn, "_hits")
        _route(store, "_hits")
        for rule in rules:
            hits, stored = conn.execute(
                "SELECT (SELECT count(*) FROM _hits WHERE rule_id = :r), (SELECT count(*) FROM alerts WHERE rule_id = :r)",
                {"r": rule.id},
            ).fetchone()
            new = _raise_alerts(store, rule, as_of)
            counts.append(RuleCount(rule.id, rule.name, hits, new, stored))
        route_unassigned(store)
        # The listings read the alerts next: planned on the table as the scan left it, not before (a province's
        # overdue list took minutes until autovacuum came by).
        _analyze(conn, "alerts")
        unassigned = conn.execute("SELECT count(*) FROM alerts WHERE status = 'open' AND worker IS NULL").fetchone()[0]
        if dry_run:
            raise _RollBack(ScanResult(as_of, True, counts, unassigned, warnings))
    store.tidy("alerts")
    return ScanResult(as_of, False, counts, unassigned, warnings)


class ScanRunning(StoreError):
    """Another scan holds the database's scan lock."""


class RuleQueryRefused(StoreError):
    """A user's sql rule that cannot run: it would write, lacks a column, or is not valid SQL. The scan
    writes nothing."""


def _scan_lock(store: Store) -> None:
    """One scan at a time on a server, as SQLite's write lock makes it (alert ids: _raise_alerts): a
    second one says so at once rather than waiting for minutes behind the first."""
    if not store.pg:
        return
    if not store.conn.execute_native("SELECT pg_try_advisory_xact_lock(%s)", (SCAN_LOCK,)).fetchone()[0]:
        raise ScanRunning("另一个 relief scan 正在运行（同一数据库同时只能运行一个预警扫描），请等它完成后再试")
    # The one scan of the database may sort and hash in more memory than the server gives a session
    # (its default 4 MB spills a province's per-person groups to disk); never less than it gives.
    store.conn.execute_native(
        "SELECT set_config('work_mem', %s, true) WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes(%s)",
        (SCAN_WORK_MEM, SCAN_WORK_MEM))


def _sqrt(x: float | None) -> float | None:
    return None if x is None or x < 0 else x ** 0.5


class _RollBack(Exception):
    def __init__(self, result: ScanResult):
        self.result = result


def dry_run(store: Store, as_of: dt.date, rules: Sequence[RuleBase] | None = None) -> ScanResult:
    try:
        scan(store, as_of, rules=rules, dry_run=True)
    except _RollBack as done:
        return done.result
    raise AssertionError("dry run must roll back")


def _build_people(store: Store, ctx: ScanContext) -> None:
    """_person and _household: the effective assistance category of people and households that have one."""
    settings = ctx.settings
    conn = store.conn
    ranks = [(c.name, i) for i, c in enumerate(settings.categories)]
    for stmt in ("DROP TABLE IF EXISTS temp._cat", "DROP TABLE IF EXISTS temp._roster",
                 "DROP TABLE IF EXISTS temp._household", "DROP TABLE IF EXISTS temp._person"):
        conn.execute(stmt)
    conn.execute("CREATE TEMP TABLE _cat (name TEXT PRIMARY KEY, rank INTEGER)")
    conn.executemany("INSERT INTO _cat VALUES (?, ?)", ranks)
    params = {"as_of": ctx.as_of, "inactive": json.dumps(list(settings.inactive_statuses), ensure_ascii=False)}
    conn.execute(
        f"""CREATE TEMP TABLE _roster AS
           SELECT a.id_no, MIN(c.rank) AS rank FROM {ctx.table("assistance")} a JOIN _cat c ON c.name = a.category
           WHERE (a.status IS NULL OR a.status NOT IN (SELECT value FROM json_each(:inactive)))
             AND (a.since IS NULL OR a.since <= :as_of)
           GROUP BY a.id_no""",
        params,
    )
    conn.execute(
        f"""CREATE TEMP TABLE _household AS
           SELECT p.hukou_no, c.name AS category FROM (
               SELECT p.hukou_no, MIN(r.rank) AS rank FROM {ctx.table("population")} p JOIN _roster r ON r.id_no = p.id_no
               GROUP BY p.hukou_no) p JOIN _cat c ON c.rank = p.rank"""
    )
    conn.execute("CREATE UNIQUE INDEX temp._household_pk ON _household (hukou_no)")
    # Only people with a category: everyone else is the default category, which every
    # kind supplies with COALESCE. A person's own roster category wins over the household's,
    # and a person whose own roster row has ended (停发, 退出 ...) inherits none from it.
    conn.execute(
        f"""CREATE TEMP TABLE _person AS
           SELECT r.id_no, c.name AS category FROM _roster r JOIN _cat c ON c.rank = r.rank
           UNION ALL
           SELECT p.id_no, h.category FROM _household h JOIN {ctx.table("population")} p ON p.hukou_no = h.hukou_no
           WHERE p.id_no NOT IN (SELECT id_no FROM _roster)
             AND p.id_no NOT IN (SELECT a.id_no FROM {ctx.table("assistance")} a
                                 WHERE a.status IN (SELECT value FROM json_each(:inactive)))""",
        params,
    )
    conn.execute("CREATE UNIQUE INDEX temp._person_pk ON _person (id_no)")
    for table in ("_roster", "_household", "_person"):
        _analyze(conn, table)


def _build_shared(conn: Any, tables: Iterable[SharedTable]) -> None:
    """SQLite keeps a keyed table in the order of its key (WITHOUT ROWID). A server fills the table in
    the order of its key and then builds the key's index over rows already in order: a province's
    11 M person-months took 30 s to index in the order they were grouped, 2 s in key order."""
    server = getattr(conn, "dialect", "sqlite") == "postgresql"
    for t in tables:
        conn.execute(f'DROP TABLE IF EXISTS temp."{t.name}"')
        indexed = bool(t.key) and t.server_key and server
        if t.key and not server:
            conn.execute(f'CREATE TEMP TABLE "{t.name}" ({t.columns}, PRIMARY KEY ({t.key})) WITHOUT ROWID')
        else:
            conn.execute(f'CREATE TEMP TABLE "{t.name}" ({t.columns})')
        conn.execute(f'INSERT INTO "{t.name}" {t.select}' + (f" ORDER BY {_positions(t)}" if indexed else ""), t.params)
        if indexed:
            conn.execute(f'CREATE UNIQUE INDEX "{t.name}_key" ON "{t.name}" ({t.key})')
        _analyze(conn, t.name)


def _positions(t: SharedTable) -> str:
    """The key's columns as positions in the table's rows (the select names them in table order)."""
    names = [c.split()[0].strip('"') for c in t.columns.split(", ")]
    return ", ".join(str(names.index(k.strip()) + 1) for k in t.key.split(","))


def _analyze(conn: Any, table: str) -> None:
    """A server's planner knows nothing of a temp table's rows (autovacuum never reads them): guessing
    67 people where a city has 134,000 picks nested loops that grow with the square of a province."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        conn.execute_native(f'ANALYZE "{table}"')


def _drop_shared(conn: sqlite3.Connection, names: Iterable[str]) -> None:
    """Their memory is better spent on routing the alerts."""
    for name in names:
        conn.execute(f'DROP TABLE temp."{name}"')


def _collect_hits(conn: sqlite3.Connection, rule: RuleBase, ctx: ScanContext) -> None:
    sql, params = rule.select(ctx)
    meta = {"rule_id": rule.id, "subject": rule.subject}
    if rule.kind == "sql":
        try:
            rows = _run_read_only(conn, sql, params)
        except RuleQueryRefused as e:
            raise RuleQueryRefused(f"规则「{rule.id}」（{rule.name}）的查询{e}") from None
        except sqlite3.DatabaseError as e:  # the rule's own text is wrong, or it tried to write
            reason = "只能读取数据" if "not authorized" in str(e) else f"有误，SQLite 无法执行：{_sqlite_reason(e)}"
            raise RuleQueryRefused(f"规则「{rule.id}」（{rule.name}）的查询{reason}") from None
        conn.executemany(
            "INSERT INTO _hits VALUES (?, ?, ?, ?, ?, ?)",
            [(rule.id, rule.subject, r["subject_key"], str(r["period"]), r["evidence"], r.get("refs") or "[]") for r in rows],
        )
        return
    conn.execute(
        f"INSERT INTO _hits SELECT :rule_id, :subject, subject_key, period, evidence, refs FROM ({sql})",
        {**params, **meta},
    )


def _sort_refs(conn: Any) -> None:
    """A hit's source records in one order, by source and row id, whatever order the rule's query
    (and the store's planner) met them in: an alert reads the same on every store."""
    conn.execute(
        """
        UPDATE _hits SET refs = (
            SELECT json_group_array(json(o.value)) FROM (
                SELECT value FROM json_each(_hits.refs)
                ORDER BY json_extract(value, '$.source'), CAST(json_extract(value, '$.id') AS INTEGER)) o)
        WHERE json_array_length(refs) > 1
        """
    )


def _hits_of_the_dead_go_to_the_household(conn: sqlite3.Connection, ctx: ScanContext) -> None:
    """A person who died on or before the scan date is not visited as a person: the hit goes to
    the household, its evidence stating the death. The period gains the person's ID, so that
    two members' hits of one rule and period stay two alerts. The household is the one the
    person last belonged to: 户籍 often takes the dead off the population list, so the whole
    history of the list is read, not the entries valid on the scan date."""
    if "deaths" not in ctx.settings.sources:
        return
    conn.execute(
        f"""
        UPDATE _hits SET
            subject = CASE WHEN x.hukou_no IS NULL THEN 'person' ELSE 'household' END,
            subject_key = COALESCE(x.hukou_no, _hits.subject_key),
            period = CASE WHEN x.hukou_no IS NULL OR instr(_hits.period, x.id_no) > 0 THEN _hits.period
                          ELSE _hits.period || '|' || x.id_no END,
            evidence = _hits.evidence || '（' || COALESCE(x.who || ' ', '此人') || '已于 ' || x.died || ' 死亡'
                       || CASE WHEN x.hukou_no IS NULL THEN '' ELSE '，预警到户' END || '）'
        FROM (
            SELECT d.id_no, MIN(d.death_date) AS died, p.hukou_no,
                   CASE WHEN p.id_no IS NOT NULL THEN COALESCE(p.relation, '成员') || ' ' || mask_name(p.name) END AS who
            FROM {ctx.table("deaths")} d LEFT JOIN {source_table("population")} p ON p.id_no = d.id_no
            WHERE d.death_date <= :as_of AND d.id_no IN (SELECT subject_key FROM _hits WHERE subject = 'person')
            GROUP BY d.id_no
        ) x
        WHERE _hits.subject = 'person' AND _hits.subject_key = x.id_no
        """,
        {"as_of": ctx.as_of},
    )


# SQLite's reasons for refusing a query's text, as an officer reads them; the names come from the rule's own SQL.
_SQLITE_REASONS = (
    (re.compile(r'near "(.*)": syntax error'), "在「{0}」附近有语法错误"),
    (re.compile(r"no such column: (.*)"), "没有列 {0}"),
    (re.compile(r"no such table: (.*)"), "没有表 {0}"),
    (re.compile(r"no such function: (.*)"), "没有函数 {0}"),
    (re.compile(r"ambiguous column name: (.*)"), "列名 {0} 有歧义（几个表都有这一列，请写明表名）"),
    (re.compile(r"wrong number of arguments to function (.*)"), "函数 {0} 的参数个数不对"),
    (re.compile(r"incomplete input"), "语句不完整"),
)


def _sqlite_reason(e: Exception) -> str:
    text = str(e)
    for pattern, chinese in _SQLITE_REASONS:
        found = pattern.fullmatch(text)
        if found:
            return chinese.format(*found.groups())
    return f"（SQLite 的原文：{text}）"


def _run_read_only(conn: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A user's sql rule: its rows as dicts, the query kept from writing (on either store)."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        names, rows = _read_only_pg(conn, sql, params)
    else:
        names, rows = _read_only_sqlite(conn, sql, params)
    missing = {"subject_key", "period", "evidence"} - set(names)
    if missing:
        raise RuleQueryRefused(f"缺少列：{', '.join(sorted(missing))}")
    return [dict(zip(names, row)) for row in rows]


def _read_only_sqlite(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}

    def authorizer(action: int, *args: Any) -> int:
        return sqlite3.SQLITE_OK if action in allowed else sqlite3.SQLITE_DENY

    conn.set_authorizer(authorizer)
    try:
        cur = conn.execute(sql, params)
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        conn.set_authorizer(None)


def _read_only_pg(conn: Any, sql: str, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
    """On a server: a statement that writes nothing (checked on its parse tree), run read-only (a
    function it calls cannot write either) in a savepoint that is rolled back whatever it did."""
    from .dialect import writes

    if writes(sql):
        raise RuleQueryRefused("只能读取数据")
    conn.execute_native("SAVEPOINT relief_sql_rule")
    try:
        conn.execute_native("SET LOCAL transaction_read_only = on")  # undone with the savepoint
        cur = conn.execute(sql, params)
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        conn.execute_native("ROLLBACK TO SAVEPOINT relief_sql_rule")


# Routing: a person's own population row, a household's head (or first member);
# then the grid table gives district, town and the grid worker. The population and the
# grid table are read as on the scan date ({population}, {grids}: their valid views).
ROUTE_SQL = """
CREATE TEMP TABLE _route AS
SELECT 'person' AS subject, p.id_no AS subject_key, p.hukou_no, p.community, p.grid
FROM {population} p WHERE p.id_no IN (SELECT k.subject_key FROM {keys} k WHERE k.subject = 'person')
UNION ALL
SELECT 'household', h.hukou_no, h.hukou_no, h.community, h.grid FROM (
    SELECT hukou_no, community, grid,
           ROW_NUMBER() OVER (PARTITION BY hukou_no ORDER BY (relation = '户主') DESC, _id) AS n
    FROM {population} WHERE hukou_no IN (SELECT k.subject_key FROM {keys} k WHERE k.subject = 'household')) h
WHERE h.n = 1
"""


def _route(store: Store, keys: str) -> None:
    """_route: where each subject of `keys` (a table or subquery with subject and subject_key) lives
    on the population list, a person by their own record and a household by its head's (户主, else its
    first member). Found once for all the subjects, not once per rule or per alert."""
    store.conn.execute("DROP TABLE IF EXISTS temp._route")
    store.conn.execute(ROUTE_SQL.format(population=read_table(store.config, "population"), keys=keys))
    store.conn.execute("CREATE INDEX temp._route_key ON _route (subject_key, subject)")
    _analyze(store.conn, "_route")


def _raise_alerts(store: Store, rule: RuleBase, as_of: dt.date) -> int:
    """Insert this rule's new alerts; existing (rule, subject, period) and cooling-down subjects are left alone.
    Needs _route of the hits (_route(store, "_hits")).

    The ids are given here, as SQLite numbers rows (one more than the largest), in the order of subject
    and period: the same alert gets the same id on both stores. A server's own numbering would differ
    (its identity is spent by a dry run's rolled-back rows too); one scan at a time (scan's lock)."""
    conn = store.conn
    return conn.execute(
        f"""
        INSERT OR IGNORE INTO alerts (id, rule_id, rule_name, family, severity, suggests, subject, subject_key, period,
                                      id_no, hukou_no, district, town, community, grid, worker, worker_phone,
                                      raised_on, due_on, evidence, refs)
        SELECT (SELECT COALESCE(MAX(id), 0) FROM alerts)
                   + ROW_NUMBER() OVER (ORDER BY h.subject_key, h.period, h.evidence, h.refs) AS id,
               h.rule_id, :name, :family, :severity, :suggests, h.subject, h.subject_key, h.period,
               CASE WHEN h.subject = 'person' THEN h.subject_key END, r.hukou_no, g.district, g.town,
               r.community, r.grid, g.worker, g.worker_phone,
               :as_of, (SELECT MIN(day) FROM calendar WHERE idx = (SELECT idx FROM calendar WHERE day = :as_of) + :n),
               h.evidence, h.refs
        FROM _hits h
        LEFT JOIN _route r ON r.subject_key = h.subject_key AND r.subject = h.subject
        LEFT JOIN {read_table(store.config, "grids")} g ON g.community = r.community AND g.grid = r.grid
        WHERE h.rule_id = :rule_id
          AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = h.rule_id AND a.subject_key = h.subject_key
                          AND (a.period = h.period OR a.raised_on > :cooled))
        ORDER BY 1
        """,
        {
            "rule_id": rule.id, "name": rule.name, "family": rule.family, "severity": rule.severity,
            "suggests": "、".join(rule.suggests), "as_of": as_of.isoformat(),
            "n": store.config.settings.visit_working_days,
            "cooled": (as_of - dt.timedelta(days=rule.cooldown_days)).isoformat(),
        },
    ).rowcount


def route_unassigned(store: Store) -> None:
    """Open alerts without a worker are routed again: grid data may have arrived since.

    Inside a scan: the population and grid table as on the scan date."""
    unassigned = "(SELECT subject, subject_key FROM alerts WHERE status = 'open' AND worker IS NULL)"
    if store.conn.execute(f"SELECT count(*) FROM {unassigned} u").fetchone()[0] == 0:
        return
    _route(store, unassigned)
    store.conn.execute(
        f"""
        UPDATE alerts SET
            hukou_no = COALESCE(alerts.hukou_no, x.hukou_no), community = x.community, grid = x.grid,
            district = x.district, town = x.town, worker = x.worker, worker_phone = x.worker_phone
        FROM (
            SELECT r.subject, r.subject_key, r.hukou_no, r.community, r.grid, g.district, g.town, g.worker, g.worker_phone
            FROM _route r JOIN {read_table(store.config, "grids")} g ON g.community = r.community AND g.grid = r.grid
        ) x
        WHERE alerts.status = 'open' AND alerts.worker IS NULL
          AND alerts.subject = x.subject AND alerts.subject_key = x.subject_key
        """
    )
