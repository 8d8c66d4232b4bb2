"""relief admin: on a PostgreSQL server, each district's and town's officers log in with their own
database role, and row-level security shows them only their area (DESIGN §10).

relief_areas says which area a role sees; relief_area() gives a role its row (SECURITY DEFINER:
the roles themselves cannot read relief_areas). Every policy asks it once per statement, in an
InitPlan ((SELECT ...)), never per row: a SECURITY DEFINER function with a pinned search_path costs
some microseconds per call, ten times what the comparison does. The policies derive every table's
visibility from there, each through an indexed lookup (a hashed subplan for a whole table):

  alerts, src_grids            their district and town
  src_population               its community + grid -> src_grids
  other src_* with id_no       their id_no -> src_population (with hukou_no only: hukou_no)
  outcomes                     their alert
  audit                        written by the role itself, or by a role within its area
  list_spans                   the source row they belong to
  import_changes, rejects,     the imports the role made itself (imports.db_role)
  reject_sheets
  any other src_* table        the city only

The owner of the tables bypasses them (RLS is enabled, not forced). A city role passes every
policy at its first test, which runs once per statement (an InitPlan), so the city's imports
and scans do not pay a per-row check.

District and town roles read, record outcomes (relief outcome / reopen, returned visit sheets)
and write their audit lines; importing departmental data and scanning are the city's: the
server refuses them (pg.error_reason says so in Chinese).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .store import Store

# relief's own tables (the schema may hold others: they are never granted). src_* tables and the
# <source>_yuan views are found in the schema.
TABLES = ("imports", "audit", "alerts", "calendar", "outcomes", "list_spans", "reject_sheets", "rejects",
          "listings", "import_changes", "import_dates", "relief_schema", "relief_compat")
# What a district or town role may write besides reading: outcomes (and the alerts they close),
# audit lines, and a returned visit sheet's import.
DISTRICT_WRITES = {
    "alerts": "UPDATE (status, outcome)",
    "outcomes": "INSERT",
    "audit": "INSERT",
    "imports": "INSERT, UPDATE",
    "src_visits": "INSERT, UPDATE",
    "import_changes": "INSERT",
    "import_dates": "INSERT",
    "rejects": "INSERT",
    "reject_sheets": "INSERT",
}
CITY_RIGHTS = "SELECT, INSERT, UPDATE, DELETE"
# A role name: letters, digits and _ (what a postgresql:// address carries without escaping).
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MIN_PASSWORD = 8
NOT_ON_SERVER = ("relief admin 只用于 PostgreSQL 服务器（--db postgresql://…）：SQLite 数据库文件没有用户和权限，"
                 "能打开文件的人就能看到全部数据")
# Evaluated once per statement: whether the role sees everything, and its district and town.
CITY = "(SELECT COALESCE((relief_area(current_user)).city, false))"
IN_AREA = ("(district = (SELECT (relief_area(current_user)).district) "
           "AND ((SELECT (relief_area(current_user)).town) IS NULL OR town = (SELECT (relief_area(current_user)).town)))")

AREA_SQL = """
CREATE TABLE IF NOT EXISTS relief_areas (
    role name PRIMARY KEY,
    district text,
    town text,
    city boolean NOT NULL DEFAULT false,
    CHECK (city OR district IS NOT NULL)
)
"""
# who: the role asking (current_user at the policy: inside a SECURITY DEFINER function
# current_user is the owner). No row: NULL, which sees nothing.
AREA_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION relief_area(who name) RETURNS relief_areas
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT a FROM relief_areas a WHERE a.role = who
$$
"""
# The district and town roles within who's area (who itself too): whose audit lines it sees.
ROLES_WITHIN_SQL = """
CREATE OR REPLACE FUNCTION relief_roles_within(who name) RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    SELECT w.role::text FROM relief_areas v JOIN relief_areas w
        ON NOT w.city AND w.district = v.district AND (v.town IS NULL OR w.town = v.town)
    WHERE v.role = who AND NOT v.city
$$
"""


