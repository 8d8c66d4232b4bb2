"""relief checklist: 三必访 / 五问 visit lists, one per grid of a community.

Three reasons put a household on the list: an application still being processed
(新申请), a recent dynamic adjustment (动态调整) and an open alert (突发困难). A
household with several reasons appears once, with every reason.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from .privacy import Masker
from .store import Store, read_table
from .values import age_on
from .workdays import ensure_calendar, workdays_after
from .workdays import WorkCalendar

NEW_APPLICATION, ADJUSTMENT, HARDSHIP = "新申请", "动态调整", "突发困难"
KIND_ORDER = {HARDSHIP: 0, NEW_APPLICATION: 1, ADJUSTMENT: 2}
NO_GRID = "（未划分网格）"
OVERDUE, DUE_SOON = "已超期", "即将到期"


class CommunityNotFound(Exception):
    """The name matches no community, or several; the message lists the candidates."""


@dataclass
class Reason:
    kind: str
    detail: str
    alert_id: int | None = None
    rule: str | None = None


@dataclass
class Question:
    id: str
    title: str
    prompt: str


@dataclass
class Member:
    name: str | None
    relation: str | None
    id_no: str | None
    category: str | None  # the member's own active roster row; never inherited from the household
    age: int | None
    disability: str | None
    died_on: str | None = None


@dataclass
class Household:
    hukou_no: str
    head_name: str | None
    address: str | None
    category: str
    due_on: str | None
    reasons: list[Reason] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    phone: str | None = None
    members: list[Member] = field(default_factory=list)
    # OVERDUE when the due date has passed, DUE_SOON when it is within checklist.due_soon_working_days
    urgency: str | None = None


@dataclass
class GridList:
    grid: str
    worker: str | None
    worker_phone: str | None
    households: list[Household] = field(default_factory=list)


@dataclass
class Checklist:
    community: str
    as_of: str
    grids: list[GridList]
    questions: list[Question]
    district: str | None = None
    town: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def community_names(store: Store, with_population: bool) -> list[str]:
    sql = "SELECT community FROM src_grids"
    if with_population:
        sql += " UNION SELECT community FROM src_population WHERE community IS NOT NULL"
    return [r[0] for r in store.conn.execute(sql + " ORDER BY 1")]


def resolve_community(store: Store, given: str) -> str:
    """A part of the name is enough; several matches or none are errors that list names.

    The grid table names every community with a grid worker; the population (1.4 M rows
    in a city) is only searched when the grid table does not settle the name.
    """
    names = community_names(store, with_population=False)
    matches = [n for n in names if given in n]
    if given not in names and len(matches) != 1:
        names = community_names(store, with_population=True)
        matches = [n for n in names if given in n]
    if given in names:
        return given
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommunityNotFound(f"「{given}」匹配到多个社区（村）：{'、'.join(matches)}，请写得更完整")
    close = difflib.get_close_matches(given, names, n=5, cutoff=0.3)
    hint = f"，最接近的有：{'、'.join(close)}" if close else "（数据库中还没有社区数据，请先导入户籍人口和网格）" if not names else ""
    raise CommunityNotFound(f"找不到社区（村）「{given}」{hint}")


HOUSEHOLD_SQL = """
WITH members AS (SELECT * FROM {population} WHERE community = :community),
heads AS (
    SELECT hukou_no, name, address, grid FROM (
        SELECT hukou_no, name, address, grid,
               ROW_NUMBER() OVER (PARTITION BY hukou_no ORDER BY (relation = '户主') DESC, _id) AS n
        FROM members)
    WHERE n = 1
),
roster AS (
    SELECT m.hukou_no, MIN(c.rank) AS rank
    FROM members m JOIN {assistance} a ON a.id_no = m.id_no
    JOIN _cat c ON c.name = a.category
    WHERE (a.status IS NULL OR a.status NOT IN (SELECT value FROM json_each(:inactive)))
    GROUP BY m.hukou_no
),
reasons AS (
    SELECT m.hukou_no, :new_application AS kind,
           ap.apply_date || ' 申请' || ap.category || '，办理状态：' || COALESCE(ap.status, '未填') AS detail,
           CAST(NULL AS INTEGER) AS alert_id, NULL AS rule, ap.apply_date AS since, NULL AS due_on
    FROM {applications} ap JOIN members m ON m.id_no = ap.id_no
    WHERE ap.apply_date <= :as_of
      AND COALESCE(ap.status, '') NOT IN (SELECT value FROM json_each(:done))
    UNION ALL
    SELECT m.hukou_no, :adjustment, ad.adjust_date || ' 动态调整：' || ad.adjust_type
           || COALESCE('（' || ad.reason || '）', ''), NULL, NULL, ad.adjust_date, NULL
    FROM {adjustments} ad JOIN members m ON m.id_no = ad.id_no
    WHERE ad.adjust_date <= :as_of AND ad.adjust_date >= date(:as_of, :adjust_window)
    UNION ALL
    SELECT a.hukou_no, :hardship, a.rule_name || '：' || a.evidence, a.id, a.rule_id, a.raised_on, a.due_on
    FROM alerts a
    WHERE a.status = 'open' AND a.community = :community AND a.hukou_no IS NOT NULL AND a.raised_on <= :as_of
)
SELECT r.hukou_no, COALESCE(h.grid, a_grid.grid) AS grid, h.name, h.address,
       COALESCE(c.name, :default_category) AS category,
       r.kind, r.detail, r.alert_id, r.rule, r.since, r.due_on
