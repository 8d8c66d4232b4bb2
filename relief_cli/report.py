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

from .scan import ensure_calendar
from .history import WITHDRAWN
from .store import Store

By = Literal["rule", "community", "month"]
GROUP_EXPR: dict[str, str] = {
    "rule": "l.rule_name",
    "community": "COALESCE(l.community, '（未分派）')",
    "month": "substr(l.raised_on, 1, 7)",
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


FUNNEL_SQL = """
WITH a AS (
    SELECT a.*, json_extract(a.outcome, '$.outcome') AS result, json_extract(a.outcome, '$.visit_date') AS visited_on
    FROM alerts a WHERE a.raised_on BETWEEN :date_from AND :date_to
      AND COALESCE(json_extract(a.outcome, '$.outcome'), '') <> :withdrawn  -- taken back with their import
), l AS (
    SELECT a.*, (COALESCE((SELECT idx FROM calendar WHERE day = CASE WHEN a.result IS NULL THEN :date_to ELSE a.visited_on END),
                          (SELECT MAX(idx) FROM calendar)) - c.idx) > :n AS late
    FROM a JOIN calendar c ON c.day = a.raised_on
)
SELECT {group} AS grp, COUNT(*), COALESCE(SUM(l.result IS NOT NULL), 0), COALESCE(SUM(l.result = '纳入救助'), 0),
       COUNT(DISTINCT CASE WHEN l.result = '纳入救助' THEN l.subject_key END), COALESCE(SUM(l.late), 0)
FROM l {group_by} ORDER BY 1
"""


def funnel(store: Store, date_from: dt.date, date_to: dt.date, by: By = "rule") -> Report:
    if date_from > date_to:
        raise ValueError("起始日期不能晚于截止日期")
    ensure_calendar(store, date_to)
    params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
              "n": store.config.settings.visit_working_days, "withdrawn": WITHDRAWN}
    rows = [FunnelRow(*r) for r in store.conn.execute(
        FUNNEL_SQL.format(group=GROUP_EXPR[by], group_by="GROUP BY 1"), params).fetchall()]
    total = FunnelRow(*store.conn.execute(FUNNEL_SQL.format(group="'合计'", group_by=""), params).fetchone())
    return Report(date_from.isoformat(), date_to.isoformat(), by, total, rows)