class AdminProblem(Exception):
    """An administration request that cannot be done; Chinese message (exit 1)."""


class NotOnServer(AdminProblem):
    """relief admin on a SQLite file (exit 2: the command does not apply)."""


@dataclass(frozen=True)
class Area:
    role: str
    district: str | None = None
    town: str | None = None
    city: bool = False
    can_login: bool | None = None  # None: the role no longer exists on the server

    @property
    def label(self) -> str:
        return "全市" if self.city else " ".join(x for x in (self.district, self.town) if x)

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.role, "district": self.district, "town": self.town, "city": self.city,
                "area": self.label, "can_login": self.can_login}


@dataclass(frozen=True)
class Granted:
    area: Area
    created: bool  # a new login role
    password_set: bool


@dataclass(frozen=True)
class Revoked:
    role: str
    area: Area | None  # what it saw, if anything
    dropped: bool  # the login role was removed (else it still has rights in another database)


def check_server(store: Store) -> None:
    if not store.pg:
        raise NotOnServer(NOT_ON_SERVER)


def check_name(user: str) -> str:
    if not ROLE_NAME.fullmatch(user or "") or user.lower().startswith("pg_"):  # pg_: the server's own roles
        raise AdminProblem(f"用户名「{user}」不可用：只能用英文字母、数字和下划线，以字母开头，不以 pg_ 开头，"
                           f"不超过 63 个字符")
    return user


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AdminProblem(f"密码至少 {MIN_PASSWORD} 位")
    return password