FROM reasons r
LEFT JOIN heads h ON h.hukou_no = r.hukou_no
LEFT JOIN (SELECT id, grid FROM alerts) a_grid ON a_grid.id = r.alert_id
LEFT JOIN roster ro ON ro.hukou_no = r.hukou_no
LEFT JOIN _cat c ON c.rank = ro.rank
ORDER BY r.hukou_no
"""


MEMBERS_SQL = """
WITH listed AS (SELECT value AS hukou_no FROM json_each(:households)),
members AS (
    SELECT p.hukou_no, p.id_no, p.name, p.relation, p.phone, p._id
    FROM {population} p JOIN listed l ON l.hukou_no = p.hukou_no
),
own AS (
    SELECT a.id_no, MIN(c.rank) AS rank
    FROM {assistance} a JOIN _cat c ON c.name = a.category
    WHERE a.id_no IN (SELECT id_no FROM members)
      AND (a.status IS NULL OR a.status NOT IN (SELECT value FROM json_each(:inactive)))
    GROUP BY a.id_no
),
disabled AS (
    SELECT id_no, disability_type, grade FROM (
        SELECT id_no, disability_type, grade,
               ROW_NUMBER() OVER (PARTITION BY id_no ORDER BY issue_date DESC, _id DESC) AS n
        FROM {disability} WHERE id_no IN (SELECT id_no FROM members))
    WHERE n = 1
),
died AS (
    SELECT id_no, MIN(death_date) AS death_date FROM {deaths}
    WHERE id_no IN (SELECT id_no FROM members) AND death_date <= :as_of GROUP BY id_no
)
SELECT m.hukou_no, m.name, m.relation, m.id_no, m.phone, c.name, d.disability_type, d.grade, x.death_date
FROM members m
LEFT JOIN own o ON o.id_no = m.id_no LEFT JOIN _cat c ON c.rank = o.rank
LEFT JOIN disabled d ON d.id_no = m.id_no
LEFT JOIN died x ON x.id_no = m.id_no
ORDER BY m.hukou_no, (m.relation = '户主') DESC, m._id
"""


def build_checklist(
    store: Store, community: str, as_of: dt.date, *, grid: str | None = None, masker: Masker = Masker()
) -> Checklist:
    settings = store.config.settings
    name = resolve_community(store, community)
    conn = store.conn
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS _cat (name TEXT PRIMARY KEY, rank INTEGER)")
    conn.execute("DELETE FROM _cat")
    conn.executemany("INSERT INTO _cat VALUES (?, ?)", [(c.name, i) for i, c in enumerate(settings.categories)])
    store.valid_views(as_of.isoformat())  # the lists as they stood on the checklist's date
    tables = {s: read_table(store.config, s)
              for s in ("population", "assistance", "applications", "adjustments", "disability", "deaths")}
    rows = conn.execute(
        HOUSEHOLD_SQL.format(**tables),
        {
            "community": name, "as_of": as_of.isoformat(),
            "inactive": json.dumps(list(settings.inactive_statuses), ensure_ascii=False),
            "done": json.dumps(list(settings.checklist.application_done_statuses), ensure_ascii=False),
            "adjust_window": f"-{settings.checklist.recent_adjustment_days - 1} days",
            "new_application": NEW_APPLICATION, "adjustment": ADJUSTMENT, "hardship": HARDSHIP,
            "default_category": settings.default_category,
        },
    ).fetchall()
    ensure_calendar(store, as_of)
    grids: dict[str, GridList] = {}
    district = town = None
    for g, worker, phone, district, town in conn.execute(
        f"SELECT grid, worker, worker_phone, district, town FROM {read_table(store.config, 'grids')} "
        "WHERE community = ? ORDER BY grid", (name,)
    ):
        grids[g] = GridList(g, worker, masker.phone(phone))
    households: dict[str, Household] = {}
    for hukou, g, head, address, category, kind, detail, alert_id, rule, since, due_on in rows:
        g = g or NO_GRID
        if g not in grids:
            grids[g] = GridList(g, None, None)
        hh = households.get(hukou)
        if hh is None:
            hh = households[hukou] = Household(hukou, head, address, category, None)
            grids[g].households.append(hh)
        hh.reasons.append(Reason(kind, detail, alert_id, rule))
        # An alert carries its own due date; other reasons are due N working days after their date.
        due = due_on or workdays_after(store, since, settings.visit_working_days) or (
            # older than the calendar table (an application left pending for years)
            WorkCalendar.from_settings(settings.calendar)
            .add_workdays(dt.date.fromisoformat(since), settings.visit_working_days).isoformat()
        )
        hh.due_on = min(hh.due_on or due, due)
    for hh in households.values():
        hh.reasons.sort(key=lambda r: (KIND_ORDER[r.kind], r.alert_id or 0))
        hh.questions = tailored_questions(store, {r.rule for r in hh.reasons if r.rule})
    _add_members(store, households, tables, as_of, masker)
    _mark_urgency(store, households.values(), as_of)
    result = [gl for gl in grids.values() if grid is None or grid in gl.grid]
    if not result and grid is not None:
        raise CommunityNotFound(f"{name}没有名称含「{grid}」的网格，该社区的网格有：{'、'.join(grids) or '（无）'}")
    for gl in result:
        gl.households.sort(key=lambda h: (h.due_on or "", h.hukou_no))
    return Checklist(name, as_of.isoformat(), result, tailored_questions(store, set()), district, town)


def _add_members(store: Store, households: dict[str, Household], tables: dict[str, str], as_of: dt.date,
                 masker: Masker) -> None:
    """Each listed household's members (the head first), and the household's phone: the head's,
    else the first member's that has one. Names stay readable (a grid worker asks for the person);
    ID numbers and phones are masked unless --show-pii."""
    settings = store.config.settings
    rows = store.conn.execute(MEMBERS_SQL.format(**tables), {
        "households": json.dumps(list(households), ensure_ascii=False), "as_of": as_of.isoformat(),
        "inactive": json.dumps(list(settings.inactive_statuses), ensure_ascii=False),
    })
    for hukou, name, relation, id_no, phone, category, dis_type, grade, died_on in rows:
        hh = households[hukou]
        if hh.phone is None and phone:
            hh.phone = masker.phone(phone)
        disability = "".join(filter(None, (dis_type, _grade(grade)))) or None
        hh.members.append(Member(name, relation, masker.id_no(id_no), category, age_on(id_no, as_of), disability, died_on))


def _grade(grade: Any) -> str | None:
    """Disability grades are numbers 1–4 in the federation's exports: 二级, as on the certificate."""
    if grade is None or grade == "":
        return None
    if isinstance(grade, int) and 1 <= grade <= 4:
        return "一二三四"[grade - 1] + "级"
    return str(grade)


