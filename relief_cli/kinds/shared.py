"""Aggregates that several rules read, built once per scan as temp tables.

Grouping millions of records per person is what a scan spends its time on, and several
rules group the same records the same way (a person rule and its household twin, the
household rules over social insurance). A kind's `shared(ctx)` names the tables its query
reads, the members table first (with_members); the scan builds each distinct one, in that
order, before the rules run, and drops them afterwards. A table's name carries a digest of
its definition, so two rules share a table only when they would compute the same rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .base import ScanContext
from .common import month_index, where_sql


@dataclass(frozen=True)
class SharedTable:
    name: str
    columns: str  # the table's columns, as in CREATE TABLE
    select: str  # the rows
    params_json: str  # the parameters as JSON: the dataclass stays hashable and comparable
    key: str = ""  # the columns the rows are unique by and looked up by, if any
    server_key: bool = True  # a server looks rows up by the key too (False: it only joins the whole table)

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)


def _table(stem: str, columns: str, select: str, params: dict[str, Any], key: str = "",
           server_key: bool = True) -> SharedTable:
    params_json = json.dumps(params, ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha1((columns + key + select + params_json).encode()).hexdigest()[:10]
    return SharedTable(f"_{stem}_{digest}", columns, select, params_json, key, server_key)


def with_members(ctx: ScanContext, table: SharedTable) -> tuple[SharedTable, ...]:
    """A per-person table and, first, the members table it reads (when there is a population list)."""
    return (members(ctx), table) if "population" in ctx.settings.sources else (table,)


def members(ctx: ScanContext) -> SharedTable:
    """Each person's household on the scan date, keyed by ID number: the per-person tables below
    join it in ID order, which a table in that order answers far faster than the list itself
    (SQLite, by the key; a server hashes it whole, so it builds no index: 10 s for a province)."""
    return _table("member", "id_no TEXT, hukou_no TEXT",
                  f"SELECT m.id_no, m.hukou_no FROM {ctx.table('population')} m", {}, key="id_no", server_key=False)


def _with_hukou(ctx: ScanContext, grouped: str, columns: str) -> str:
    """The grouped rows (with an id_no) and each person's household from the members table: one join
    over the groups, not a lookup per group (a server runs a correlated lookup once per row).
    The population list holds a person once: its key is the ID number."""
    if "population" not in ctx.settings.sources:
        return f"SELECT {columns}, NULL AS hukou_no FROM ({grouped}) g"
    return f"SELECT {columns}, m.hukou_no FROM ({grouped}) g LEFT JOIN {members(ctx).name} m ON m.id_no = g.id_no"


def person_months(ctx: ScanContext, source: str, period: str,
                  where: dict[str, tuple[Any, ...]] | None = None) -> SharedTable:
    """One row per person and month up to the scan month with, for each amount or integer field f
    of the source, "hi_f", the highest record (a contribution base is a level, whatever the
    insurance types), "total_f", their sum, and "n_f", the number of records with a value.
    pos is the month number (common.month_index), hukou_no the person's household on the scan
    date (NULL: not on the population list). Every rule over the source's months reads the same
    table, whichever field it uses. Needs members(ctx) built first (with_members)."""
    params: dict[str, Any] = {"month": ctx.as_of[:4] + ctx.as_of[5:7]}
    filters = where_sql(where or {}, "r", params)
    p = f'r."{period}"'
    values = [f for f, spec in ctx.settings.sources[source].fields.items() if spec.type in ("amount", "int")]
    outputs = ["r.id_no", f"{month_index(p)} AS pos", f"{p} AS period"]
    columns = ["id_no TEXT", "pos INTEGER", "period TEXT"]
    for f in values:
        outputs += [f'MAX(r."{f}") AS "hi_{f}"', f'SUM(r."{f}") AS "total_{f}"', f'COUNT(r."{f}") AS "n_{f}"']
        columns += [f'"hi_{f}"', f'"total_{f}"', f'"n_{f}" INTEGER']
    grouped = (f"SELECT {', '.join(outputs)} FROM {ctx.table(source)} r NOT INDEXED "
               f"WHERE {p} <= :month {filters} GROUP BY r.id_no, {p}")
    select = _with_hukou(ctx, grouped, ", ".join(f"g.{c.split()[0]}" for c in columns))
    return _table("months", ", ".join([*columns, "hukou_no TEXT"]), select, params, key="id_no, pos")


def day_window_totals(ctx: ScanContext, source: str, date: str, value: str, recent: int, baseline: int,
                      where: dict[str, tuple[Any, ...]] | None = None) -> SharedTable:
    """Per person, the sums over the recent days (ending on the scan date) and over the baseline days
    before them, NULL where that window holds no record; only people with a record in either.
    hukou_no as in person_months (needs members(ctx) built first: with_members)."""
    # The windows' first days, as ISO text: stored dates are ISO text too, so they compare as text, with
    # no per-record date arithmetic (which a server does through a compat function, row by row).
    day = dt.date.fromisoformat(ctx.as_of)
    params: dict[str, Any] = {"as_of": ctx.as_of, "recent_after": (day - dt.timedelta(days=recent)).isoformat(),
                              "window_after": (day - dt.timedelta(days=recent + baseline)).isoformat()}
    filters = where_sql(where or {}, "r", params)
    d, v = f'r."{date}"', f'r."{value}"'
    grouped = (f"SELECT r.id_no, "
               f"SUM(CASE WHEN {d} > :recent_after THEN {v} END) AS recent_sum, "
               f"SUM(CASE WHEN {d} <= :recent_after THEN {v} END) AS base_sum "
               f"FROM {ctx.table(source)} r NOT INDEXED "
               f"WHERE {d} <= :as_of AND {d} > :window_after {filters} "
               f"GROUP BY r.id_no")
    # The kinds read it whole, so it needs no index.
    return _table("days", "id_no TEXT, recent_sum, base_sum, hukou_no TEXT",
                  _with_hukou(ctx, grouped, "g.id_no, g.recent_sum, g.base_sum"), params)
