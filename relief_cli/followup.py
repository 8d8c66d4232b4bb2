"""Closing the loop: outcomes of visits, reopening, and the history of every change."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .store import Store

# Two officers recording on one alert at once: the second waits for the first and then sees its
# outcome. Only a server runs it: SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
LOCK_ALERTS_SQL = ("SELECT id FROM alerts WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) "
                   "ORDER BY id FOR UPDATE")

NEEDS_DETAIL = {"纳入救助": "救助类型（如 低保、特困、临时救助、医疗救助）", "转办": "转办部门"}


class OutcomeProblem(Exception):
    """An outcome that cannot be recorded; Chinese message. column: the returned sheet's column it is about."""

    def __init__(self, message: str, column: str = "走访结果"):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Outcome:
    outcome: str
    visit_date: dt.date
    handler: str
    detail: str | None = None
    note: str | None = None

    def as_json(self) -> str:
        return json.dumps(
            {"outcome": self.outcome, "detail": self.detail, "visit_date": self.visit_date.isoformat(),
             "handler": self.handler, "note": self.note},
            ensure_ascii=False,
        )


def check_outcome(store: Store, o: Outcome) -> None:
    allowed = store.config.settings.outcomes
    if o.outcome not in allowed:
        raise OutcomeProblem(f"走访结果「{o.outcome}」不在固定列表中，可选：{'、'.join(allowed)}")
    if o.outcome in NEEDS_DETAIL and not (o.detail or "").strip():
        raise OutcomeProblem(f"走访结果为「{o.outcome}」时必须填写{NEEDS_DETAIL[o.outcome]}")
    if not o.handler.strip():
        raise OutcomeProblem("必须填写走访人（经办人）")


def household_alerts(store: Store, hukou_no: str) -> list[int]:
    rows = store.conn.execute(
        "SELECT id FROM alerts WHERE hukou_no = ? AND status = 'open' ORDER BY id", (hukou_no,)
    ).fetchall()
    return [r[0] for r in rows]


def record_outcome(store: Store, alert_ids: Sequence[int], o: Outcome, origin: str = "命令行") -> int:
    """Close the alerts with this outcome, keeping the change in history. Returns how many changed.

    Recording the very same outcome again changes nothing (a returned sheet imported twice).
    """
    check_outcome(store, o)
    with store.transaction():
        return apply_outcome(store, alert_ids, o, origin)


