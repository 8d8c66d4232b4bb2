"""relief overdue: open alerts whose N-th working day after raising has passed.

An alert raised on D with N working days is overdue on a date when more than N
working days have passed since D: raised 2026-09-28 (N = 5, due Saturday
2026-10-10, a swapped workday) is not overdue on 10-10 or Sunday 10-11, and is
one working day overdue on Monday 10-12.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .alerts import ALERT_SELECT, AlertFilter, alert_record, filter_sql
from .privacy import Masker
from .workdays import ensure_calendar
from .store import Store

UNKNOWN = "（未分派）"


@dataclass
class Group:
    district: str
    town: str
    community: str
    worker: str
    count: int = 0
    max_overdue: int = 0
    oldest: str | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OverdueResult:
    as_of: str
    days: int
    alerts: list[dict[str, Any]]
    groups: list[Group]


# The open alerts and how many working days late they are.
OVERDUE_SQL = """
WITH o AS (
    SELECT a.id, (SELECT idx FROM calendar WHERE day = :as_of) - c.idx - :n AS late
    FROM alerts a JOIN calendar c ON c.day = a.raised_on
    WHERE a.status = 'open' AND a.raised_on <= :as_of AND {where}
)
"""
# The summary by worker: the open alerts counted per raising day and worker from the alerts_open index
# alone (in its order), the lateness found once per such group, not once per alert of a province.
GROUPS_SQL = """
WITH o AS (
    SELECT a.raised_on, a.district, a.town, a.community, a.worker, COUNT(*) AS n
    FROM alerts a WHERE a.status = 'open' AND a.raised_on <= :as_of AND {where}
    GROUP BY a.raised_on, a.district, a.town, a.community, a.worker
), l AS (
    SELECT o.*, (SELECT idx FROM calendar WHERE day = :as_of) - c.idx - :n AS late
    FROM o JOIN calendar c ON c.day = o.raised_on
)
SELECT COALESCE(l.district, :unknown), COALESCE(l.town, :unknown), COALESCE(l.community, :unknown),
       COALESCE(l.worker, :unknown), SUM(l.n), MAX(l.late), MIN(l.raised_on)
FROM l WHERE l.late > 0
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""


def overdue(store: Store, as_of: dt.date, days: int | None = None, flt: AlertFilter = AlertFilter(),
            masker: Masker = Masker(), with_alerts: bool = True) -> OverdueResult:
    """Overdue open alerts grouped by area and worker; the alerts themselves only when asked for."""
    n = days if days is not None else store.config.settings.visit_working_days
    ensure_calendar(store, as_of)
    params: dict[str, Any] = {"as_of": as_of.isoformat(), "n": n}
    where = filter_sql(store, flt, params)
    head = OVERDUE_SQL.format(where=where)
    groups = [Group(*row) for row in store.conn.execute(GROUPS_SQL.format(where=where), {**params, "unknown": UNKNOWN})]
    rows: list[dict[str, Any]] = []
    if with_alerts:
        cur = store.conn.execute(
            head + f"""
            SELECT x.*, o.late AS working_days_overdue FROM o JOIN ({ALERT_SELECT.format(refs="")} WHERE a.id IN (SELECT id FROM o)) x
            ON x.id = o.id WHERE o.late > 0
            ORDER BY x.district, x.town, x.community, x.worker, o.late DESC, x.id""",
            params,
        )
        names = [d[0] for d in cur.description]
        rows = [alert_record(dict(zip(names, r)), masker) for r in cur.fetchall()]
        by_group = {(g.district, g.town, g.community, g.worker): g for g in groups}
        for r in rows:
            key = (r["district"] or UNKNOWN, r["town"] or UNKNOWN, r["community"] or UNKNOWN, r["worker"] or UNKNOWN)
            by_group[key].alerts.append(r)
    return OverdueResult(as_of.isoformat(), n, rows, groups)