def role_exists(store: Store, user: str) -> bool:
    check_server(store)
    return _native(store, "SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is not None


def grant(store: Store, user: str, *, district: str | None = None, town: str | None = None, city: bool = False,
          password: str | None = None) -> Granted:
    """Create or update the login role `user` and the area it sees; (re)applies the policies and the
    rights of every role. A new role needs a password; an existing one keeps its own unless given one."""
    check_server(store)
    check_name(user)
    if password is not None:
        check_password(password)
    with store.transaction():
        owner = _check_admin(store)
        area = _resolve_area(store, user, district, town, city)
        created = not role_exists(store, user)
        if created and password is None:
            raise AdminProblem(f"新用户 {user} 需要密码（--password-file 或在终端输入）")
        if not created:
            _check_grantee(store, user, owner)
        verifier = None if password is None else _verifier(store, user, password)
        _create_role(store, user, verifier, created)
        secure(store)
        _native(store, "INSERT INTO relief_areas (role, district, town, city) VALUES (%s, %s, %s, %s) "
                       "ON CONFLICT (role) DO UPDATE SET district = excluded.district, town = excluded.town, "
                       "city = excluded.city", (user, area.district, area.town, area.city))
        _grant_rights(store, user, area.city)
    return Granted(Area(user, area.district, area.town, area.city, True), created, password is not None)


def revoke(store: Store, user: str) -> Revoked:
    """The role loses its area and every right on relief's tables; its login is removed unless it
    still has rights in another database of the server."""
    check_server(store)
    check_name(user)
    with store.transaction():
        owner = _check_admin(store)
        area = next((a for a in _areas(store) if a.role == user), None)
        exists = role_exists(store, user)
        if area is None and not exists:
            raise AdminProblem(f"没有用户 {user}")
        if exists:
            _check_grantee(store, user, owner)
        if area is not None:
            _native(store, "DELETE FROM relief_areas WHERE role = %s", (user,))
        dropped = False
        if exists:
            _revoke_rights(store, user)
            _native(store, "SAVEPOINT relief_drop_role")
            try:
                _native(store, _sql("DROP ROLE {}", user))
                dropped = True
            except _pg_errors().DependentObjectsStillExist:
                _native(store, "ROLLBACK TO SAVEPOINT relief_drop_role")
    return Revoked(user, area, dropped)


def list_areas(store: Store) -> list[Area]:
    check_server(store)
    _check_admin(store)
    return _areas(store)


def _areas(store: Store) -> list[Area]:
    if not _exists(store, "relief_areas"):
        return []
    rows = _native(store, "SELECT a.role, a.district, a.town, a.city, r.rolcanlogin FROM relief_areas a "
                          "LEFT JOIN pg_roles r ON r.rolname = a.role "
                          "ORDER BY a.city DESC, a.district, a.town NULLS FIRST, a.role").fetchall()
    return [Area(str(r[0]), r[1], r[2], bool(r[3]), r[4]) for r in rows]


def secure(store: Store) -> None:
    """relief_areas, the visibility functions, the policies of every table and every role's rights,
    as they should be now (idempotent; inside the caller's transaction). Run by each grant, and by
    the Store when a new source table appears on a server that has areas."""
    schema = _native(store, "SELECT current_schema()").fetchone()[0]
    owner = _owner(store)
    quoted = _quote(store, schema)
    _native(store, AREA_SQL)
    _native(store, "REVOKE ALL ON relief_areas FROM PUBLIC")
    _native(store, AREA_FUNCTION_SQL.format(schema=quoted))
    _native(store, ROLES_WITHIN_SQL.format(schema=quoted))
    _native(store, _sql("ALTER TABLE relief_areas OWNER TO {}", owner))
    for function in ("relief_area(name)", "relief_roles_within(name)"):
        _native(store, f"ALTER FUNCTION {function} OWNER TO {_quote(store, owner)}")
    # Who made each import (their change log and rejected rows are theirs to see); older rows: the city's.
    _native(store, "ALTER TABLE imports ADD COLUMN IF NOT EXISTS db_role text")
    _native(store, "ALTER TABLE imports ALTER COLUMN db_role SET DEFAULT current_user")
    sources = _source_tables(store)
    if "src_grids" in sources:
        _native(store, "CREATE INDEX IF NOT EXISTS src_grids_area ON src_grids (community, grid)")
    listed = {f"src_{name}" for name, spec in store.config.sources.items() if spec.full_list is not None}
    listed |= {f"src_{r[0]}" for r in _native(store, "SELECT DISTINCT source FROM list_spans")}
    for table, policies in _policies(sources, listed).items():
        _native(store, _sql("ALTER TABLE {} ENABLE ROW LEVEL SECURITY", table))
        for name in ("relief_area", "relief_read"):
            _native(store, _sql("DROP POLICY IF EXISTS {} ON {}", name, table))
        for name, text in policies.items():
            _native(store, f"CREATE POLICY {name} ON {_quote(store, table)} {text}")
    if store.conn.server_version >= 150000:  # a view reads as its owner unless it reads as the one asking
        for view in _views(store):
            _native(store, _sql("ALTER VIEW {} SET (security_invoker = true)", view))
    for area in _areas(store):
        if area.can_login is not None:
            _grant_rights(store, area.role, area.city)


def secure_if_enabled(store: Store) -> None:
    """After the Store created tables: the policies and rights again, on a server that has areas."""
    if _exists(store, "relief_areas") and _is_owner(store):
        with store.transaction():
            secure(store)


def _policies(sources: dict[str, set[str]], listed: set[str]) -> dict[str, dict[str, str]]:
    """Table -> policy name -> the rest of its CREATE POLICY statement. listed: the source tables
    that are full lists (the sources of list_spans)."""
    def area(expr: str) -> dict[str, str]:
        return {"relief_area": f"FOR ALL USING ({CITY} OR {expr})"}

    own_import = "EXISTS (SELECT 1 FROM imports i WHERE i.id = import_id AND i.db_role = current_user)"
    population = "src_population" in sources
    out: dict[str, dict[str, str]] = {
        "alerts": area(IN_AREA),
        "outcomes": area("EXISTS (SELECT 1 FROM alerts a WHERE a.id = outcomes.alert_id)"),
        "audit": {"relief_area": f"FOR ALL USING ({CITY} OR db_role = current_user "
                                 f"OR db_role IN (SELECT relief_roles_within(current_user))) "
                                 f"WITH CHECK ({CITY} OR db_role = current_user)"},
        "imports": {"relief_read": "FOR SELECT USING (true)",
                    "relief_area": f"FOR ALL USING ({CITY} OR db_role = current_user)"},
        "import_changes": area(own_import),
        "rejects": area(own_import),
        "reject_sheets": area(own_import),
    }
    spans = " OR ".join(f"(source = {_literal(t[4:])} AND EXISTS (SELECT 1 FROM {_ident(t)} x "
                        f"WHERE x._key = list_spans.key))" for t in sorted(listed & set(sources)))
    out["list_spans"] = area(f"({spans})" if spans else "false")
    for table, columns in sources.items():
        if table == "src_grids":
            expr = IN_AREA
        elif table == "src_population":
            expr = ("EXISTS (SELECT 1 FROM src_grids g WHERE g.community = src_population.community "
                    "AND g.grid = src_population.grid)")
        elif population and "id_no" in columns:
            expr = f"EXISTS (SELECT 1 FROM src_population p WHERE p.id_no = {_ident(table)}.id_no)"
        elif population and "hukou_no" in columns:
            expr = f"EXISTS (SELECT 1 FROM src_population p WHERE p.hukou_no = {_ident(table)}.hukou_no)"
        else:
            expr = "false"
        out[table] = area(expr)
    return out


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _grant_rights(store: Store, user: str, city: bool) -> None:
    _revoke_rights(store, user)
    database = _native(store, "SELECT current_database()").fetchone()[0]
    schema = _native(store, "SELECT current_schema()").fetchone()[0]
    _native(store, _sql("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}", database, user))
    # The policies' subplans inflate the planner's estimates past jit_above_cost: JIT would then spend
    # seconds compiling hundreds of expressions that never run (a city role's scan of the sample city:
    # 3 s without JIT, nearly 3 minutes with it).
    _native(store, _sql("ALTER ROLE {} IN DATABASE {} SET jit = off", user, database))
    _native(store, _sql("GRANT USAGE ON SCHEMA {} TO {}", schema, user))
    tables = _relief_tables(store)
    for table in tables:
        _native(store, f"GRANT {CITY_RIGHTS if city else 'SELECT'} ON {_quote(store, table)} TO {_quote(store, user)}")
    if not city:
        for table, rights in DISTRICT_WRITES.items():
            if table in tables:
                _native(store, f"GRANT {rights} ON {_quote(store, table)} TO {_quote(store, user)}")
    if store.conn.server_version >= 150000:  # older servers: views would bypass the policies (secure)
        for view in _views(store):
            _native(store, _sql("GRANT SELECT ON {} TO {}", view, user))


def _revoke_rights(store: Store, user: str) -> None:
    database = _native(store, "SELECT current_database()").fetchone()[0]
    schema = _native(store, "SELECT current_schema()").fetchone()[0]
    for table in [*_relief_tables(store), *_views(store), *(("relief_areas",) if _exists(store, "relief_areas") else ())]:
        _native(store, _sql("REVOKE ALL ON {} FROM {}", table, user))
    _native(store, _sql("REVOKE ALL ON SCHEMA {} FROM {}", schema, user))
    _native(store, _sql("REVOKE ALL ON DATABASE {} FROM {}", database, user))
    _native(store, _sql("ALTER ROLE {} IN DATABASE {} RESET ALL", user, database))


def _create_role(store: Store, user: str, verifier: str | None, created: bool) -> None:
    from psycopg import sql

    statement = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION" if created
                        else "ALTER ROLE {} LOGIN").format(sql.Identifier(user))
    if verifier is not None:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(verifier))
    _native(store, statement)


