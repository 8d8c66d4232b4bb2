"""The store's SQL for looking at records: how recent each source is (relief status, scan warnings)
and everything about one household (relief household). Reads only; full lists are read through the
views of Store.valid_views, so the caller sets the date first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .store import Store, read_table, source_table, valid_table

# -- freshness ------------------------------------------------------------------------------
# Per source, the last import that brought rows of it and was not taken back.
LAST_IMPORTS_SQL = """
SELECT json_extract(s.value, '$.source') AS source, i.id, i.imported_at, i.file
FROM imports i, json_each(i.sheets) s
WHERE i.undone_at IS NULL AND json_extract(s.value, '$.source') IS NOT NULL
  AND json_extract(s.value, '$.skipped_reason') IS NULL
ORDER BY i.id
"""
LATEST_RECORDED_SQL = """
SELECT d.source, MAX(d.latest) FROM import_dates d JOIN imports i ON i.id = d.import_id
WHERE i.undone_at IS NULL GROUP BY d.source
"""
# Sources with rows from imports made before relief recorded their dates: their latest is read from the table.
UNDATED_SOURCES_SQL = """
SELECT DISTINCT json_extract(s.value, '$.source') FROM imports i, json_each(i.sheets) s
WHERE i.undone_at IS NULL AND i.logged = 0 AND json_extract(s.value, '$.source') IS NOT NULL
"""


def last_imports(store: Store) -> dict[str, tuple[int, str, str]]:
    """source -> (import id, time, file) of its latest import."""
    return {source: (i, at, file) for source, i, at, file in store.conn.execute(LAST_IMPORTS_SQL)}


def latest_recorded(store: Store) -> dict[str, str | None]:
    latest = dict(store.conn.execute(LATEST_RECORDED_SQL).fetchall())
    for (source,) in store.conn.execute(UNDATED_SOURCES_SQL).fetchall():
        field = store.config.sources[source].date_field if source in store.config.sources else None
        if field:
            day = store.conn.execute(f'SELECT MAX("{field}") FROM "{source_table(source)}"').fetchone()[0]
            latest[source] = max(filter(None, (latest.get(source), day)), default=None)
    return latest


def latest_lists(store: Store) -> dict[str, str]:
    """Full-list source -> the date of its latest list (listings of imports taken back are gone)."""
    return dict(store.conn.execute("SELECT source, MAX(day) FROM listings GROUP BY source").fetchall())


def has_rows(store: Store, source: str) -> bool:
    """Any row valid on the views' date (full lists), or any row at all."""
    return bool(store.conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{read_table(store.config, source)}")').fetchone()[0])


def count_rows(store: Store, source: str) -> int:
    return store.conn.execute(f'SELECT count(*) FROM "{read_table(store.config, source)}"').fetchone()[0]


def ever_had_rows(store: Store, source: str) -> bool:
    return bool(store.conn.execute(f'SELECT EXISTS (SELECT 1 FROM "{source_table(source)}")').fetchone()[0])


# -- one household ------------------------------------------------------------------------------
def hukou_of(store: Store, id_no: str) -> str | None:
    """The household of a person: their entry on the population list on the views' date, else their last one."""
    row = store.conn.execute(
        f'SELECT p.hukou_no FROM src_population p WHERE p.id_no = ? '
        f'ORDER BY EXISTS (SELECT 1 FROM "{valid_table("population")}" v WHERE v._id = p._id) DESC, p._id DESC LIMIT 1',
        (id_no,)).fetchone()
    return row[0] if row else None


def household_known(store: Store, hukou_no: str) -> bool:
    return bool(store.conn.execute(
        "SELECT EXISTS (SELECT 1 FROM src_population WHERE hukou_no = ?) OR EXISTS (SELECT 1 FROM alerts WHERE hukou_no = ?)",
        (hukou_no, hukou_no)).fetchone()[0])


def hukou_numbers(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT DISTINCT hukou_no FROM src_population WHERE hukou_no IS NOT NULL")]


def members(store: Store, hukou_no: str) -> list[dict[str, Any]]:
    """Everyone the population table puts in the household, listed (on the list on the views' date) or not,
    the head first."""
    return _dicts(store.conn.execute(
        f'SELECT p.*, EXISTS (SELECT 1 FROM "{valid_table("population")}" v WHERE v._id = p._id) AS listed '
        f"FROM src_population p WHERE p.hukou_no = ? ORDER BY (p.relation = '户主') DESC, p._id",
        (hukou_no,)))


def grid_of(store: Store, community: str | None, grid: str | None) -> dict[str, Any] | None:
    rows = _dicts(store.conn.execute(f'SELECT * FROM "{read_table(store.config, "grids")}" WHERE community = ? AND grid = ? '
                                     f"ORDER BY _id DESC LIMIT 1", (community, grid)))
    return rows[0] if rows else None


def records_of(store: Store, source: str, ids: Sequence[str], order: str | None = None) -> list[dict[str, Any]]:
    """A source's rows about these people (every row, with `listed` for full lists on the views' date)."""
    table = source_table(source)
    listed = (f', EXISTS (SELECT 1 FROM "{valid_table(source)}" v WHERE v._id = t._id) AS listed'
              if store.config.sources[source].full_list is not None else "")
    by = f't."{order}", t._id' if order else "t._id"
    return _dicts(store.conn.execute(
        f'SELECT t.*{listed} FROM "{table}" t WHERE t.id_no IN (SELECT value FROM json_each(?)) ORDER BY {by}',
        (json.dumps(list(ids)),)))


MEDICAL_MONTHS_SQL = """
SELECT substr(settle_date, 1, 7) AS month, id_no, count(*) AS settlements,
       SUM(total_cost) AS total_cost, SUM(fund_paid) AS fund_paid, SUM(oop) AS oop
FROM src_medical
WHERE id_no IN (SELECT value FROM json_each(:ids)) AND settle_date >= :first AND settle_date <= :as_of
GROUP BY 1, 2 ORDER BY 1, 2
"""


def medical_months(store: Store, ids: Sequence[str], first: str, as_of: str) -> list[dict[str, Any]]:
    """Per month and person: settlements, total cost, fund paid and out-of-pocket (in fen), from `first` to `as_of`."""
    return _dicts(store.conn.execute(MEDICAL_MONTHS_SQL, {"ids": json.dumps(list(ids)), "first": first, "as_of": as_of}))


CONTRIBUTIONS_SQL = """
SELECT id_no, period, SUM(base) AS base
FROM src_social_insurance
WHERE id_no IN (SELECT value FROM json_each(:ids)) AND period >= :first AND period <= :last
GROUP BY 1, 2 ORDER BY 1, 2
"""


def contributions(store: Store, ids: Sequence[str], first: str, last: str) -> list[dict[str, Any]]:
    """Per person and month (YYYYMM, from first to last): the contribution bases summed over insurance types (fen)."""
    return _dicts(store.conn.execute(CONTRIBUTIONS_SQL, {"ids": json.dumps(list(ids)), "first": first, "last": last}))


def visits_of(store: Store, hukou_no: str) -> list[dict[str, Any]]:
    return _dicts(store.conn.execute("SELECT * FROM src_visits WHERE hukou_no = ? ORDER BY visit_date, _id", (hukou_no,)))


def outcome_history(store: Store, alert_ids: Sequence[int]) -> list[dict[str, Any]]:
    return _dicts(store.conn.execute(
        "SELECT id, alert_id, recorded_at, action, outcome, detail, visit_date, handler, note, origin FROM outcomes "
        "WHERE alert_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) ORDER BY alert_id, id", (json.dumps(list(alert_ids)),)))


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