def _mark_urgency(store: Store, households: Any, as_of: dt.date) -> None:
    """已超期: the due date has passed; 即将到期: due within checklist.due_soon_working_days working days."""
    soon = store.config.settings.checklist.due_soon_working_days
    limit = workdays_after(store, as_of.isoformat(), soon) or as_of.isoformat()
    for hh in households:
        if hh.due_on and hh.due_on < as_of.isoformat():
            hh.urgency = OVERDUE
        elif hh.due_on and hh.due_on <= limit:
            hh.urgency = DUE_SOON


def tailored_questions(store: Store, rules: set[str]) -> list[Question]:
    """The five questions; where a reason's rule has a tailored prompt, that prompt is used."""
    out = []
    for q in store.config.settings.checklist.questions:
        prompts = [q.tailored[r] for r in sorted(rules) if r in q.tailored]
        out.append(Question(q.id, q.title, " ".join(prompts) if prompts else q.prompt))
    return out


def pick_area(store: Store, column: str, given: str | None) -> str | None:
    """A district or town named in part, as communities are; None when not given."""
    if given is None:
        return None
    names = [r[0] for r in store.conn.execute(
        f"SELECT DISTINCT {column} FROM {read_table(store.config, 'grids')} WHERE {column} IS NOT NULL ORDER BY 1")]
    if given in names:
        return given
    matches = [n for n in names if given in n]
    if len(matches) == 1:
        return matches[0]
    label = {"district": "区县", "town": "乡镇（街道）"}[column]
    if matches:
        raise CommunityNotFound(f"「{given}」匹配到多个{label}：{'、'.join(matches)}，请写得更完整")
    raise CommunityNotFound(f"找不到{label}「{given}」，网格数据中的{label}有：{'、'.join(names) or '（无）'}")


def all_checklists(store: Store, as_of: dt.date, *, district: str | None = None, town: str | None = None,
                   masker: Masker = Masker()) -> Iterator[Checklist]:
    """The checklist of every community with grids (in the district or town if given), one at a time."""
    store.valid_views(as_of.isoformat())
    district, town = pick_area(store, "district", district), pick_area(store, "town", town)
    communities = [r[0] for r in store.conn.execute(
        f"SELECT community FROM {read_table(store.config, 'grids')} "
        "WHERE (:district IS NULL OR district = :district) AND (:town IS NULL OR town = :town) "
        "AND community IS NOT NULL GROUP BY community ORDER BY MIN(district), MIN(town), community",
        {"district": district, "town": town})]
    if not communities:
        raise CommunityNotFound(f"{district or ''}{town or ''}没有划分网格的社区（村）")
    for name in communities:
        yield build_checklist(store, name, as_of, masker=masker)