def _verifier(store: Store, user: str, password: str) -> str:
    """The SCRAM verifier, computed here: the password itself never reaches the server or its logs."""
    return store.conn.raw.pgconn.encrypt_password(password.encode(), user.encode(), b"scram-sha-256").decode()


def _resolve_area(store: Store, user: str, district: str | None, town: str | None, city: bool) -> Area:
    district = (district or "").strip() or None
    town = (town or "").strip() or None
    if city:
        if district or town:
            raise AdminProblem("--city 与 --district、--town 不能同用")
        return Area(user, city=True)
    if district is None and town is None:
        raise AdminProblem("请用 --district、--town 或 --city 指定这个用户能看到的区域")
    if not _exists(store, "src_grids"):
        raise AdminProblem("还没有导入网格表（网格中心的网格与网格员名单），无法确定区县和乡镇（街道）")
    known = _native(store, "SELECT DISTINCT district, town FROM src_grids WHERE district IS NOT NULL").fetchall()
    districts = sorted({d for d, _ in known})
    if town is None:
        if district not in districts:
            raise AdminProblem(f"网格表中没有区县「{district}」，现有：{'、'.join(districts) or '无'}")
        return Area(user, district)
    matches = sorted({d for d, t in known if t == town and (district is None or d == district)})
    if not matches:
        where = f"区县「{district}」中" if district else "网格表中"
        towns = sorted({t for d, t in known if t and (district is None or d == district)})
        raise AdminProblem(f"{where}没有乡镇（街道）「{town}」，现有：{'、'.join(towns) or '无'}")
    if len(matches) > 1:
        raise AdminProblem(f"乡镇（街道）「{town}」在多个区县都有（{'、'.join(matches)}），请同时用 --district 指定区县")
    return Area(user, matches[0], town)


