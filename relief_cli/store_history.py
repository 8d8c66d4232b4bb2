"""The store's SQL for import history and undo: the imports table, the per-import change log
(import_changes, written by Store.begin_change_log's triggers) and the statements that take one
import back. Every function runs on the caller's connection; undo's run inside its transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .store import LOGGED_TABLES, Store, source_table

IMPORTS_SQL = """
SELECT id, imported_at, file, path, sheets, rows, imported, updated, unchanged, rejected, os_user, logged,
       last_alert, undone_at, undone_by
FROM imports {where} ORDER BY id
"""


def imports(store: Store) -> list[dict[str, Any]]:
    return _dicts(store.conn.execute(IMPORTS_SQL.format(where="")))


def one_import(store: Store, import_id: int) -> dict[str, Any] | None:
    rows = _dicts(store.conn.execute(IMPORTS_SQL.format(where="WHERE id = ?"), (import_id,)))
    return rows[0] if rows else None


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for r in rows:
        r["sheets"] = json.loads(r["sheets"] or "[]")
    return rows


# -- what a later import built on ---------------------------------------------------------
# A later import changed a row this one wrote (inserted, updated, ended or reopened), or an alert it closed.
TOUCHED_LATER_SQL = """
SELECT DISTINCT c.import_id FROM import_changes c
WHERE c.import_id > :n AND (c.prev_import = :n OR EXISTS (
    SELECT 1 FROM import_changes o WHERE o.import_id = :n AND o.tbl = c.tbl AND o.row_id = c.row_id))
ORDER BY 1
"""
# A later full list of a source this import changed was compared with what this import left.
LATER_LISTS_SQL = """
SELECT DISTINCT l.import_id, l.source FROM listings l JOIN imports i ON i.id = l.import_id
WHERE l.import_id > :n AND i.undone_at IS NULL AND l.source IN (SELECT value FROM json_each(:sources))
ORDER BY 1, 2
"""
# Outcomes recorded (by hand, after this import) on the alerts this import closed or changed.
LATER_OUTCOMES_SQL = """
SELECT DISTINCT o.alert_id FROM outcomes o
WHERE o.alert_id IN (SELECT row_id FROM import_changes WHERE import_id = :n AND tbl = 'alerts')
  AND o.id > (SELECT COALESCE(MAX(row_id), 0) FROM import_changes WHERE import_id = :n AND tbl = 'outcomes')
