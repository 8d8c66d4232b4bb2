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
from .scan import ensure_calendar
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


# The open alerts and how many working days late they are: the columns of the alerts_open index, so
# that the summary by worker reads that index alone, not a province's alert rows.
OVERDUE_SQL = """
WITH o AS (
    SELECT a.id, a.district, a.town, a.community, a.worker, a.raised_on,
           (SELECT idx FROM calendar WHERE day = :as_of) - c.idx - :n AS late
    FROM alerts a JOIN calendar c ON c.day = a.raised_on
    WHERE a.raised_on <= :as_of AND a.status = 'open' AND {where}
)
"""


def overdue(store: Store, as_of: dt.date, days: int | None = None, flt: AlertFilter = AlertFilter(),
            masker: Masker = Masker(), with_alerts: bool = True) -> OverdueResult:
    """Overdue open alerts grouped by area and worker; the alerts themselves only when asked for."""
    n = days if days is not None else store.config.settings.visit_working_days
    ensure_calendar(store, as_of)
    params: dict[str, Any] = {"as_of": as_of.isoformat(), "n": n}
    head = OVERDUE_SQL.format(where=filter_sql(store, flt, params))
    groups = [
        Group(*row)
        for row in store.conn.execute(
            head + """
            SELECT COALESCE(o.district, :unknown), COALESCE(o.town, :unknown), COALESCE(o.community, :unknown),
                   COALESCE(o.worker, :unknown), COUNT(*), MAX(o.late), MIN(o.raised_on)
            FROM o WHERE o.late > 0
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
            {**params, "unknown": UNKNOWN},
        )
    ]
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
