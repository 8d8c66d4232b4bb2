"""relief report: the funnel the office reports upward, per rule, community or month.

raised -> visited (an outcome recorded) -> added to assistance (纳入救助); the
conversion rate (added / raised), each group's precision (added / visited) for
tuning thresholds, and the overdue rate (visited late, or still open past the
deadline at the end of the period).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from .workdays import ensure_calendar
from .history import WITHDRAWN
from .store import Store

By = Literal["rule", "community", "month"]
GROUP_EXPR: dict[str, str] = {
    "rule": "a.rule_name",
    "community": "COALESCE(a.community, '（未分派）')",
    "month": "substr(a.raised_on, 1, 7)",
}
GROUP_LABEL = {"rule": "规则", "community": "社区（村）", "month": "月份"}


@dataclass(frozen=True)
class FunnelRow:
    group: str
    raised: int
    visited: int
    added: int
    subjects_added: int
    overdue: int

    @property
    def conversion(self) -> float | None:
        return self.added / self.raised if self.raised else None

    @property
    def precision(self) -> float | None:
        return self.added / self.visited if self.visited else None

    @property
    def overdue_rate(self) -> float | None:
        return self.overdue / self.raised if self.raised else None

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "conversion": self.conversion, "precision": self.precision, "overdue_rate": self.overdue_rate}


@dataclass(frozen=True)
class Report:
    date_from: str
    date_to: str
    by: str
    total: FunnelRow
    rows: list[FunnelRow]

    def as_dict(self) -> dict[str, object]:
        return {"from": self.date_from, "to": self.date_to, "by": self.by, "total": self.total.as_dict(),
                "rows": [r.as_dict() for r in self.rows]}


# One pass over the period's alerts, narrowed to the columns the funnel reads; the groups and the total
# are counted from it (l is read twice, so both stores keep it rather than reading the alerts again).
FUNNEL_SQL = """
WITH t AS (
    -- the working-day number of the period's end (the calendar's last day beyond it), found once
    SELECT MAX(idx) AS last, COALESCE(MAX(CASE WHEN day = :date_to THEN idx END), MAX(idx)) AS until FROM calendar
), a AS (
    SELECT a.rule_name, a.community, a.raised_on, a.subject_key,
           json_extract(a.outcome, '$.outcome') AS result, json_extract(a.outcome, '$.visit_date') AS visited_on
    FROM alerts a WHERE a.raised_on BETWEEN :date_from AND :date_to
), l AS (
    -- late: visited after the deadline, or still open at the period's end past it
    SELECT {group} AS grp, a.subject_key, a.result,
           (CASE WHEN a.result IS NULL THEN t.until
                 ELSE COALESCE((SELECT idx FROM calendar WHERE day = a.visited_on), t.last) END - c.idx) > :n AS late
    FROM a JOIN calendar c ON c.day = a.raised_on CROSS JOIN t
    WHERE COALESCE(a.result, '') <> :withdrawn  -- taken back with their import
)
SELECT 0 AS total, grp, COUNT(*), COALESCE(SUM(result IS NOT NULL), 0), COALESCE(SUM(result = '纳入救助'), 0),
       COUNT(DISTINCT CASE WHEN result = '纳入救助' THEN subject_key END), COALESCE(SUM(late), 0)
FROM l GROUP BY grp
UNION ALL
SELECT 1, '合计', COUNT(*), COALESCE(SUM(result IS NOT NULL), 0), COALESCE(SUM(result = '纳入救助'), 0),
       COUNT(DISTINCT CASE WHEN result = '纳入救助' THEN subject_key END), COALESCE(SUM(late), 0)
FROM l
ORDER BY 1, 2
"""


def funnel(store: Store, date_from: dt.date, date_to: dt.date, by: By = "rule") -> Report:
    if date_from > date_to:
        raise ValueError("起始日期不能晚于截止日期")
    ensure_calendar(store, date_to)
    params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
              "n": store.config.settings.visit_working_days, "withdrawn": WITHDRAWN}
    found = [FunnelRow(*r[1:]) for r in store.conn.execute(FUNNEL_SQL.format(group=GROUP_EXPR[by]), params).fetchall()]
    rows, total = found[:-1], found[-1]
    return Report(date_from.isoformat(), date_to.isoformat(), by, total, rows)
