"""relief status, and the warnings of relief scan: is each source's data there, and recent enough?

Each source has a cadence in rules.yaml (monthly unless told otherwise). A source sent monthly
must, on the as-of date, hold records of the previous month at least (a quarterly one, of three
months before; a yearly one, of twelve). A record source is dated by its latest record (the
settlement date of 医保, the contribution month of 社保 …); a full list by the date of its
latest list, or of its latest import when it was only ever supplemented.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from . import store_records as sql
from .config import CADENCE_MONTHS
from .store import Store

State = Literal["ok", "stale", "missing", "unscheduled"]
STATE_LABELS = {"ok": "正常", "stale": "过期", "missing": "没有数据", "unscheduled": "不定期"}
CADENCE_LABELS = {"monthly": "按月", "quarterly": "按季", "yearly": "按年", "none": "不定期"}
# What a rule loses when one of the sources every scan relies on is absent or old.
CONSEQUENCES = {
    "population": "预警无法按户归集，也无法分派到网格员（进入未分派队列）",
    "grids": "预警无法分派到网格员（进入未分派队列）",
    "assistance": "救助类别都按非低收入人口判断",
}
ROUTING = ("population", "grids")


@dataclass(frozen=True)
class SourceStatus:
    source: str
    label: str
    department: str
    cadence: str
    last_import: int | None
    last_import_at: str | None
    last_file: str | None
    rows: int | None  # rows on file (a full list: its entries on the list on the as-of date); None: not counted
    latest: str | None  # the latest record date (YYYY-MM-DD, or YYYY-MM for monthly records), or the list's date
    dated_by: Literal["record", "list", "import"] | None
    state: State
    note: str  # in Chinese: what is wrong, or empty

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatusReport:
    as_of: dt.date
    sources: list[SourceStatus]

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "sources": [s.as_dict() for s in self.sources]}


def data_status(store: Store, as_of: dt.date, sources: Sequence[str] | None = None, count: bool = True) -> StatusReport:
    """The state of every configured source (or of `sources`) on `as_of`; count=False skips counting rows."""
    store.valid_views(as_of.isoformat())
    imports = sql.last_imports(store)
    recorded = sql.latest_recorded(store)
    lists = sql.latest_lists(store)
    out = []
    for name in sources or store.config.sources:
        spec = store.config.sources[name]
        last = imports.get(name)
        if spec.full_list is not None:
            latest, dated_by = (lists[name], "list") if name in lists else ((last[1][:10], "import") if last else (None, None))
        else:
            value = recorded.get(name)
            latest, dated_by = (_display_date(value), "record") if value else (None, None)
        present = sql.has_rows(store, name)
        state, note = _judge(store, name, as_of, present, latest, dated_by)
        out.append(SourceStatus(name, spec.label, spec.department, spec.cadence, last[0] if last else None,
                                last[1] if last else None, last[2] if last else None,
                                sql.count_rows(store, name) if count else None, latest, dated_by, state, note))
    return StatusReport(as_of, out)


def _judge(store: Store, name: str, as_of: dt.date, present: bool, latest: str | None, dated_by: str | None) -> tuple[State, str]:
    spec = store.config.sources[name]
    label = f"「{spec.label}」"
    if not present:
        if sql.ever_had_rows(store, name):
            return "missing", f"{label}在 {as_of} 没有仍在名单上的记录"
        return "missing", f"{label}没有数据（从未导入）"
    if spec.cadence == "none":
        return "unscheduled", ""
    needed = months_before(as_of, CADENCE_MONTHS[spec.cadence])
    if latest is None:
        return "ok", ""  # rows, but no date to judge them by (a source without a date field)
    if latest[:7] >= needed:
        return "ok", ""
    cadence = CADENCE_LABELS[spec.cadence]
    if dated_by == "record":
        return "stale", f"{label}的数据只到 {latest[:7]}（{cadence}报送，应已有 {needed} 的数据）"
    what = "名单" if dated_by == "list" else "导入"
    return "stale", f"{label}最近一次{what}是 {latest}（{cadence}报送，应已有 {needed} 或更晚的{what}）"


def months_before(day: dt.date, months: int) -> str:
    """The month (YYYY-MM) `months` before the month of `day`."""
    index = day.year * 12 + day.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _display_date(value: str) -> str:
    """A period (YYYYMM) as YYYY-MM; a date as it is."""
    return f"{value[:4]}-{value[4:6]}" if re.fullmatch(r"\d{6}", value) else value


@dataclass(frozen=True)
class RuleWarning:
    rule: str
    name: str
    sources: list[str]  # the missing or stale sources it reads
    problems: list[str]  # what is wrong with each, in Chinese

    @property
    def text(self) -> str:
        return f"规则 {self.rule}（{self.name}）：{'；'.join(self.problems)}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


def consequences(warnings: Sequence[RuleWarning], settings: Any) -> list[str]:
    """What the missing or stale sources that every scan relies on mean for all alerts (said once)."""
    affected = dict.fromkeys(s for w in warnings for s in w.sources if s in CONSEQUENCES)
    return [f"「{settings.sources[s].label}」缺失或过期时，{CONSEQUENCES[s]}" for s in affected]


def rule_sources(rule: Any, settings: Any) -> list[str]:
    """The sources a rule reads: its own (source / sources), the roster when its thresholds or filters
    depend on the assistance category, what household kinds look at, the tables a sql rule names, and
    the population and grid tables through which every alert is routed."""
    found: list[str] = []
    for attr in ("source", "sources"):
        value = getattr(rule, attr, None)
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, str))
    if getattr(rule, "thresholds", None) or getattr(rule, "categories", None):
        found.append("assistance")
    if rule.kind == "household_all":
        found.extend(("assistance", "disability", "deaths"))
    if rule.kind == "sql":
        found.extend(s for s in settings.sources if re.search(rf"\b(src_{s}|_valid_{s}|{s}_yuan)\b", rule.query))
    found.extend(ROUTING)
    return [s for s in dict.fromkeys(found) if s in settings.sources]


def rule_warnings(store: Store, as_of: dt.date, rules: Sequence[Any]) -> list[RuleWarning]:
    """Per enabled rule, the sources it reads that are missing or stale on `as_of`."""
    reads = {r.id: rule_sources(r, store.config.settings) for r in rules if r.enabled}
    needed = list(dict.fromkeys(s for sources in reads.values() for s in sources))
    if not needed:
        return []
    states = {s.source: s for s in data_status(store, as_of, needed, count=False).sources}
    out = []
    for rule in rules:
        if rule.enabled:
            bad = [s for s in reads[rule.id] if states[s].state in ("missing", "stale")]
            if bad:
                out.append(RuleWarning(rule.id, rule.name, bad, [states[s].note for s in bad]))
    return out