def _check_admin(store: Store) -> str:
    """The owner of relief's tables (or a member of that role, or a superuser) administers; returns the owner."""
    if not _is_owner(store):
        me = _native(store, "SELECT current_user").fetchone()[0]
        raise AdminProblem(f"当前数据库用户 {me} 不是 relief 数据表的所有者，不能管理用户权限；请用建库的管理员账号运行")
    return _owner(store)


def _check_grantee(store: Store, user: str, owner: str) -> None:
    """A role that would see everything whatever its area (a superuser, the owner) is never given one."""
    row = _native(store, "SELECT rolsuper OR rolbypassrls, pg_has_role(%s, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
                  (user, owner, user)).fetchone()
    if row is not None and (row[0] or row[1]):
        raise AdminProblem(f"用户 {user} 是数据库管理员或 relief 数据表的所有者，总能看到全部数据，不能限定区域")


def _owner(store: Store) -> str:
    return _native(store, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'alerts'::regclass").fetchone()[0]


def _is_owner(store: Store) -> bool:
    row = _native(store, "SELECT pg_has_role(relowner, 'MEMBER') FROM pg_class WHERE oid = to_regclass('alerts')").fetchone()
    return bool(row and row[0])


def _exists(store: Store, table: str) -> bool:
    return _native(store, "SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def _source_tables(store: Store) -> dict[str, set[str]]:
    rows = _native(store, "SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
                          "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' "
                          "AND c.relname LIKE 'src\\_%' AND a.attnum > 0 AND NOT a.attisdropped").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _relief_tables(store: Store) -> list[str]:
    present = {r[0] for r in _native(store, "SELECT relname FROM pg_class "
                                            "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'")}
    return [t for t in TABLES if t in present] + sorted(_source_tables(store))


def _views(store: Store) -> list[str]:
    """The <source>_yuan views (Store._ensure_yuan_views)."""
    return [r[0] for r in _native(store, "SELECT viewname FROM pg_views WHERE schemaname = current_schema() "
                                         "AND viewname LIKE '%\\_yuan' ORDER BY 1")]


def _native(store: Store, statement: Any, params: Any = None) -> Any:
    return store.conn.execute_native(statement, params)


def _sql(template: str, *names: str) -> Any:
    from psycopg import sql

    return sql.SQL(template).format(*map(sql.Identifier, names))


def _quote(store: Store, name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name).as_string(store.conn.raw)


def _pg_errors() -> Any:
    import psycopg

    return psycopg.errors