def outcome_conflict(store: Store, alert_ids: Sequence[int], o: Outcome,
                     today: dt.date | None = None) -> OutcomeProblem | None:
    """Why this outcome cannot close these alerts: a visit before the alert was raised or after
    today, or an alert already closed with another outcome (reopen it first). None when it can."""
    today = today or dt.date.today()
    if o.visit_date > today:
        return OutcomeProblem(f"走访日期 {o.visit_date} 晚于今天（{today}）", "走访日期")
    payload = o.as_json()
    for alert_id in alert_ids:
        row = store.conn.execute("SELECT raised_on, status, outcome FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            continue
        raised_on, status, outcome = row
        if o.visit_date.isoformat() < raised_on:
            return OutcomeProblem(f"预警 {alert_id} 于 {raised_on} 推送，走访日期 {o.visit_date} 早于推送日期", "走访日期")
        if status == "closed" and outcome != payload:
            done = json.loads(outcome)["outcome"] if outcome else "已办结"
            return OutcomeProblem(f"预警 {alert_id} 已办结（{done}），要更改结果请先用 relief reopen {alert_id} 重新打开",
                                  "预警编号")
    return None


def apply_outcome(store: Store, alert_ids: Sequence[int], o: Outcome, origin: str,
                  revisited: set[int] = frozenset()) -> int:
    """record_outcome inside a transaction that the caller holds. revisited: alerts this same
    returned sheet closed on an earlier row; a later visit there records its own result."""
    conn = store.conn
    lock_alerts(store, alert_ids)
    missing = sorted(set(alert_ids) - _existing(store, alert_ids))
    if missing:
        raise OutcomeProblem(f"预警编号不存在：{'、'.join(map(str, missing))}")
    conflict = outcome_conflict(store, [a for a in alert_ids if a not in revisited], o)
    if conflict:
        raise conflict
    changed = 0
    payload = o.as_json()
    for alert_id in alert_ids:
        row = conn.execute("SELECT status, outcome FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row == ("closed", payload):
            continue
        conn.execute(
            "INSERT INTO outcomes (alert_id, recorded_at, action, outcome, detail, visit_date, handler, note, origin) "
            "VALUES (?, ?, 'close', ?, ?, ?, ?, ?, ?)",
            (alert_id, _now(), o.outcome, o.detail, o.visit_date.isoformat(), o.handler, o.note, origin),
        )
        conn.execute("UPDATE alerts SET status = 'closed', outcome = ? WHERE id = ?", (payload, alert_id))
        changed += 1
    return changed


def reopen(store: Store, alert_id: int, handler: str, note: str | None = None) -> None:
    with store.transaction():
        lock_alerts(store, [alert_id])
        row = store.conn.execute("SELECT status FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None:
            raise OutcomeProblem(f"预警编号不存在：{alert_id}")
        if row[0] == "open":
            raise OutcomeProblem(f"预警 {alert_id} 尚未办结，无需重新打开")
        store.conn.execute(
            "INSERT INTO outcomes (alert_id, recorded_at, action, handler, note, origin) VALUES (?, ?, 'reopen', ?, ?, '命令行')",
            (alert_id, _now(), handler, note),
        )
        store.conn.execute("UPDATE alerts SET status = 'open', outcome = NULL WHERE id = ?", (alert_id,))


def history(store: Store, alert_id: int) -> list[dict[str, Any]]:
    if not _existing(store, [alert_id]):
        raise OutcomeProblem(f"预警编号不存在：{alert_id}")
    cur = store.conn.execute(
        "SELECT id, alert_id, recorded_at, action, outcome, detail, visit_date, handler, note, origin "
        "FROM outcomes WHERE alert_id = ? ORDER BY id",
        (alert_id,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def parse_alert_ids(text: str | None) -> list[int]:
    """'12、15' / '12,15' / '12' -> [12, 15]."""
    return [int(x) for x in re.findall(r"\d+", text or "")]


def unknown_alerts(store: Store, ids: Sequence[int]) -> list[int]:
    return sorted(set(ids) - _existing(store, ids)) if ids else []


def apply_visit_rows(store: Store, import_id: int, file_name: str) -> int:
    """Visits that this import added or changed close their alerts (inside the import's transaction)."""
    rows = store.conn.execute(
        "SELECT alert_ids, visit_date, outcome, outcome_detail, handler, note, _sheet, _row "
        "FROM src_visits WHERE _import = ? AND outcome IS NOT NULL ORDER BY visit_date, _id",
        (import_id,),
    ).fetchall()
    changed = 0
    closed_here: set[int] = set()  # a household visited twice in one sheet: the later visit's result stands
    for alert_ids, visit_date, outcome, detail, handler, note, sheet, row in rows:
        ids = parse_alert_ids(alert_ids)
        if ids:
            o = Outcome(outcome, dt.date.fromisoformat(visit_date), handler or "", detail, note)
            changed += apply_outcome(store, ids, o, f"走访表 {file_name}「{sheet}」第 {row} 行", closed_here)
            closed_here.update(ids)
    return changed


def lock_alerts(store: Store, alert_ids: Sequence[int]) -> None:
    """Inside the caller's transaction, in id order (two officers' lists never wait on each other in a circle)."""
    if store.pg:
        store.conn.execute(LOCK_ALERTS_SQL, (json.dumps(sorted(set(alert_ids))),))


def _existing(store: Store, alert_ids: Sequence[int]) -> set[int]:
    ids = json.dumps(list(alert_ids))
    rows = store.conn.execute("SELECT id FROM alerts WHERE id IN (SELECT CAST(value AS INTEGER) FROM json_each(?))", (ids,)).fetchall()
    return {r[0] for r in rows}


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")
