"""relief imports and relief undo: the history of imports, and taking one back.

Every import records, in its own transaction, what it changed (Store.begin_change_log): the rows
it updated, ended or reopened as they were before, the alerts it closed and the outcomes it
recorded; the rows it inserted carry its id. Undo puts all of that back in one transaction, and
withdraws (撤回, kept in the outcome history) the open alerts raised only from the import's rows.
It refuses while a later import builds on the import: undo those first, newest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from . import store_history as sql
from .store import Store, os_user, source_table

WITHDRAWN = "撤回"


@dataclass(frozen=True)
class ImportSheet:
    sheet: str
    source: str | None
    label: str
    rows: int
    imported: int
    updated: int
    unchanged: int
    ended: int
    rejected: int


@dataclass(frozen=True)
class ImportRecord:
    id: int
    imported_at: str
    file: str
    path: str
    sheets: list[ImportSheet]
    rows: int
    imported: int
    updated: int
    unchanged: int
    ended: int
    rejected: int
    user: str | None  # None: imported before relief recorded who
    undoable: bool  # its changes were recorded (imports by relief before undo existed were not)
    undone_at: str | None
    undone_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_imports(store: Store) -> list[ImportRecord]:
    labels = {k: v.label for k, v in store.config.sources.items()}
    out = []
    for r in sql.imports(store):
        sheets = [ImportSheet(s["sheet"], s.get("source"), labels.get(s.get("source") or "", s.get("source") or "—"),
                              s.get("rows", 0), s.get("imported", 0), s.get("updated", 0), s.get("unchanged", 0),
                              s.get("ended", 0), s.get("rejected", 0))
                  for s in r["sheets"] if not s.get("skipped_reason")]
        out.append(ImportRecord(r["id"], r["imported_at"], r["file"], r["path"], sheets, r["rows"], r["imported"],
                                r["updated"], r["unchanged"], sum(s.ended for s in sheets), r["rejected"], r["os_user"],
                                bool(r["logged"]), r["undone_at"], r["undone_by"]))
    return out


class UndoRefused(Exception):
    """The import cannot be taken back (Chinese message naming the reason, and the later imports)."""


@dataclass(frozen=True)
class UndoResult:
    import_id: int
    file: str
    removed: dict[str, int] = field(default_factory=dict)  # source label -> rows the import had added
    restored: dict[str, int] = field(default_factory=dict)  # source label -> rows put back as they were
    ended_reversed: int = 0  # entries of a full list that the import had ended (移出)
    withdrawn: list[int] = field(default_factory=list)  # alerts withdrawn (撤回)
    alerts_restored: int = 0  # alerts a returned visit sheet had closed, open again
    outcomes_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def undo_import(store: Store, import_id: int) -> UndoResult:
    """Take one import back in one transaction (audited), or raise UndoRefused saying why."""
    labels = {source_table(k): v.label for k, v in store.config.sources.items()}
    with store.transaction():
        store.lock_imports()
        record = sql.one_import(store, import_id)
        if record is None:
            raise UndoRefused(f"没有编号为 {import_id} 的导入")
        name = f"导入 {import_id}（{record['file']}）"
        if record["undone_at"]:
            raise UndoRefused(f"{name}已于 {record['undone_at']} 撤销")
        if not record["logged"]:
            raise UndoRefused(f"{name}是旧版 relief 导入的，当时没有记录它改动前的数据，无法撤销")
        tables = sql.logged_tables(store, import_id)
        unknown = [t for t in tables if not sql.known_table(store, t)]
        if unknown:
            raise UndoRefused(f"{name}改动过的表 {'、'.join(unknown)} 已不在当前规则文件的数据来源中，无法撤销")
        _refuse_if_built_on(store, record, tables)

        now, user = dt.datetime.now().isoformat(timespec="seconds"), os_user()
        withdrawn = sql.alerts_from_rows_of(store, import_id, record["last_alert"] or 0)
        if withdrawn:
            sql.withdraw_alerts(store, withdrawn, now, user, f"撤销导入 {import_id}",
                                f"依据的记录来自导入 {import_id}（{record['file']}），该导入已撤销", f"撤销导入 {import_id}")
        restored: dict[str, int] = {}
        alerts_restored = outcomes_removed = 0
        for table in tables:
            if table == "outcomes":
                outcomes_removed = sql.remove_outcomes(store, import_id)
            elif table in labels:
                restored[labels[table]] = sql.restore_rows(store, import_id, table)
            else:
                alerts_restored = sql.restore_rows(store, import_id, table)
        removed: dict[str, int] = {}
        for source in _sources(record):
            if source in store.config.sources:
                count = sql.remove_added_rows(store, import_id, source)
                if count:
                    removed[store.config.sources[source].label] = count
        sql.forget_import(store, import_id, now, user)
        result = UndoResult(import_id, record["file"], removed, {k: v for k, v in restored.items() if v},
                            sum(s.get("ended", 0) for s in record["sheets"]), withdrawn, alerts_restored, outcomes_removed)
        store.audit_in_transaction("undo", {"import_id": import_id, "file": record["file"], "removed": removed,
                                            "restored": result.restored, "withdrawn": withdrawn},
                                   sum(removed.values()) + sum(result.restored.values()), False, record["path"])
    return result


def _sources(record: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(s["source"] for s in record["sheets"] if s.get("source") and not s.get("skipped_reason")))


def _refuse_if_built_on(store: Store, record: dict[str, Any], tables: list[str]) -> None:
    """Later imports that changed what this one wrote, later full lists of a source it changed, later
    imports that found rows of a source it wrote unchanged (relief does not record which rows: they may
    be this import's), and outcomes recorded since on alerts it closed."""
    import_id = record["id"]
    labels = {k: v.label for k, v in store.config.sources.items()}
    reasons: dict[int, list[str]] = {}
    for later in sql.imports_touching_later(store, import_id):
        reasons.setdefault(later, []).append("改动了这次导入写入的记录")
    wrote = {s["source"] for s in record["sheets"] if s.get("source") and (s.get("imported") or s.get("updated"))}
    changed = wrote | {s["source"] for s in record["sheets"] if s.get("source") and s.get("ended")}
    changed |= {name for name in store.config.sources if source_table(name) in tables}
    for later, source in sql.later_lists(store, import_id, sorted(changed)):
        reasons.setdefault(later, []).append(f"是「{labels.get(source, source)}」之后的整表")
    for other in sql.imports(store):
        if other["id"] <= import_id or other["undone_at"]:
            continue
        same = sorted({s["source"] for s in other["sheets"] if s.get("source") in wrote and s.get("unchanged")})
        if same:
            reasons.setdefault(other["id"], []).append(
                f"含有与库中相同的「{'」「'.join(labels.get(s, s) for s in same)}」记录（可能正是这次导入写入的）")
    files = {r["id"]: r["file"] for r in sql.imports(store)}
    name = f"导入 {import_id}（{record['file']}）"
    if reasons:
        later = sorted(reasons, reverse=True)
        why = "；".join(f"导入 {n}（{files.get(n, '')}）{'，'.join(dict.fromkeys(reasons[n]))}" for n in sorted(reasons))
        steps = "，再 ".join(f"relief undo {n}" for n in later)
        raise UndoRefused(f"不能撤销{name}：之后的导入依赖它——{why}。请先从最新的开始撤销这些导入：{steps}")
    changed_alerts = sql.alerts_changed_since(store, import_id)
    if changed_alerts:
        raise UndoRefused(f"不能撤销{name}：它办结的预警 {'、'.join(map(str, changed_alerts))} 之后又登记过结果或重新打开过，"
                          f"撤销会抹掉这些记录")