ORDER BY 1
"""


def imports_touching_later(store: Store, import_id: int) -> list[int]:
    return [r[0] for r in store.conn.execute(TOUCHED_LATER_SQL, {"n": import_id})]


def later_lists(store: Store, import_id: int, sources: Iterable[str]) -> list[tuple[int, str]]:
    params = {"n": import_id, "sources": json.dumps(list(sources))}
    return [(r[0], r[1]) for r in store.conn.execute(LATER_LISTS_SQL, params)]


def logged_tables(store: Store, import_id: int) -> list[str]:
    return [r[0] for r in store.conn.execute(
        "SELECT DISTINCT tbl FROM import_changes WHERE import_id = ? ORDER BY tbl", (import_id,))]


def alerts_changed_since(store: Store, import_id: int) -> list[int]:
    return [r[0] for r in store.conn.execute(LATER_OUTCOMES_SQL, {"n": import_id})]


# -- taking it back -------------------------------------------------------------------------
def alerts_from_rows_of(store: Store, import_id: int, last_alert: int) -> list[int]:
    """Open alerts raised after the import began whose every source record (refs) is a row the import
    wrote (inserted or updated); an alert without refs, or with one older row among them, stays."""
    cases, params = [], {"n": import_id, "last": last_alert}
    for i, source in enumerate(store.config.sources):
        params[f"s{i}"] = source
        cases.append(f'WHEN :s{i} THEN CASE WHEN EXISTS (SELECT 1 FROM "{source_table(source)}" t '
                     f"WHERE t._id = r.row_id AND t._import = :n) THEN 1 ELSE 0 END")
    sql = f"""
        WITH r AS (
            SELECT a.id AS alert_id, json_extract(j.value, '$.source') AS source,
                   CAST(json_extract(j.value, '$.id') AS INTEGER) AS row_id
            FROM alerts a, json_each(a.refs) j WHERE a.status = 'open' AND a.id > :last)
        SELECT alert_id FROM r GROUP BY alert_id
        HAVING MIN(CASE r.source {' '.join(cases)} ELSE 0 END) = 1
        ORDER BY alert_id"""
    return [r[0] for r in store.conn.execute(sql, params)]


def withdraw_alerts(store: Store, alert_ids: list[int], now: str, handler: str, detail: str, note: str, origin: str) -> None:
    """Close the alerts as 撤回, each with its line in the outcome history."""
    ids = json.dumps(alert_ids)
    payload = json.dumps({"outcome": "撤回", "detail": detail, "visit_date": None, "handler": handler, "note": note},
                         ensure_ascii=False)
    store.conn.execute(
        "INSERT INTO outcomes (alert_id, recorded_at, action, outcome, detail, visit_date, handler, note, origin) "
        "SELECT CAST(value AS INTEGER), ?, 'close', '撤回', ?, NULL, ?, ?, ? FROM json_each(?) ORDER BY CAST(key AS INTEGER)",
        (now, detail, handler, note, origin, ids))
    store.conn.execute("UPDATE alerts SET status = 'closed', outcome = ? "
                       "WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?))", (payload, ids))


def restore_rows(store: Store, import_id: int, table: str) -> int:
    """Put back the rows of `table` that the import changed, as the change log kept them; a column
    added since (absent from the kept rows: one import keeps all its rows of a table with the same
    columns) keeps its value. Returns how many rows."""
    key = "_id" if table.startswith("src_") else LOGGED_TABLES[table]
    kept = store.conn.execute("SELECT before FROM import_changes WHERE import_id = ? AND tbl = ? AND before IS NOT NULL "
                              "LIMIT 1", (import_id, table)).fetchone()
    if kept is None:
        return 0
    had = json.loads(kept[0])
    types = store.column_types(table)

    def value(column: str) -> str:
        # A number comes out of the JSON as text on a server: an integer column (SQLite's own rule: a type
        # naming INT) is given its value as an integer.
        kept_value = f"json_extract(c.before, '$.\"{column}\"')"
        return f"CAST({kept_value} AS INTEGER)" if "INT" in types[column].upper() else kept_value

    sets = ", ".join(f'"{c}" = {value(c)}' for c in types if c != key and c in had)
    return store.conn.execute(
        f'UPDATE "{table}" SET {sets} FROM import_changes c '
        f'WHERE c.import_id = :n AND c.tbl = :tbl AND c.before IS NOT NULL AND "{table}"."{key}" = c.row_id',
        {"n": import_id, "tbl": table}).rowcount


def remove_outcomes(store: Store, import_id: int) -> int:
    return store.conn.execute(
        "DELETE FROM outcomes WHERE id IN (SELECT row_id FROM import_changes WHERE import_id = ? AND tbl = 'outcomes')",
        (import_id,)).rowcount


def remove_added_rows(store: Store, import_id: int, source: str) -> int:
    """The rows of a source the import inserted: once its updates are put back, those still marked with it."""
    return store.conn.execute(f'DELETE FROM "{source_table(source)}" WHERE _import = ?', (import_id,)).rowcount


def forget_import(store: Store, import_id: int, now: str, user: str) -> None:
    """What the import left besides rows (reopened spans, its list dates, rejected rows, its change log),
    and the import marked as taken back: its line stays in the history."""
    for sql in ("DELETE FROM list_spans WHERE reopened_by = ?", "DELETE FROM listings WHERE import_id = ?",
                "DELETE FROM rejects WHERE import_id = ?", "DELETE FROM reject_sheets WHERE import_id = ?",
                "DELETE FROM import_changes WHERE import_id = ?", "DELETE FROM import_dates WHERE import_id = ?"):
        store.conn.execute(sql, (import_id,))
    store.conn.execute("UPDATE imports SET undone_at = ?, undone_by = ? WHERE id = ?", (now, user, import_id))


def known_table(store: Store, table: str) -> bool:
    """A table named in the change log that relief can put back (a source still configured, or alerts/outcomes)."""
    return table in {*map(source_table, store.config.sources), *LOGGED_TABLES, "outcomes"}
