"""Listing alerts: filters, the unassigned queue, and the fields every listing shares."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .privacy import Masker
from .store import Store
from .store_records import household_known

UNASSIGNED = "（未分派）"


@dataclass(frozen=True)
class AlertFilter:
    community: str | None = None  # a part of the name is enough
    grid: str | None = None
    rule: str | None = None
    family: str | None = None
    status: str | None = None  # open | closed
    household: str | None = None  # 户号: the household's alerts, and those of its members

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


# The subject's name: the person, or the head (else first member) of the household.
ALERT_SELECT = """
SELECT a.id, a.rule_id AS rule, a.rule_name, a.family, a.severity, a.suggests, a.subject,
       COALESCE(a.id_no, hd.id_no) AS id_no,
       COALESCE(p.name, hd.name) AS name,
       a.hukou_no, COALESCE(p.address, hd.address) AS address, a.district, a.town, a.community, a.grid, a.worker, a.worker_phone,
       a.raised_on, a.due_on, a.status, a.evidence, a.outcome{refs}
FROM alerts a
LEFT JOIN src_population p ON a.subject = 'person' AND p.id_no = a.subject_key
LEFT JOIN src_population hd ON a.subject = 'household' AND hd._id = (
    SELECT q._id FROM src_population q WHERE q.hukou_no = a.subject_key
    ORDER BY (q.relation = '户主') DESC, q._id LIMIT 1)
"""


# The community and grid names a filter may match: those of the grid table and of the alerts (an alert's
# community may have no grid worker yet).
NAMES_SQL = {
    "community": "SELECT community FROM src_grids UNION SELECT DISTINCT community FROM alerts",
    "grid": "SELECT grid FROM src_grids UNION SELECT DISTINCT grid FROM alerts",
}


MAX_NAMES = 200  # beyond this many matching names, a filter searches the names in the alerts instead


class NoMatch(Exception):
    """A filter names something the database does not know; the message lists candidates."""


def check_filter(store: Store, f: AlertFilter) -> None:
    """A community, grid, rule or model that matches nothing is a mistake, not an empty list.

    Names are looked up among the grid table and the alerts themselves, so a community
    that exists but has no alerts still lists (empty), while a typo is reported.
    """
    rules = store.config.rules
    checks = [
        ("社区（村）", f.community, NAMES_SQL["community"], set()),
        ("网格", f.grid, NAMES_SQL["grid"], set()),
        ("模型", f.family, "SELECT family FROM alerts", {r.family for r in rules}),
    ]
    for label, given, sql, also in checks:
        if given is not None:
            names = sorted({r[0] for r in store.conn.execute(sql) if r[0]} | also)
            if not any(given in n for n in names):
                raise NoMatch(_not_found(label, given, names))
    if f.household is not None and not household_known(store, f.household):
        raise NoMatch(f"找不到户号「{f.household}」（户籍人口和预警中都没有这个户号）")
    if f.rule is not None and not any(f.rule in (r.id, r.name) for r in rules):
        raise NoMatch(_not_found("规则", f.rule, [r.id for r in rules]))


def _not_found(label: str, given: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(given, names, n=5, cutoff=0.3) or names[:8]
    if not names:
        return f"找不到{label}「{given}」（数据库中还没有{label}数据）"
    more = "等" if len(close) < len(names) else ""
    return f"找不到{label}「{given}」，可选的有：{'、'.join(close)}{more}"


def _one_of(store: Store, column: str, given: str, params: dict[str, Any]) -> str:
    """a.<column> is one of the names containing `given`: the names are found first, so that the alerts
    are found by their index with a count the planner can know, not by a search through every name."""
    names = sorted({r[0] for r in store.conn.execute(NAMES_SQL[column]) if r[0] and given in r[0]})
    if not names:
        return "0 = 1"
    if len(names) > MAX_NAMES:  # a part that matches most names: as many parameters as names, for nothing
        params[column] = given
        return f"instr(COALESCE(a.{column}, ''), :{column}) > 0"
    for i, name in enumerate(names):
        params[f"{column}{i}"] = name
    return f"a.{column} IN ({', '.join(f':{column}{i}' for i in range(len(names)))})"


def filter_sql(store: Store, f: AlertFilter, params: dict[str, Any]) -> str:
    parts = []
    if f.community:
        parts.append(_one_of(store, "community", f.community, params))
    if f.grid:
        parts.append(_one_of(store, "grid", f.grid, params))
    if f.rule:
        params["rule"] = f.rule
        parts.append("(a.rule_id = :rule OR a.rule_name = :rule)")
    if f.family:
        params["family"] = f.family
        parts.append("instr(a.family, :family) > 0")
    if f.status:
        params["status"] = f.status
        parts.append("a.status = :status")
    if f.household:
        params["household"] = f.household
        parts.append("(a.hukou_no = :household OR (a.subject = 'person' AND a.subject_key IN "
                     "(SELECT id_no FROM src_population WHERE hukou_no = :household)))")
    return " AND ".join(parts) or "1 = 1"


def list_alerts(store: Store, flt: AlertFilter = AlertFilter(), masker: Masker = Masker(),
                with_refs: bool = False) -> list[dict[str, Any]]:
    """Alerts matching the filter, unassigned ones first (they must never be missed).

    with_refs adds each alert's source records (file, sheet, row), which can be long.
    """
    params: dict[str, Any] = {}
    select = ALERT_SELECT.format(refs=", a.refs" if with_refs else "")
    sql = f"{select} WHERE {filter_sql(store, flt, params)} ORDER BY (a.worker IS NULL) DESC, a.due_on, a.id"
    cur = store.conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [alert_record(dict(zip(names, row)), masker) for row in cur.fetchall()]


def alert_record(row: dict[str, Any], masker: Masker) -> dict[str, Any]:
    """One alert as every listing shows it: masked, refs parsed, outcome as an object."""
    row["id_no"] = masker.id_no(row["id_no"])
    row["name"] = masker.name(row["name"])
    row["worker_phone"] = masker.phone(row["worker_phone"])
    if not masker.show_pii:  # where a person lives goes out only with --show-pii (the checklists aside)
        row["address"] = None
    if "refs" in row:
        row["refs"] = json.loads(row["refs"] or "[]")
    row["outcome"] = json.loads(row["outcome"]) if row["outcome"] else None
    row["worker"] = row["worker"] or None
    return row
